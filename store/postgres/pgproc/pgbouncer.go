package pgproc

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PgBouncer is a pgbouncer process started by the test.
type PgBouncer struct {
	Port int
	log  string
}

// StartPgBouncer runs pgbouncer in pool_mode=transaction on a free port in
// front of the PostgreSQL at host:port: every database name a client asks
// for is the same name there (the "*" entry), trust authentication for
// the postgres user. It stops when t ends.
func StartPgBouncer(t testing.TB, host string, port int) *PgBouncer {
	t.Helper()
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		missing(t, "pgbouncer (Debian package pgbouncer)", err)
	}
	r := newRunner(t)
	dir := r.dir(t, "authz-pgbouncer-")
	b := &PgBouncer{Port: FreePort(t), log: filepath.Join(dir, "pgbouncer.log")}
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%d

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = trust
auth_file = %s
pool_mode = transaction
default_pool_size = 10
max_client_conn = 500
logfile = %s
pidfile = %s
ignore_startup_parameters = extra_float_digits
server_check_query = select 1
`, host, port, b.Port, filepath.Join(dir, "users.txt"), b.log, filepath.Join(dir, "pgbouncer.pid"))
	for name, content := range map[string]string{"pgbouncer.ini": ini, "users.txt": `"postgres" ""` + "\n"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := r.command(ctx, bin, filepath.Join(dir, "pgbouncer.ini"))
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("pgbouncer log:\n%s", b.Log())
		}
	})
	deadline := time.Now().Add(startLimit)
	for {
		select {
		case err := <-exited:
			t.Fatalf("pgbouncer exited: %v\n%s", err, b.Log())
		default:
		}
		if c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(b.Port)); err == nil {
			c.Close()
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgbouncer did not listen on %d:\n%s", b.Port, b.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// URL is a postgres:// URL of database db through the pooler.
func (b *PgBouncer) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", b.Port, db)
}

// Log is pgbouncer's log so far.
func (b *PgBouncer) Log() string {
	out, _ := os.ReadFile(b.log)
	return string(out)
}

// TempDatabase creates a database of its own on the server that base (a
// postgres:// URL) names, and drops it when t ends (WITH (FORCE): a pooler
// may still hold connections to it). It returns base naming that database
// instead. Tests behind PgBouncer need a database rather than a schema:
// PgBouncer 1.18 cannot pass search_path on to the server.
func TempDatabase(t testing.TB, base string) string {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("not a URL: %v", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "authz_pool_" + hex.EncodeToString(b[:])
	exec := func(stmt string) error {
		ctx, cancel := context.WithTimeout(context.Background(), startLimit)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, stmt)
		return err
	}
	if err := exec("CREATE DATABASE " + name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("create database on the test server: %v", err)
		}
		t.Skipf("create database on the test server: %v", err)
	}
	t.Cleanup(func() {
		if err := exec("DROP DATABASE " + name + " WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	u.Path = "/" + name
	return u.String()
}

// Through returns dsn (a postgres:// URL) with its host and port replaced
// by the pooler's.
func (b *PgBouncer) Through(t testing.TB, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("not a URL: %v", err)
	}
	u.Host = "127.0.0.1:" + strconv.Itoa(b.Port)
	return u.String()
}
