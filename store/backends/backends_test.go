package backends_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/backends"
	"github.com/authz/authz/store/storetest"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in, backend, target string
	}{
		{"sqlite:authz.db", backends.SQLite, "authz.db"},
		{"sqlite:/var/lib/authz/authz.db", backends.SQLite, "/var/lib/authz/authz.db"},
		{"sqlite://authz.db", backends.SQLite, "authz.db"},
		{"sqlite:///var/lib/authz.db", backends.SQLite, "/var/lib/authz.db"},
		{"file:data/authz.db", backends.SQLite, "data/authz.db"},
		{"SQLite:authz.db", backends.SQLite, "authz.db"},
		{"postgres://u:pw@db:5432/authz?sslmode=disable", backends.Postgres, "postgres://u:pw@db:5432/authz?sslmode=disable"},
		{"postgresql://db/authz", backends.Postgres, "postgresql://db/authz"},
	} {
		backend, target, err := backends.Parse(c.in)
		if err != nil || backend != c.backend || target != c.target {
			t.Errorf("Parse(%q) = %q, %q, %v; want %q, %q", c.in, backend, target, err, c.backend, c.target)
		}
	}
	for _, c := range []struct{ in, msg string }{
		{"mysql://root:secret@db/authz", `unknown --database "mysql": use sqlite:PATH (for example sqlite:authz.db) or postgres://USER@HOST:PORT/DB`},
		{"authz.db", `unknown --database "authz.db": use sqlite:PATH (for example sqlite:authz.db) or postgres://USER@HOST:PORT/DB`},
		{"postgres:db", `unknown --database "postgres": use sqlite:PATH (for example sqlite:authz.db) or postgres://USER@HOST:PORT/DB`},
		{"sqlite:", `--database "sqlite:" names no file: use sqlite:PATH, for example sqlite:authz.db`},
		{"file://", `--database "file:" names no file: use sqlite:PATH, for example sqlite:authz.db`},
	} {
		_, _, err := backends.Parse(c.in)
		if err == nil || err.Error() != c.msg {
			t.Errorf("Parse(%q) error = %v\nwant %s", c.in, err, c.msg)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("Parse(%q) error echoes the password", c.in)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"sqlite:a.db", "sqlite://a", "file:", "postgres://u:p@h:1/d", "postgresql:", "x", "", ":", "SQLITE:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		backend, target, err := backends.Parse(in)
		if err != nil {
			if backend != "" || target != "" {
				t.Fatalf("Parse(%q) failed but returned %q, %q", in, backend, target)
			}
			// The message is built from the scheme alone: nothing after the
			// first colon (a password, perhaps) can reach it.
			scheme, _, _ := strings.Cut(in, ":")
			if err.Error() != fmt.Sprintf("unknown --database %q: use sqlite:PATH (for example sqlite:authz.db) or postgres://USER@HOST:PORT/DB", scheme) &&
				err.Error() != fmt.Sprintf("--database %q names no file: use sqlite:PATH, for example sqlite:authz.db", scheme+":") {
				t.Fatalf("Parse(%q) error %q is not built from the scheme alone", in, err)
			}
			return
		}
		switch backend {
		case backends.SQLite:
			if target == "" || !strings.HasSuffix(in, target) {
				t.Fatalf("Parse(%q) = sqlite %q: not a suffix of the input", in, target)
			}
		case backends.Postgres:
			if target != in {
				t.Fatalf("Parse(%q) = postgres %q: the URL must pass unchanged", in, target)
			}
		default:
			t.Fatalf("Parse(%q) = unknown backend %q", in, backend)
		}
	})
}

// TestOpen opens each form on a real backend.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	for _, u := range []string{
		"sqlite:" + filepath.Join(dir, "a.db"),
		"sqlite://" + filepath.Join(dir, "b.db"),
		"file:" + filepath.Join(dir, "c.db"),
		storetest.PostgresURL(t),
	} {
		s, err := backends.Open(context.Background(), u, nil)
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if err := s.CreateTenant(context.Background(), store.Tenant{ID: "ten_1", Name: "one", Status: store.StatusActive}); err != nil {
			t.Fatalf("%s: %v", s.Backend(), err)
		}
		s.Close()
	}
	_, err := backends.Open(context.Background(), "postgres://postgres:hunter2@127.0.0.1:1/test", nil)
	if !errors.Is(err, store.ErrUnavailable) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("unreachable server: %v", err)
	}
}

// TestOpenWithBadOptions: pooler options that cannot apply are refused
// before anything is opened or created.
func TestOpenWithBadOptions(t *testing.T) {
	dir := t.TempDir()
	sqliteURL := "sqlite:" + filepath.Join(dir, "a.db")
	for _, c := range []struct {
		url  string
		o    backends.Options
		want string
	}{
		{"postgres://127.0.0.1:1/authz", backends.Options{Pooler: "statement"},
			`--database-pooler "statement": use none (direct, or PgBouncer pool_mode=session) or transaction (PgBouncer pool_mode=transaction); statement pooling cannot run authz's transactions`},
		{sqliteURL, backends.Options{Pooler: "transaction"}, "--database-listen-url and --database-pooler apply to PostgreSQL only; --database names sqlite"},
		{sqliteURL, backends.Options{ListenURL: "postgres://127.0.0.1:1/authz"}, "--database-listen-url and --database-pooler apply to PostgreSQL only; --database names sqlite"},
		{"postgres://127.0.0.1:1/authz", backends.Options{ListenURL: "sqlite:x.db"},
			"--database-listen-url must be a postgres:// URL of a direct connection (not through the pooler) to the database --database names"},
		{"postgres://127.0.0.1:1/authz", backends.Options{ListenURL: "postgres://127.0.0.1:2/authz", Pooler: "none"},
			"--database-listen-url is for a --database that goes through a transaction pooler; with --database-pooler none, drop it (LISTEN runs on --database)"},
	} {
		_, err := backends.OpenWith(t.Context(), c.url, c.o)
		if err == nil || err.Error() != c.want {
			t.Errorf("OpenWith(%s, %+v):\n got %v\nwant %s", c.url, c.o, err, c.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused open created %d files", len(entries))
	}
}
