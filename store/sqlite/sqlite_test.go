package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pressly/goose/v3"
	sqlitedriver "modernc.org/sqlite"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/sqlite"
	"github.com/authz/authz/store/sqlstore"
	"github.com/authz/authz/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.OpenSQLite(t) })
}

func TestMigrations(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	storetest.RunMigrations(t, db, goose.DialectSQLite3)
}

func open(t *testing.T, path string, opts ...sqlite.Option) (*sqlite.Store, error) {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, opts...)
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("this is not a database\n", 200)), 0o600); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, path string
		want       []string
	}{
		{"not a database", garbage, []string{"sqlite: " + garbage + " is not an SQLite database", "point --database at"}},
		{"directory cannot be created", filepath.Join(notDir, "sub", "authz.db"),
			[]string{"sqlite: cannot create directory " + filepath.Join(notDir, "sub"), "not a directory", "choose a writable location"}},
		{"a directory", dir, []string{"sqlite: " + dir + " is a directory", filepath.Join(dir, "authz.db")}},
		{"empty path", "", []string{"a database file path is required", "sqlite:authz.db"}},
		{"in memory", ":memory:", []string{"a database file path is required"}},
	} {
		_, err := open(t, c.path)
		if err == nil {
			t.Errorf("%s: Open succeeded", c.name)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("%s: error is not one line: %q", c.name, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: error %q lacks %q", c.name, msg, w)
			}
		}
	}
}

// TestOpenLocked: a database another process holds locked fails to open
// after the busy timeout, with a message saying so.
func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "locked.db")
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, q := range []string{"CREATE TABLE x (a INTEGER)", "BEGIN EXCLUSIVE", "INSERT INTO x VALUES (1)"} {
		if _, err := conn.ExecContext(t.Context(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	_, err = open(t, path, sqlite.WithBusyTimeout(20*time.Millisecond))
	if err == nil {
		t.Fatal("Open of an exclusively locked database succeeded")
	}
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "sqlite: "+path+" is locked by another process") {
		t.Fatalf("Open of a locked database: %v", err)
	}
	if _, err := conn.ExecContext(t.Context(), "COMMIT"); err != nil {
		t.Fatal(err)
	}
	if _, err := open(t, path); err != nil {
		t.Fatalf("Open once the lock is gone: %v", err)
	}
}

func TestOpenTwiceAndNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dir", "authz.db")
	s, err := open(t, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetSetting(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("database file mode = %v, %v; want 0600 (it holds key hashes)", fi.Mode(), err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Fatalf("no write-ahead log next to the database: %v", err)
	}
	if s.Changes(t.Context()) != nil {
		t.Fatal("SQLite Changes must be nil: callers poll Generation")
	}
	s.Close()

	s, err = open(t, path) // migrating again is a no-op and keeps the data
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.GetSetting(t.Context(), "k"); err != nil || v != "v" {
		t.Fatalf("after reopening: %q, %v", v, err)
	}
	s.Close()

	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, 1)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = open(t, path)
	if !errors.Is(err, sqlstore.ErrSchemaTooNew) || !strings.Contains(err.Error(), path) ||
		!strings.Contains(err.Error(), "schema version 9999") {
		t.Fatalf("opening a newer schema: %v", err)
	}
}

// TestStoreClosed: a closed store answers unavailable, never a raw driver
// error.
func TestStoreClosed(t *testing.T) {
	s, err := open(t, filepath.Join(t.TempDir(), "authz.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	ctx := context.Background()
	_, err = s.GetTenant(ctx, "ten_1")
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("read on a closed store: %v", err)
	}
	if err := s.CreateTenant(ctx, store.Tenant{ID: "ten_1"}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("write on a closed store: %v", err)
	}
}

// TestNoDriverErrors: callers see store sentinels wrapped with what was
// being done, never the driver's error type.
func TestNoDriverErrors(t *testing.T) {
	s := storetest.OpenSQLite(t)
	ctx := t.Context()
	if err := s.CreateTenant(ctx, store.Tenant{ID: "ten_1", Name: "one", Status: store.StatusActive}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTenant(ctx, store.Tenant{ID: "ten_2", Name: "two"}); err != nil {
		t.Fatal(err)
	}
	_, renameErr := s.UpdateTenant(ctx, "ten_2", func(x store.Tenant) (store.Tenant, error) { x.Name = "one"; return x, nil })
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"unique", renameErr, store.ErrConflict},
		{"foreign key", s.CreatePrincipal(ctx, store.Principal{ID: "prn_1", TenantID: "ten_missing"}), store.ErrNotFound},
	} {
		var se *sqlitedriver.Error
		if !errors.Is(c.err, c.want) || errors.As(c.err, &se) {
			t.Errorf("%s: %v (driver error reachable: %v)", c.name, c.err, se != nil)
		}
	}
}
