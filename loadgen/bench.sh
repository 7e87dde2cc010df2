#!/usr/bin/env bash
# The load benchmark of docs/benchmarks.md ("Token service under load"):
# authz serve alone on core 0, the load generator alone on core 1, 32
# connections, SQLite then PostgreSQL, with the references measured in the
# same run. Run from the repository root; about 4 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
B=/tmp/authz-bench; mkdir -p "$B"
go build -o "$B/authz" ./cmd/authz
export XDG_CACHE_HOME="$B/cache" AUTHZ_MASTER_KEY="$(openssl rand -hex 32)"
ADMIN_ID=cli_bench_admin ADMIN_SECRET="$(openssl rand -hex 32)"
ISSUER=http://127.0.0.1:38080 METRICS=http://127.0.0.1:38082 PG=postgres://postgres@127.0.0.1:5432

serve() { # DATABASE_URL
  GOMAXPROCS=${SERVER_GOMAXPROCS:-1} AUTHZ_BOOTSTRAP_CLIENT_ID=$ADMIN_ID AUTHZ_BOOTSTRAP_CLIENT_SECRET=$ADMIN_SECRET \
    taskset -c 0 "$B/authz" serve --database "$1" --addr 127.0.0.1:38080 --admin-addr 127.0.0.1:38081 --metrics-addr 127.0.0.1:38082 \
    --rate-limit-addr 0 --rate-limit-client 0 --rate-limit-key 0 --log-level warn >"$B/serve.log" 2>&1 &
  SERVER=$!
  until curl -fs -o /dev/null $ISSUER/readyz; do sleep 0.1; done
}
stop() { kill -TERM "$SERVER"; wait "$SERVER" || true; }
admin() { AUTHZ_SERVER=http://127.0.0.1:38081 AUTHZ_ISSUER=$ISSUER AUTHZ_CLIENT_ID=$ADMIN_ID \
  AUTHZ_CLIENT_SECRET=$ADMIN_SECRET "$B/authz" "$@" -o json; }
fixtures() { # a tenant, a service principal with a role, a client and a legacy key
  local t p r c
  t=$(admin tenant create bench | jq -r .id)
  p=$(admin principal create --tenant "$t" --name svc --kind service | jq -r .id)
  r=$(admin role create --tenant "$t" reader --permission orders:read | jq -r .id)
  admin role bind "$r" --principal "$p" >/dev/null
  c=$(admin client create --tenant "$t" --owner "$p")
  export AUTHZ_CLIENT_ID=$(jq -r .id <<<"$c") AUTHZ_CLIENT_SECRET=$(jq -r .client_secret <<<"$c")
  export AUTHZ_API_KEY=$(admin key issue --owner "$p" | jq -r .key)
}
bench() { taskset -c 1 "$B/authz" bench --issuer "${BENCH_ISSUER:-$ISSUER}" -o json "$@" |
  jq -c '{mode, requests, requests_per_second: (.requests_per_second|round), p50_ms, p95_ms, p99_ms, max_ms, errors}'; }
rss() { echo "server RSS: $(ps -o rss= -p "$SERVER") KiB"; }
audit() { curl -s $METRICS/metrics | awk '/^authz_audit_batch_size_(sum|count)|^authz_audit_flush_seconds_(sum|count)/ {v[$1]=$2}
  END {printf "audit group commit: %.1f events/commit, %.2f ms/commit\n", v["authz_audit_batch_size_sum"]/v["authz_audit_batch_size_count"],
  1000*v["authz_audit_flush_seconds_sum"]/v["authz_audit_flush_seconds_count"]}'; }

echo "== machine"; nproc; lscpu | grep 'Model name'; go version; uptime
echo "== references, same run"
taskset -c 0 go test -run '^$' -bench 'RawSign/ES256' -cpu 1 -benchtime 2s ./jwks | grep ^Benchmark
taskset -c 1 go test -run '^$' -bench 'RawVerify/ES256' -cpu 1 -benchtime 2s ./jwks/verifier | grep ^Benchmark
# The generator's ceiling: a token endpoint that answers a fixed body, on core 0.
mkdir -p "$B/static" && cat >"$B/static/main.go" <<'GO'
package main

import "net/http"

func main() {
	md := []byte(`{"issuer":"http://127.0.0.1:38090","token_endpoint":"http://127.0.0.1:38090/token"}`)
	tok := []byte(`{"access_token":"x.y.z","token_type":"Bearer","expires_in":300}`)
	http.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, _ *http.Request) { w.Write(md) })
	http.HandleFunc("/token", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(tok)
	})
	http.ListenAndServe("127.0.0.1:38090", nil)
}
GO
go build -o "$B/static/static" "$B/static/main.go"
GOMAXPROCS=1 taskset -c 0 "$B/static/static" & STATIC=$!; sleep 0.5
BENCH_ISSUER=http://127.0.0.1:38090 AUTHZ_CLIENT_ID=c AUTHZ_CLIENT_SECRET=s bench --mode cc --concurrency 32 --duration 10s
kill "$STATIC"

echo "== SQLite (embedded)"
rm -f "$B"/authz.db*; serve "sqlite:$B/authz.db"; fixtures; rss
bench --mode cc --concurrency 32 --duration 0 --requests 100000; rss; audit
bench --mode cc --concurrency 32 --duration 20s; audit
bench --mode exchange --concurrency 32 --duration 20s
bench --mode verify --concurrency 32 --duration 10s
stop

echo "== PostgreSQL 15 (local, unpinned)"
DB=authz_bench_$$; psql "$PG/test" -qc "CREATE DATABASE $DB"
serve "$PG/$DB?sslmode=disable"; fixtures
bench --mode cc --concurrency 32 --duration 3s >/dev/null # warm-up
bench --mode cc --concurrency 32 --duration 20s; audit
bench --mode exchange --concurrency 32 --duration 20s
rss; stop
psql "$PG/test" -qc "DROP DATABASE $DB WITH (FORCE)"
uptime
