#!/usr/bin/env bash
# The million-key import of docs/benchmarks.md ("Legacy key import, the
# command"): `authz key import` of a generated CSV (key,owner_external_id,
# tenant; 10,000 owners of which 200 exist, the rest orphans) against
# `authz serve` on SQLite and on PostgreSQL, then the same file again
# (idempotence: nothing added), then the reports. Run from the repository
# root:
#
#   loadgen/import.sh [KEYS] [BACKENDS] [AUTHZ_BINARY_FOR_REFERENCE]
#
# KEYS defaults to 1000000, BACKENDS to "sqlite postgres". With a third
# argument, that binary (e.g. built from an older commit) is measured on
# the same file first, as the reference. IMPORT_PORT (default 38480) is the
# first of the two ports the server listens on, IMPORT_DIR (default
# /tmp/authz-import-bench) where the files go: change them when another
# run uses them. Each line gives wall time, the server's CPU (user+system
# of `authz serve`, from /proc) and the CLI's (user+system), and the load
# average when the command ended. IMPORT_KEEP=1 keeps the PostgreSQL
# database (and the SQLite file) for a look afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
KEYS=${1:-1000000} BACKENDS=${2:-"sqlite postgres"} REF=${3:-}
B=${IMPORT_DIR:-/tmp/authz-import-bench}; mkdir -p "$B"
P=${IMPORT_PORT:-38480}
go build -o "$B/authz" ./cmd/authz
go build -o "$B/keyfile" ./loadgen/keyfile
export AUTHZ_MASTER_KEY="$(openssl rand -hex 32)"
ADMIN_ID=cli_import_admin ADMIN_SECRET="$(openssl rand -hex 32)"
PG=postgres://postgres@127.0.0.1:5432 ADMIN=http://127.0.0.1:$((P + 1))

serve() { # BINARY DATABASE_URL
  AUTHZ_BOOTSTRAP_CLIENT_ID=$ADMIN_ID AUTHZ_BOOTSTRAP_CLIENT_SECRET=$ADMIN_SECRET AUTHZ_METRICS_ADDR= AUTHZ_CONSOLE_ADDR= \
    "$1" serve --database "$2" --addr 127.0.0.1:$P --admin-addr 127.0.0.1:$((P + 1)) --log-level warn >"$B/serve.log" 2>&1 &
  SERVER=$!
  until curl -fs -o /dev/null http://127.0.0.1:$P/readyz; do
    kill -0 "$SERVER" 2>/dev/null || { cat "$B/serve.log"; exit 1; }
    sleep 0.1
  done
}
stop() { kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=; }
trap '[ -n "${SERVER:-}" ] && kill -TERM "$SERVER"' EXIT
cli() { AUTHZ_SERVER=$ADMIN AUTHZ_ISSUER=http://127.0.0.1:$P AUTHZ_CLIENT_ID=$ADMIN_ID AUTHZ_CLIENT_SECRET=$ADMIN_SECRET "$BIN" "$@"; }
cpu() { awk '{printf "%.1f", ($14+$15)/100}' "/proc/$SERVER/stat"; } # server user+system CPU seconds
dbcpu() { # user+system CPU seconds of the PostgreSQL backends serving the run's database (0 on SQLite)
  local t=0 p
  for p in $( [ -n "${DB:-}" ] && pgrep -f "postgres: .* $DB " || true); do
    t=$(echo "$t + $(awk '{print ($14+$15)/100}' "/proc/$p/stat" 2>/dev/null || echo 0)" | bc)
  done
  echo "$t"
}
load() { cut -d' ' -f1 /proc/loadavg; }
timed() { # LABEL cmd...: wall, server CPU, CLI CPU (seconds), the command's JSON summary
  local label=$1 c0 c1 d0 d1 out; shift
  c0=$(cpu) d0=$(dbcpu)
  out=$(/usr/bin/time -f '%e %U %S' -o "$B/time" "$@" -o json | jq -c '{imported, already_present, orphans, rejected: (.rejected|length)}' 2>/dev/null || echo '"(no json)"')
  c1=$(cpu) d1=$(dbcpu)
  read -r wall u s <"$B/time"
  printf '%-28s wall %6.1f s  server CPU %6.1f s (%.0f µs/key)  PostgreSQL CPU %5.1f s  CLI CPU %5.1f s  load %s  %s\n' "$label" "$wall" \
    "$(echo "$c1 - $c0" | bc)" "$(echo "($c1 - $c0) * 1000000 / $KEYS" | bc)" "$(echo "$d1 - $d0" | bc)" "$(echo "$u + $s" | bc)" "$(load)" "$out"
}
report() { # LABEL report args
  local c0 c1 d0 d1; c0=$(cpu) d0=$(dbcpu)
  /usr/bin/time -f '%e %U %S' -o "$B/time" "${CLI[@]}" report "${@:2}" -o json >/dev/null
  c1=$(cpu) d1=$(dbcpu)
  read -r wall u s <"$B/time"
  printf '%-28s wall %6.2f s  server CPU %5.2f s  PostgreSQL CPU %5.2f s  CLI CPU %5.2f s  load %s\n' "$1" "$wall" "$(echo "$c1 - $c0" | bc)" "$(echo "$d1 - $d0" | bc)" "$(echo "$u + $s" | bc)" "$(load)"
}

run() { # LABEL BINARY DATABASE_URL
  BIN=$2; serve "$2" "$3"
  local t
  t=$(cli tenant create "import-$RANDOM" -o json | jq -r .id)
  seq 0 199 | xargs -P 4 -I{} sh -c 'AUTHZ_ISSUER=http://127.0.0.1:'$P' AUTHZ_SERVER='$ADMIN' AUTHZ_CLIENT_ID='$ADMIN_ID' AUTHZ_CLIENT_SECRET='$ADMIN_SECRET' '"$BIN"' principal create --tenant '"$t"' --name p{} --kind service --external-id $(printf ext-%06d {}) >/dev/null'
  "$B/keyfile" -keys "$KEYS" -owners 10000 -tenant "$t" >"$B/keys.csv"
  echo "== $1: $KEYS keys, $(du -h "$B/keys.csv" | cut -f1) CSV, load $(cut -d' ' -f1-3 /proc/loadavg)"
  CLI=(env AUTHZ_SERVER=$ADMIN AUTHZ_ISSUER=http://127.0.0.1:$P AUTHZ_CLIENT_ID=$ADMIN_ID AUTHZ_CLIENT_SECRET=$ADMIN_SECRET "$BIN")
  timed "import" "${CLI[@]}" key import "$B/keys.csv"
  report "report migration" migration
  report "report expiring" expiring
  report "report orphans --limit 100" orphans --limit 100
  timed "import again (idempotence)" "${CLI[@]}" key import "$B/keys.csv"
  ls -l "$B"/authz.db* 2>/dev/null | awk '{print "  " $5, $9}' || true
  stop
}

echo "== machine: $(nproc) CPUs, $(lscpu | grep 'Model name' | sed 's/ \+/ /g'), $(go version | cut -d' ' -f3)"
for be in $BACKENDS; do
  for which in ${REF:+reference} new; do
    bin=$B/authz; [ "$which" = reference ] && bin=$REF
    case $be in
      sqlite) DB=; rm -f "$B"/authz.db*; run "$be, $which" "$bin" "sqlite:$B/authz.db" ;;
      postgres) DB=authz_import_$$_$which; psql "$PG/test" -qc "CREATE DATABASE $DB"
        run "$be, $which" "$bin" "$PG/$DB?sslmode=disable"
        if [ -n "${IMPORT_KEEP:-}" ]; then echo "  kept database $DB"; else psql "$PG/test" -qc "DROP DATABASE $DB"; fi ;;
    esac
  done
done
