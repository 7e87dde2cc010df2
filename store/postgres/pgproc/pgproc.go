package pgproc

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// startLimit bounds how long a server may take to accept connections; it
// only keeps a broken start from hanging the test.
const startLimit = 60 * time.Second

// Server is one PostgreSQL cluster started by the test.
type Server struct {
	t    testing.TB
	bin  string // directory of pg_ctl, initdb, ...
	Dir  string // data directory
	Port int
	run  *runner
	log  string
}

// runner runs commands as the postgres OS user when the test is root.
type runner struct {
	cred *syscall.Credential
	uid  int
	gid  int
}

func newRunner(t testing.TB) *runner {
	t.Helper()
	if os.Geteuid() != 0 {
		return &runner{uid: -1, gid: -1}
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		missing(t, "the postgres OS user (PostgreSQL refuses to run as root)", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &runner{cred: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid: uid, gid: gid}
}

// command is exec.Command as the postgres user, in its own process group.
func (r *runner) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred, Setpgid: true}
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGTZ=UTC")
	cmd.Dir = os.TempDir()
	return cmd
}

func (r *runner) runOK(t testing.TB, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*startLimit)
	defer cancel()
	out, err := r.command(ctx, name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// dir makes a directory the postgres user owns, removed when t ends.
func (r *runner) dir(t testing.TB, pattern string) string {
	t.Helper()
	d, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	if r.cred != nil {
		if err := os.Chown(d, r.uid, r.gid); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// missing skips the test, or fails it under CI=true.
func missing(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing (%v); CI=true requires it (.ci/run installs it)", what, err)
	}
	t.Skipf("%s is missing (%v); install it to run this test", what, err)
}

// binDir finds the newest /usr/lib/postgresql/N/bin with initdb.
func binDir(t testing.TB) string {
	t.Helper()
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(dirs) == 0 {
		missing(t, "PostgreSQL's server binaries (/usr/lib/postgresql/*/bin/initdb)", os.ErrNotExist)
	}
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[i]))))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(dirs[j]))))
		return vi > vj
	})
	return filepath.Dir(dirs[0])
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartPrimary initialises a cluster (trust authentication, replication
// allowed from 127.0.0.1) and starts it. fsync is off: the tests stop
// PostgreSQL, never the machine, so the OS keeps what was written.
func StartPrimary(t testing.TB) *Server {
	t.Helper()
	r := newRunner(t)
	bin := binDir(t)
	root := r.dir(t, "authz-pg-")
	s := &Server{t: t, bin: bin, Dir: filepath.Join(root, "data"), run: r, log: filepath.Join(root, "log")}
	r.runOK(t, filepath.Join(bin, "initdb"), "-D", s.Dir, "-U", "postgres", "-A", "trust", "--no-locale", "-E", "UTF8", "--no-sync")
	s.start(t)
	return s
}

// StartStandby makes a streaming standby of s with pg_basebackup -R and
// starts it.
func (s *Server) StartStandby(t testing.TB) *Server {
	t.Helper()
	root := s.run.dir(t, "authz-pg-standby-")
	sb := &Server{t: t, bin: s.bin, Dir: filepath.Join(root, "data"), run: s.run, log: filepath.Join(root, "log")}
	s.run.runOK(t, filepath.Join(s.bin, "pg_basebackup"), "-h", "127.0.0.1", "-p", strconv.Itoa(s.Port), "-U", "postgres",
		"-D", sb.Dir, "-R", "-X", "stream", "--no-sync")
	sb.start(t)
	return sb
}

func (s *Server) start(t testing.TB) {
	t.Helper()
	s.Port = FreePort(t)
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off -c max_connections=200 -c wal_sender_timeout=5s -c wal_receiver_status_interval=1s",
		s.Port, filepath.Dir(s.Dir))
	s.run.runOK(t, filepath.Join(s.bin, "pg_ctl"), "start", "-w", "-t", strconv.Itoa(int(startLimit/time.Second)), "-D", s.Dir, "-l", s.log, "-o", opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), startLimit)
		defer cancel()
		if _, err := os.Stat(filepath.Join(s.Dir, "postmaster.pid")); err == nil {
			_ = s.run.command(ctx, filepath.Join(s.bin, "pg_ctl"), "stop", "-m", "immediate", "-D", s.Dir).Run()
		}
	})
}

// URL is a postgres:// URL of database db on this server alone.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// Exec runs statements on database db.
func (s *Server) Exec(t testing.TB, db string, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), startLimit)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// SyncStandby makes every commit on s wait until a standby has flushed it
// (synchronous_standby_names = '*', synchronous_commit = on), and waits
// until one standby is synchronous. The setting lives in s's
// postgresql.auto.conf, written after the standby's base backup, so the
// standby, once promoted, does not wait for a standby of its own.
func (s *Server) SyncStandby(t testing.TB) {
	t.Helper()
	s.Exec(t, "postgres", "ALTER SYSTEM SET synchronous_standby_names = '*'", "SELECT pg_reload_conf()")
	deadline := time.Now().Add(startLimit)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var n int
		err := func() error {
			conn, err := pgx.Connect(ctx, s.URL("postgres"))
			if err != nil {
				return err
			}
			defer conn.Close(context.Background())
			return conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'").Scan(&n)
		}()
		cancel()
		if err == nil && n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no synchronous standby after %v (last error %v)", startLimit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// StopImmediate stops the server the way a crash would: no shutdown
// checkpoint, clients cut off (pg_ctl stop -m immediate).
func (s *Server) StopImmediate(t testing.TB) {
	t.Helper()
	s.run.runOK(t, filepath.Join(s.bin, "pg_ctl"), "stop", "-m", "immediate", "-D", s.Dir)
}

// Promote turns a standby into a primary and waits until it accepts
// writes (pg_ctl promote -w).
func (s *Server) Promote(t testing.TB) {
	t.Helper()
	s.run.runOK(t, filepath.Join(s.bin, "pg_ctl"), "promote", "-w", "-D", s.Dir)
}

// Log is the server's log file so far, for failure messages.
func (s *Server) Log() string {
	b, _ := os.ReadFile(s.log)
	return string(b)
}
