#!/usr/bin/env bash
# The capacity figures of docs/scaling.md: what one token costs authz and
# PostgreSQL, and what the ways of connecting to PostgreSQL cost. A
# PostgreSQL 15 cluster of its own (default settings: fsync and
# synchronous_commit on) and a PgBouncer in transaction mode are started
# here, so that their CPU is authz's alone. authz serve alone on core 0
# (GOMAXPROCS=1, raised to two Ps by serve), the load generator on core 1,
# PostgreSQL unpinned. Per run: a fresh database, a client, a 3 s warm-up,
# then `authz bench --mode cc` for $SECONDS_PER_RUN s, bracketed by
# readings of /proc (CPU), pg_current_wal_lsn() and pg_stat_database.
# Run as root from the repository root; about 4 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
S=/tmp/authz-scaling; rm -rf "$S"; mkdir -p "$S"; chmod 755 "$S"
RUN=${SECONDS_PER_RUN:-20}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGPORT=38432 BOUNCER=38433
ISSUER=http://127.0.0.1:38080 METRICS=http://127.0.0.1:38082
go build -o "$S/authz" ./cmd/authz
export XDG_CACHE_HOME="$S/cache" AUTHZ_MASTER_KEY="$(openssl rand -hex 32)"
ADMIN_ID=cli_scaling_admin ADMIN_SECRET="$(openssl rand -hex 32)"
TCK=$(getconf CLK_TCK)

as_pg() { runuser -u postgres -- "$@"; }
mkdir "$S/pg" && chown postgres "$S/pg"
as_pg "$PGBIN/initdb" -D "$S/pg/data" -U postgres -A trust --no-locale -E UTF8 >/dev/null
as_pg "$PGBIN/pg_ctl" start -w -D "$S/pg/data" -l "$S/pg/log" -o "-p $PGPORT -c listen_addresses=127.0.0.1 -k $S/pg -c max_connections=200" >/dev/null
PGPID=$(head -1 "$S/pg/data/postmaster.pid")
cat >"$S/pg/bouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$PGPORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER
unix_socket_dir =
auth_type = trust
auth_file = $S/pg/users.txt
pool_mode = transaction
default_pool_size = 20
max_client_conn = 500
logfile = $S/pg/bouncer.log
pidfile = $S/pg/bouncer.pid
INI
echo '"postgres" ""' >"$S/pg/users.txt"
as_pg pgbouncer -d "$S/pg/bouncer.ini"
cleanup() {
  [ -n "${SERVER:-}" ] && kill -TERM "$SERVER" 2>/dev/null || true
  [ -f "$S/pg/bouncer.pid" ] && kill -TERM "$(cat "$S/pg/bouncer.pid")" 2>/dev/null || true
  as_pg "$PGBIN/pg_ctl" stop -m fast -D "$S/pg/data" >/dev/null 2>&1 || true
}
trap cleanup EXIT
sleep 0.5

psqlq() { psql -X -qAt "postgres://postgres@127.0.0.1:$PGPORT/$1" -c "$2"; }
ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
# CPU ticks of the postmaster and every process it started.
pgticks() { local t; t=$(ticks "$PGPID"); for p in $(pgrep -P "$PGPID"); do t=$((t + $(ticks "$p" 2>/dev/null || echo 0))); done; echo "$t"; }
bouncerticks() { ticks "$(cat "$S/pg/bouncer.pid")"; }

serve() { # DATABASE_URL EXTRA_FLAGS...
  local db=$1; shift
  GOMAXPROCS=1 AUTHZ_BOOTSTRAP_CLIENT_ID=$ADMIN_ID AUTHZ_BOOTSTRAP_CLIENT_SECRET=$ADMIN_SECRET \
    taskset -c 0 "$S/authz" serve --database "$db" "$@" --addr 127.0.0.1:38080 --admin-addr 127.0.0.1:38081 \
    --metrics-addr 127.0.0.1:38082 --console-addr "" --rate-limit-addr 0 --rate-limit-client 0 --rate-limit-key 0 \
    --log-level warn >"$S/serve.log" 2>&1 &
  SERVER=$!
  until curl -fs -o /dev/null $ISSUER/readyz; do sleep 0.1; done
}
stop() { kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=; }
admin() { AUTHZ_SERVER=http://127.0.0.1:38081 AUTHZ_ISSUER=$ISSUER AUTHZ_CLIENT_ID=$ADMIN_ID \
  AUTHZ_CLIENT_SECRET=$ADMIN_SECRET "$S/authz" "$@" -o json; }
fixtures() {
  local t p r c
  t=$(admin tenant create bench | jq -r .id)
  p=$(admin principal create --tenant "$t" --name svc --kind service | jq -r .id)
  r=$(admin role create --tenant "$t" reader --permission orders:read | jq -r .id)
  admin role bind "$r" --principal "$p" >/dev/null
  c=$(admin client create --tenant "$t" --owner "$p")
  export AUTHZ_CLIENT_ID=$(jq -r .id <<<"$c") AUTHZ_CLIENT_SECRET=$(jq -r .client_secret <<<"$c")
}
# The audit group commit's counters: batch size sum and count, flush seconds sum.
auditm() { curl -s $METRICS/metrics | awk '/^authz_audit_batch_size_(sum|count) |^authz_audit_flush_seconds_sum / {v[$1]=$2}
  END {printf "%s %s %s\n", v["authz_audit_batch_size_sum"], v["authz_audit_batch_size_count"], v["authz_audit_flush_seconds_sum"]}'; }
bench() { taskset -c 1 "$S/authz" bench --issuer $ISSUER --mode cc --concurrency 32 -o json "$@"; }

measure() { # NAME DB DATABASE_URL FLAGS...
  local name=$1 db=$2 url=$3; shift 3
  serve "$url" "$@"; fixtures
  bench --duration 3s >/dev/null
  local stats="SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database WHERE datname = '$db'"
  local a0 p0 b0 w0 s0 e0 m0 m1
  m0=$(auditm)
  a0=$(ticks "$SERVER"); p0=$(pgticks); b0=$(bouncerticks)
  w0=$(psqlq "$db" "SELECT pg_current_wal_lsn() - '0/0'"); s0=$(psqlq "$db" "$stats")
  e0=$(psqlq "$db" "SELECT pg_total_relation_size('audit_events')")
  local out; out=$(bench --duration "${RUN}s")
  local a1 p1 b1 w1 s1 e1
  a1=$(ticks "$SERVER"); p1=$(pgticks); b1=$(bouncerticks)
  w1=$(psqlq "$db" "SELECT pg_current_wal_lsn() - '0/0'"); s1=$(psqlq "$db" "$stats")
  e1=$(psqlq "$db" "SELECT pg_total_relation_size('audit_events')")
  m1=$(auditm)
  local n rps errs; n=$(jq .requests <<<"$out"); rps=$(jq '.requests_per_second|round' <<<"$out"); errs=$(jq -c .errors <<<"$out")
  awk -v name="$name" -v n="$n" -v rps="$rps" -v tck="$TCK" -v a="$((a1 - a0))" -v p="$((p1 - p0))" -v b="$((b1 - b0))" \
    -v w="$((w1 - w0))" -v c="$(( ${s1%|*} - ${s0%|*} ))" -v r="$(( ${s1#*|} - ${s0#*|} ))" -v e="$((e1 - e0))" \
    -v p99="$(jq .p99_ms <<<"$out")" -v errs="$errs" -v m0="$m0" -v m1="$m1" 'BEGIN {
      split(m0, x); split(m1, y); commits = y[2] - x[2]
      printf "| %s | %d | %.1f | %.0f | %.0f | %.0f | %.0f | %.2f | %.1f | %.0f | %.1f | %.1f | %s |\n", name, rps, p99,
        1e6*a/tck/n, 1e6*p/tck/n, 1e6*b/tck/n, w/n, c/n, r/n, e/n, (y[1]-x[1])/commits, 1000*(y[3]-x[3])/commits, errs }'
  stop
}

echo "== machine"; nproc; lscpu | grep 'Model name'; go version; "$PGBIN/postgres" --version; pgbouncer --version | head -1; uptime
echo "| connection | tokens/s | p99 ms | authz µs CPU/token | PostgreSQL µs CPU/token | PgBouncer µs CPU/token | WAL bytes/token | commits/token | rows written/token | audit table+index bytes/token | audit events/commit | ms/commit | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for run in "direct, pgx default (cache_statement)|" "direct, cache_describe|&default_query_exec_mode=cache_describe" \
  "direct, simple_protocol|&default_query_exec_mode=simple_protocol" "PgBouncer transaction, cache_describe|pooler"; do
  name=${run%%|*} how=${run#*|}; db="scaling_$RANDOM"
  psqlq postgres "CREATE DATABASE $db"
  direct="postgres://postgres@127.0.0.1:$PGPORT/$db?sslmode=disable"
  if [ "$how" = pooler ]; then
    measure "$name" "$db" "postgres://postgres@127.0.0.1:$BOUNCER/$db?sslmode=disable" --database-pooler transaction --database-listen-url "$direct"
  else
    measure "$name" "$db" "$direct$how"
  fi
  last=$db
done

echo "== status_entries at a million credentials (table and indexes)"
psqlq "$last" "CREATE TABLE se_probe (LIKE status_entries INCLUDING ALL);
  INSERT INTO se_probe SELECT i, 'key:key_' || lpad(i::text, 26, '0'), 'key', 'prn_' || lpad((i % 10000)::text, 26, '0'), now(), NULL
    FROM generate_series(1, 1000000) i; ANALYZE se_probe;"
psqlq "$last" "SELECT 'bytes per million credentials: ' || pg_total_relation_size('se_probe')"
uptime
