#!/usr/bin/env bash
# The memory curve of docs/benchmarks.md ("RSS after a million tokens"):
# authz serve alone on core 0, `authz bench` alone on core 1, client
# credentials at one concurrency in steps of STEP requests up to TOTAL,
# printing after each step the server's RSS, Go heap in use, heap
# released/idle, goroutines and the GC's figures from its /metrics. With
# PROFILE_DIR (needs --pprof, which this script always passes) a heap and
# goroutine profile is written after the last step. Run from the repository root.
#
#   loadgen/rss.sh BACKEND TOTAL STEP CONCURRENCY [SERVER_BINARY] [PROFILE_DIR]
#   loadgen/rss.sh sqlite 1000000 100000 32
#   loadgen/rss.sh sqlite 1000000 100000 32 /tmp/authz-old      # an older server
#
# SERVER_ENV (e.g. "GOMEMLIMIT=off") is added to the server's environment.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${1:-sqlite} TOTAL=${2:-1000000} STEP=${3:-100000} CONC=${4:-32} SERVER_BIN=${5:-} PROF=${6:-}
B=${BENCH_DIR:-/tmp/authz-rss}; mkdir -p "$B"
go build -o "$B/authz" ./cmd/authz
SERVER_BIN=${SERVER_BIN:-$B/authz}
export XDG_CACHE_HOME="$B/cache" AUTHZ_MASTER_KEY="$(openssl rand -hex 32)"
PORT=${BENCH_PORT:-38280}
ISSUER=http://127.0.0.1:$PORT METRICS=http://127.0.0.1:$((PORT + 2))
PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}

SERVE_ARGS=(--pprof) DB_PREFIX=authz_rss
. loadgen/serve.sh
metric() { curl -s "$METRICS/metrics" | awk -v m="$1" '$1 == m { printf "%.1f", $2 / 1048576 }'; }
count() { curl -s "$METRICS/metrics" | awk -v m="$1" '$1 == m { printf "%d", $2 }'; }

echo "== $BACKEND, c=$CONC, server $SERVER_BIN ${SERVER_ENV:-}, $(uptime)"
echo "tokens	tokens/s	RSS_MiB	heap_inuse_MiB	heap_idle_MiB	heap_released_MiB	stack_MiB	sys_MiB	goroutines	gc_cycles	cpu_s"
echo "0	-	$(metric process_resident_memory_bytes)	$(metric go_memstats_heap_inuse_bytes)	$(metric go_memstats_heap_idle_bytes)	$(metric go_memstats_heap_released_bytes)	$(metric go_memstats_stack_inuse_bytes)	$(metric go_memstats_sys_bytes)	$(count go_goroutines)	$(count go_gc_duration_seconds_count)	-"
done_=0
while [ "$done_" -lt "$TOTAL" ]; do
  rps=$(taskset -c 1 "$B/authz" bench --issuer "$ISSUER" --concurrency "$CONC" --requests "$STEP" --duration 0 -o json | jq -r '.requests_per_second // .[0].requests_per_second // empty' 2>/dev/null || true)
  done_=$((done_ + STEP))
  cpu=$(curl -s "$METRICS/metrics" | awk '$1 == "process_cpu_seconds_total" { printf "%.1f", $2 }')
  echo "$done_	${rps%.*}	$(metric process_resident_memory_bytes)	$(metric go_memstats_heap_inuse_bytes)	$(metric go_memstats_heap_idle_bytes)	$(metric go_memstats_heap_released_bytes)	$(metric go_memstats_stack_inuse_bytes)	$(metric go_memstats_sys_bytes)	$(count go_goroutines)	$(count go_gc_duration_seconds_count)	$cpu"
done
if [ -n "$PROF" ]; then
  mkdir -p "$PROF"
  curl -s -o "$PROF/$BACKEND-heap.pprof" "$METRICS/debug/pprof/heap"
  curl -s -o "$PROF/$BACKEND-goroutine.txt" "$METRICS/debug/pprof/goroutine?debug=1"
fi
echo "$(uptime)"
