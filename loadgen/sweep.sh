#!/usr/bin/env bash
# The concurrency sweep of docs/benchmarks.md ("Token service: the
# concurrency curve"): authz serve alone on core 0, `authz bench` alone on
# core 1, client credentials at each level, with the server's audit commits,
# events per commit, time per commit, CPU per token and RSS read from its
# /metrics around each level. Run from the repository root.
#
#   loadgen/sweep.sh BACKEND LEVELS SECONDS [SERVER_BINARY] [PROFILE_DIR]
#   loadgen/sweep.sh sqlite 1,8,32,128 10
#   loadgen/sweep.sh postgres 1,8,32,128 10 /tmp/authz-old   # the same, an older server
#   loadgen/sweep.sh sqlite 1,2,8,32,128 10 "" /tmp/prof     # with a CPU profile per level
#
# SERVER_BINARY is the `authz` that serves (default: built from this tree);
# the load generator is always this tree's. PROFILE_DIR needs a server with
# --pprof: a 5 s CPU profile is taken in the middle of each level.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${1:-sqlite} LEVELS=${2:-1,8,32,128} SECS=${3:-10} SERVER_BIN=${4:-} PROF=${5:-}
B=${BENCH_DIR:-/tmp/authz-sweep}; mkdir -p "$B"
go build -o "$B/authz" ./cmd/authz
SERVER_BIN=${SERVER_BIN:-$B/authz}
export XDG_CACHE_HOME="$B/cache" AUTHZ_MASTER_KEY="$(openssl rand -hex 32)"
PORT=${BENCH_PORT:-38180}
ISSUER=http://127.0.0.1:$PORT METRICS=http://127.0.0.1:$((PORT + 2))
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
SERVE_ARGS=() DB_PREFIX=authz_sweep
[ -n "$PROF" ] && SERVE_ARGS=(--pprof) && mkdir -p "$PROF"

. loadgen/serve.sh
bench() { taskset -c 1 "$B/authz" bench --issuer "$ISSUER" --metrics "$METRICS/metrics" "$@"; }

echo "== $BACKEND, server $SERVER_BIN ($("$SERVER_BIN" version 2>/dev/null | head -1)), $(uptime)"
bench --concurrency 32 --duration 3s >/dev/null # warm-up
if [ -z "$PROF" ]; then
  bench --concurrency "$LEVELS" --duration "${SECS}s"
else
  for c in ${LEVELS//,/ }; do
    (sleep $((SECS / 2 - 2)); curl -s -o "$PROF/$BACKEND-c$c.pprof" "$METRICS/debug/pprof/profile?seconds=5") &
    PROFILER=$!
    bench --concurrency "$c" --duration "${SECS}s"
    wait "$PROFILER"
  done
fi
echo "server RSS after: $(ps -o rss= -p "$SERVER") KiB; $(uptime)"
