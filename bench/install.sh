#!/bin/sh
# Installs what bench/run.ts drives besides Node.js: HAProxy and nginx (the
# reference proxies, nginx also serves the upstream replicas), wrk (HTTP/1.1
# load) and h2load from nghttp2-client (h2c load). Debian/Ubuntu, as root.
# taskset comes with util-linux, present on every Debian system.
set -eu
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y haproxy nginx wrk nghttp2-client
# The packages enable their system services; the benchmark never uses them
# (it starts its own processes with their own configs in a temporary directory).
for tool in haproxy nginx wrk h2load taskset; do command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }; done
echo "bench prerequisites installed: run \`npm run bench\` (or QUICK=1 npm run bench)"
