# syntax=docker/dockerfile:1
# The ringside sidecar image: Node.js runs the JavaScript that `npm run build`
# emits from the TypeScript sources (no type stripping at run time: it costs
# ~29 MiB of RSS, deploy/README.md "Sizing"), with production dependencies
# only, as a non-root user, on a read-only root filesystem.
# Build: docker build -t REGISTRY/ringside:0.1.0 .
# test/dockerfile.test.ts checks the properties this file promises;
# test/dist-build.test.ts builds and runs what the build stage produces.

# Every stage uses the Node.js release pinned by the `node` devDependency in
# package-lock.json (24.21.0), so the image runs what the tests ran on. Slim
# rather than distroless: the classic (pre-1.29) sidecar's preStop hook runs
# `sleep` (deploy/example/classic/client.yaml).
FROM node:24.21.0-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev leaves out the test tooling and the `node` devDependency (a second
# Node.js binary); --ignore-scripts because no production dependency needs an
# install script. https://docs.npmjs.com/cli/commands/npm-ci
RUN --mount=type=cache,target=/root/.npm \
    npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# The compiler: every dependency (TypeScript and the type packages it checks
# against), used only here. --ignore-scripts leaves the `node` devDependency
# without its binary, so its dangling link is removed and the npm script runs
# the image's own node. `npm run build` (package.json) writes dist/: one .js
# per module with relative imports rewritten to .js, and dist/package.json
# (the version --version prints, and "type": "module").
FROM node:24.21.0-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm \
    npm ci --ignore-scripts --no-audit --no-fund && rm -f node_modules/.bin/node
COPY tsconfig.json ./
COPY lib ./lib
COPY cmd/ringside.ts ./cmd/ringside.ts
RUN npm run build

FROM node:24.21.0-bookworm-slim AS runtime
LABEL org.opencontainers.image.title="ringside" \
      org.opencontainers.image.description="Sidecar egress proxy: balances every HTTP/1.1 request and HTTP/2 (gRPC) stream over a headless Service, with consistent ring hashing." \
      org.opencontainers.image.licenses="Apache-2.0"
WORKDIR /app
# The C allocator: one arena for all threads (V8's compiler and GC helper
# threads otherwise each keep an arena of their own, ~1.5 MiB resident apiece
# under load) and free memory returned to the system sooner. Measured together:
# 3-4 MiB less peak RSS under the benchmark's HTTP/1.1 load (86 -> 83 MiB,
# bench/memory.ts), CPU within the noise. bench/contenders.ts runs ringside with
# these variables too.
# NODE_OPTIONS=--max-old-space-size=512: V8 lets the old generation grow by a
# factor of up to 4 between mark-compacts when its limit is the machine's
# default (GBs), only ~1.3-1.4 under 512 MiB. Under h2c load ~1.5 KB of every
# request is promoted and dies in the old generation (bench/allocations.ts with
# minor-GC garbage left out), so with the default the old generation swung
# between ~8.5 MiB live and ~42 MiB: peak RSS 122 -> 85 MiB, CPU per request
# and HTTP/1.1 unchanged (bench/memory.ts, MEM_PROTOCOL=h2c; bench/README.md).
# In NODE_OPTIONS, not the ENTRYPOINT, so a pod's NODE_OPTIONS (the manifests
# set 96) replaces it rather than being overridden by it.
ENV NODE_ENV=production \
    RINGSIDE_LISTEN=127.0.0.1:15001 \
    RINGSIDE_ADMIN=0.0.0.0:15090 \
    MALLOC_ARENA_MAX=1 \
    GLIBC_TUNABLES=glibc.malloc.trim_threshold=65536:glibc.malloc.top_pad=0 \
    NODE_OPTIONS=--max-old-space-size=512
# Files stay owned by root and read-only to the process: ringside writes
# nothing, so the pod can mount the root filesystem read-only.
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# 65532 is the conventional "nonroot" id of distroless images; a number (not a
# name) lets the kubelet verify runAsNonRoot without reading /etc/passwd.
USER 65532:65532
# 15001: the application's requests (loopback only by default: the pod shares
# its network namespace). 15090: /metrics, /healthz, /readyz, /status.
EXPOSE 15001 15090
STOPSIGNAL SIGTERM
# Exec form, no npm and no shell in between: node is PID 1 and receives SIGTERM
# itself, which starts ringside's drain. V8 flags, each measured under the
# benchmark's HTTP/1.1 load (bench/memory.ts, deploy/README.md "Sizing"):
#   --max-semi-space-size=1  young generation at 1 MiB per semi-space (default
#                            up to 16): 12 MiB less peak RSS, ~0.3 µs more GC
#                            per request
#   --no-concurrent-recompilation  Maglev and TurboFan compile hot functions on
#                            the main thread, not on helper threads: their
#                            compiler zones (malloc'd, several MiB while the
#                            hot path warms up) no longer interleave with the
#                            main thread's allocations in the one malloc arena,
#                            so they are returned when freed. Peak RSS under
#                            h2c load 84.0 -> 78.4 MiB, gRPC 89.9 -> 84.6,
#                            HTTP/1.1 81.7 -> 79.5; CPU per request no worse
#                            (bench/memory.ts, 2026-12-06, bench/README.md).
#                            On a one-CPU pod the helper threads only took
#                            turns with the main thread anyway.
# Not used: --memory-saver-mode --no-maglev took the HTTP/1.1 peak under
# 79 MiB, but in the full benchmark h2c cost 4.6-4.9x HAProxy's CPU per request
# instead of 2.1-2.7x and the HTTP/1.1 p99 rose to 2.0x (2026-12-04,
# bench/README.md "Results").
# A flag here wins over the same flag in NODE_OPTIONS. bench/contenders.ts
# runs ringside with exactly these flags.
ENTRYPOINT ["node", "--max-semi-space-size=1", "--no-concurrent-recompilation", "dist/cmd/ringside.js"]
