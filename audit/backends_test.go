package audit

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver, for tampering

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/sqlite"
)

// backend is a fresh store and a second, raw connection to the same
// database, through which tests change rows behind the store's back the way
// an attacker with database access would.
type backend struct {
	st  store.Store
	raw *sql.DB
}

func (b backend) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := b.raw.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("raw %q: %v", query, err)
	}
}

// eachBackend runs fn on every backend.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, openSQLite(t)) })
}

func openSQLite(t *testing.T) backend {
	t.Helper()
	path := filepath.Join(t.TempDir(), "authz.db")
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	raw, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	return backend{st: st, raw: raw}
}
