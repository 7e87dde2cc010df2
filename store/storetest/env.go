package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/backends"
)

// DefaultPostgres is the server the PostgreSQL tests use unless
// AUTHZ_TEST_POSTGRES names another.
const DefaultPostgres = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Each runs fn twice, as the subtests "sqlite" and "postgres", each with an
// open function that returns a fresh, migrated, empty store of that
// backend (closed, and for PostgreSQL dropped, when the calling test ends).
// Packages use it for end-to-end tests that must hold on both backends.
//
// Without a reachable PostgreSQL the "postgres" subtest is skipped, unless
// CI=true, where it fails.
func Each(t *testing.T, fn func(t *testing.T, open func(t testing.TB) store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, OpenSQLite) })
	t.Run("postgres", func(t *testing.T) { fn(t, OpenPostgres) })
}

// OpenSQLite opens a fresh SQLite store in t.TempDir().
func OpenSQLite(t testing.TB) store.Store {
	t.Helper()
	return openURL(t, SQLiteURL(t))
}

// OpenPostgres opens a fresh PostgreSQL store in a schema of its own.
func OpenPostgres(t testing.TB) store.Store {
	t.Helper()
	return openURL(t, PostgresURL(t))
}

func openURL(t testing.TB, u string) store.Store {
	t.Helper()
	s, err := backends.Open(context.Background(), u, nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return s
}

// SQLiteURL returns a sqlite: URL naming a new file in t.TempDir(), for
// tests that start the real binary.
func SQLiteURL(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "authz.db")
}

// PostgresURL creates a schema of its own on the test server and returns a
// DSN whose search_path selects it; the schema is dropped when t ends.
// Parallel tests and packages therefore never see each other's data.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv("AUTHZ_TEST_POSTGRES")
	if base == "" {
		base = DefaultPostgres
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "authz_test_" + hex.EncodeToString(b[:])
	if err := adminExec(base, "CREATE SCHEMA "+schema); err != nil {
		unreachable(t, base, err)
	}
	t.Cleanup(func() {
		if err := adminExec(base, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop test schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, base, schema)
}

// adminExec runs one statement on a short-lived connection to base.
func adminExec(base, stmt string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, stmt)
	return err
}

func unreachable(t testing.TB, base string, err error) {
	t.Helper()
	where := base
	if cfg, perr := pgx.ParseConfig(base); perr == nil {
		where = cfg.Host + ":" + strconv.Itoa(int(cfg.Port)) + "/" + cfg.Database // never the password
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("PostgreSQL at %s is unreachable (%v); CI=true requires the PostgreSQL tests to run", where, err)
	}
	t.Skipf("PostgreSQL at %s is unreachable (%v); start it, or set AUTHZ_TEST_POSTGRES=postgres://USER@HOST:PORT/DB, to run the PostgreSQL tests", where, err)
}

// withSearchPath adds search_path to a postgres:// URL.
func withSearchPath(t testing.TB, dsn, schema string) string {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("AUTHZ_TEST_POSTGRES must be a postgres:// URL")
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
