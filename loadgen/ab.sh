#!/usr/bin/env bash
# Paired throughput of two servers (two binaries, or one binary under two
# environments): both are started on core 0 and kept up, and `authz bench`
# on core 1 drives them in turn, A then B, for ROUNDS rounds at each level,
# so that whatever else the machine does falls on both alike. Prints every
# run and, per level, the median of B/A for tokens/s and for the server's
# CPU per token (from /metrics). Run from the repository root.
#
#   loadgen/ab.sh BACKEND LEVELS SECONDS ROUNDS A_BINARY B_BINARY
#   loadgen/ab.sh sqlite 1,8,32,128 3 5 /tmp/authz-old /tmp/authz-new
#   A_ENV=GOGC=100 B_ENV=GOGC=400 loadgen/ab.sh sqlite 8,32 3 5 /tmp/authz /tmp/authz
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${1:-sqlite} LEVELS=${2:-1,8,32,128} SECS=${3:-3} ROUNDS=${4:-5} A_BIN=$5 B_BIN=$6
B=${BENCH_DIR:-/tmp/authz-ab}; mkdir -p "$B"
go build -o "$B/authz" ./cmd/authz
PORT_A=${BENCH_PORT:-38580} PORT_B=$((${BENCH_PORT:-38580} + 10))

# hold NAME PORT BINARY ENV: one server through serve.sh, in a subshell
# that writes its client's credentials and then waits for the server.
hold() {
  (
    BENCH_DIR=$B/$1 PORT=$2 SERVER_BIN=$3 SERVER_ENV=$4
    B=$BENCH_DIR; mkdir -p "$B"
    export XDG_CACHE_HOME="$B/cache" AUTHZ_MASTER_KEY="$(openssl rand -hex 32)"
    ISSUER=http://127.0.0.1:$PORT PG=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
    SERVE_ARGS=() DB_PREFIX=authz_ab_${1,,} # lower case: CREATE DATABASE folds it
    cp "$(dirname "$B")/authz" "$B/authz"
    . loadgen/serve.sh
    echo "$AUTHZ_CLIENT_ID $AUTHZ_CLIENT_SECRET" >"$B/creds"
    wait "$SERVER" || true
  ) &
}
rm -f "$B"/A/creds "$B"/B/creds
hold A "$PORT_A" "$A_BIN" "${A_ENV:-}"; HA=$!
hold B "$PORT_B" "$B_BIN" "${B_ENV:-}"; HB=$!
trap 'kill -TERM $HA $HB 2>/dev/null; pkill -TERM -P $HA 2>/dev/null; pkill -TERM -P $HB 2>/dev/null; wait 2>/dev/null || true' EXIT
until [ -s "$B/A/creds" ] && [ -s "$B/B/creds" ]; do sleep 0.2; done

run() { # NAME PORT CONCURRENCY -> "tokens/s cpu_us p50 p99"
  read -r id secret <"$B/$1/creds"
  taskset -c 1 "$B/authz" bench --issuer "http://127.0.0.1:$2" --metrics "http://127.0.0.1:$(($2 + 2))/metrics" \
    --client-id "$id" --client-secret "$secret" --concurrency "$3" --duration "${SECS}s" -o json |
    jq -r '(if type == "array" then .[0] else . end) | "\(.requests_per_second|floor) \(.server.server_cpu_us_per_request // 0|floor) \(.p50_ms) \(.p99_ms) \(.server.events_per_commit // 0) \(.server.server_rss_mib // 0)"'
}
echo "== $BACKEND  A=$A_BIN ${A_ENV:-}  B=$B_BIN ${B_ENV:-}  $(uptime)"
run A "$PORT_A" 32 >/dev/null; run B "$PORT_B" 32 >/dev/null # warm-up
for c in ${LEVELS//,/ }; do
  ra=() rb=()
  for r in $(seq "$ROUNDS"); do
    a=$(run A "$PORT_A" "$c"); b=$(run B "$PORT_B" "$c")
    echo "c=$c round $r  A: $a  B: $b"
    ra+=("$a") rb+=("$b")
  done
  paste <(printf '%s\n' "${ra[@]}") <(printf '%s\n' "${rb[@]}") | awk -v c="$c" '
    { tr[NR] = $7 / $1; cr[NR] = ($2 > 0 ? $8 / $2 : 0); ta[NR] = $1; tb[NR] = $7 }
    function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
    END { printf "c=%s  median tokens/s A %d B %d  B/A tokens/s %.2f  B/A CPU per token %.2f\n", c, med(ta, NR), med(tb, NR), med(tr, NR), med(cr, NR) }'
done
echo "$(uptime)"
