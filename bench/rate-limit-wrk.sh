#!/usr/bin/env bash
# ringside's CPU per request under wrk (HTTP/1.1, 10 connections, 5 s) with no
# rate limit, a local one, and a global one through a real redis-server, each
# against one nginx upstream on loopback: the whole request path, not just the
# check (bench/rate-limit.ts measures that). Starts its own nginx, redis-server
# and ringside processes on free ports and stops them by PID.
# Rounds (ROUNDS, default 3) run the variants in a rotated order, and the table
# shows each variant's median, so a machine that drifts or is busy for a while
# does not favour one variant.
# Run: bash bench/rate-limit-wrk.sh   (~50 s per round; needs wrk, nginx, redis-server)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
pids=()
# TERM, not KILL: nginx's master then stops its worker too (a killed master leaves it behind).
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
# The pinned Node 24 binary itself (npx node would put a wrapper process between us and it).
NODE=$(npx node -p process.execPath)
free_port() { npx node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

up=$(free_port)
mkdir -p "$work/nginx/logs"
cat > "$work/nginx.conf" <<CONF
daemon off; worker_processes 1; error_log $work/nginx/error.log; pid $work/nginx/nginx.pid;
events { worker_connections 1024; }
http { access_log off; server { listen 127.0.0.1:$up; location / { return 200 'ok'; } } }
CONF
nginx -c "$work/nginx.conf" -p "$work/nginx" & pids+=($!)
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >/dev/null & pids+=($!)
sleep 1

run() { # label, ringside args...
  local label=$1; shift
  local log="$work/ringside.log"
  "$NODE" cmd/ringside.ts --listen 127.0.0.1:0 --admin 127.0.0.1:0 --upstream "static:127.0.0.1:$up" --log-level info "$@" > "$log" 2>&1 & local rs=$!
  pids+=($rs)
  local port=""
  for _ in $(seq 300); do port=$(grep -o '"msg":"listening".*"address":"127.0.0.1:[0-9]*"' "$log" | grep -o '[0-9]*"$' | tr -d '"' || true); [ -n "$port" ] && break; sleep 0.1; done
  local node_pid=$rs
  wrk -t1 -c10 -d2s "http://127.0.0.1:$port/" > /dev/null # warm-up
  local t0; t0=$(awk '{print $14+$15}' "/proc/$node_pid/stat")
  local out; out=$(wrk -t1 -c10 -d5s "http://127.0.0.1:$port/")
  local t1; t1=$(awk '{print $14+$15}' "/proc/$node_pid/stat")
  local reqs; reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  local non2xx; non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}'); non2xx=${non2xx:-0}
  local ticks; ticks=$(getconf CLK_TCK)
  printf '%s\t%s\t%s\t%.1f\n' "$label" "$((reqs / 5))" "$non2xx" "$(echo "($t1 - $t0) / $ticks * 1000000 / $reqs" | bc -l)" >> "$work/results.tsv"
  kill "$rs" 2>/dev/null || true; wait "$rs" 2>/dev/null || true
}

labels=('none' 'local, 1000000/s (all admitted)' 'global via Redis, 1000000/s (all admitted)' 'global via Redis, 20000/s (a lease per 2000 admitted)' 'global via Redis, 1000/s (most refused)' 'local, 1000/s (most refused)')
args=('' '--rate-limit 1000000/s' "--rate-limit 1000000/s --rate-limit-redis 127.0.0.1:$rport" "--rate-limit 20000/s --rate-limit-redis 127.0.0.1:$rport" "--rate-limit 1000/s --rate-limit-redis 127.0.0.1:$rport" '--rate-limit 1000/s')
n=${#labels[@]}
for ((round = 0; round < ${ROUNDS:-3}; round++)); do
  for ((k = 0; k < n; k++)); do
    i=$(((k + round) % n))
    # shellcheck disable=SC2086 # the arguments are meant to split
    run "${labels[$i]}" ${args[$i]}
  done
done
echo "| limiter | req/s | 429/s | ringside CPU µs/request, median (min-max) of ${ROUNDS:-3} rounds |"
echo '|---|--:|--:|--:|'
for label in "${labels[@]}"; do
  awk -F'\t' -v l="$label" '$1 == l { n++; r[n] = $2; x[n] = $3; c[n] = $4 }
    END {
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) { if (c[j] < c[i]) { t = c[i]; c[i] = c[j]; c[j] = t } if (r[j] < r[i]) { t = r[i]; r[i] = r[j]; r[j] = t } if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t } }
      m = int((n + 1) / 2)
      printf "| %s | %d | %d | %.1f (%.1f-%.1f) |\n", l, r[m], x[m] / 5, c[m], c[1], c[n]
    }' "$work/results.tsv"
done
