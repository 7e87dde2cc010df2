package main

import (
	"bytes"
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/store/postgres/pgproc"
	"github.com/authz/authz/store/storetest"
)

// TestServeBadDatabaseURLs: a malformed host list, an unreachable pooler
// and the pooler flags misused each stop `authz serve` with exit 1 and one
// line naming what to fix, and leave the database untouched.
func TestServeBadDatabaseURLs(t *testing.T) {
	dsn := storetest.PostgresURL(t) // an empty schema: nothing may be created in it
	pooler := "127.0.0.1:" + strconv.Itoa(pgproc.FreePort(t))
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"empty host in the list", []string{"--database", "postgres://authz:s3cret@127.0.0.1:5432,,127.0.0.1:5433/authz"},
			"authz: postgres: invalid --database / AUTHZ_DATABASE: host 2 of 3 in the host list is empty (a stray comma?); write postgres://USER@HOST1:PORT1,HOST2:PORT2/DB"},
		{"port not a number", []string{"--database", "postgres://authz:s3cret@127.0.0.1:5432,127.0.0.1:x/authz"},
			"authz: postgres: invalid --database / AUTHZ_DATABASE: host 2 of 2 has a port that is not a number from 1 to 65535; write postgres://USER@HOST1:PORT1,HOST2:PORT2/DB"},
		{"unknown target_session_attrs", []string{"--database", "postgres://127.0.0.1:5432,127.0.0.1:5433/authz?target_session_attrs=master"},
			"authz: postgres: invalid --database / AUTHZ_DATABASE: target_session_attrs must be one of any, read-write, read-only, primary, standby, prefer-standby"},
		{"malformed listen URL", []string{"--database", dsn, "--database-listen-url", "postgres://h1,,h2/authz"},
			"authz: postgres: invalid --database-listen-url / AUTHZ_DATABASE_LISTEN_URL: host 2 of 3 in the host list is empty"},
		{"unreachable pooler", []string{"--database", "postgres://authz:s3cret@" + pooler + "/authz?sslmode=disable", "--database-pooler", "transaction"},
			"authz: cannot reach the pooler at " + pooler + ": connection refused; check --database / AUTHZ_DATABASE"},
		{"unknown pooler mode", []string{"--database", dsn, "--database-pooler", "statement"},
			`authz: --database-pooler "statement": use none (direct, or PgBouncer pool_mode=session) or transaction (PgBouncer pool_mode=transaction); statement pooling cannot run authz's transactions`},
		{"pooler flags with SQLite", []string{"--database", "sqlite:" + t.TempDir() + "/a.db", "--database-pooler", "transaction"},
			"authz: --database-listen-url and --database-pooler apply to PostgreSQL only; --database names sqlite"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, authzBin, append([]string{"serve"}, c.args...)...)
			cmd.Env = append(baseEnv(t.TempDir()),
				"AUTHZ_ADDR="+freeAddr(t), "AUTHZ_ADMIN_ADDR="+freeAddr(t), "AUTHZ_METRICS_ADDR=", "AUTHZ_CONSOLE_ADDR=",
				"AUTHZ_MASTER_KEY="+masterkey.Generate().String())
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != exitFailed {
				t.Fatalf("exit: %v, want %d\n%s", err, exitFailed, stderr.String())
			}
			lines := strings.Split(strings.TrimRight(stderr.String(), "\n"), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, c.want) || strings.Contains(stderr.String(), "s3cret") {
				t.Fatalf("stderr:\n%s\nwant a last line starting with:\n%s", stderr.String(), c.want)
			}
		})
	}
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("refused starts left %d tables in the database", n)
	}
}
