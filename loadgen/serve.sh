# Sourced by sweep.sh and rss.sh: starts SERVER_BIN serve on a fresh
# database pinned to core 0, stops it (and drops the database) on exit,
# and exports AUTHZ_CLIENT_ID/AUTHZ_CLIENT_SECRET of a client-credentials
# client for `authz bench`. Expects BACKEND, B, PORT, SERVER_BIN, ISSUER,
# PG and DB_PREFIX; SERVE_ARGS (an array) and SERVER_ENV add to the server's
# flags and environment.
ADMIN_ID=cli_bench_admin ADMIN_SECRET="$(openssl rand -hex 32)"
case $BACKEND in
sqlite) rm -f "$B"/authz.db*; DBURL="sqlite:$B/authz.db" ;;
postgres) DB=${DB_PREFIX}_$$; psql "$PG/test" -qc "CREATE DATABASE $DB"; DBURL="$PG/$DB?sslmode=disable" ;;
*) echo "backend: sqlite or postgres" >&2; exit 2 ;;
esac
env ${SERVER_ENV:-} GOMAXPROCS=${SERVER_GOMAXPROCS:-1} AUTHZ_BOOTSTRAP_CLIENT_ID=$ADMIN_ID AUTHZ_BOOTSTRAP_CLIENT_SECRET=$ADMIN_SECRET \
  taskset -c 0 "$SERVER_BIN" serve --database "$DBURL" --addr 127.0.0.1:$PORT --admin-addr 127.0.0.1:$((PORT + 1)) \
  --metrics-addr 127.0.0.1:$((PORT + 2)) --console-addr "" ${SERVE_ARGS[@]+"${SERVE_ARGS[@]}"} \
  --rate-limit-addr 0 --rate-limit-client 0 --rate-limit-key 0 --log-level warn >"$B/serve.log" 2>&1 &
SERVER=$!
cleanup() {
  kill -TERM "$SERVER" 2>/dev/null; wait "$SERVER" || true
  [ "$BACKEND" = postgres ] && psql "$PG/test" -qc "DROP DATABASE $DB WITH (FORCE)"
  true
}
trap cleanup EXIT
until curl -fs -o /dev/null "$ISSUER/readyz"; do sleep 0.1; done
admin() { AUTHZ_SERVER=http://127.0.0.1:$((PORT + 1)) AUTHZ_ISSUER=$ISSUER AUTHZ_CLIENT_ID=$ADMIN_ID \
  AUTHZ_CLIENT_SECRET=$ADMIN_SECRET "$B/authz" "$@" -o json; }
t=$(admin tenant create bench | jq -r .id)
p=$(admin principal create --tenant "$t" --name svc --kind service | jq -r .id)
r=$(admin role create --tenant "$t" reader --permission orders:read | jq -r .id)
admin role bind "$r" --principal "$p" >/dev/null
c=$(admin client create --tenant "$t" --owner "$p")
export AUTHZ_CLIENT_ID=$(jq -r .id <<<"$c") AUTHZ_CLIENT_SECRET=$(jq -r .client_secret <<<"$c")
