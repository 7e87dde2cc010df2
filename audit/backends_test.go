package audit

import (
	"context"
	"database/sql"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for tampering
	_ "modernc.org/sqlite"             // the "sqlite" database/sql driver, for tampering

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/backends"
	"github.com/authz/authz/store/storetest"
)

// backend is a fresh store and a second, raw connection to the same
// database, through which tests change rows behind the store's back the way
// someone with database access would.
type backend struct {
	st  store.Store
	raw *sql.DB
	url string // the database's, for a second store on it
}

func (b backend) exec(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := b.raw.ExecContext(context.Background(), query, args...); err != nil {
		t.Fatalf("raw %q: %v", query, err)
	}
}

// eachBackend runs fn on SQLite and on PostgreSQL. It follows storetest.Each
// (a fresh database per call; PostgreSQL skipped when unreachable unless
// CI=true) but works from the database URLs, because the tampering tests
// need a connection of their own.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, openBackend(t, storetest.SQLiteURL(t))) })
	t.Run("postgres", func(t *testing.T) { fn(t, openBackend(t, storetest.PostgresURL(t))) })
}

func openSQLite(t *testing.T) backend { return openBackend(t, storetest.SQLiteURL(t)) }

func openBackend(t *testing.T, databaseURL string) backend {
	t.Helper()
	st, err := backends.Open(context.Background(), databaseURL, nil)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	kind, target, err := backends.Parse(databaseURL)
	if err != nil {
		t.Fatal(err)
	}
	driver, dsn := "pgx", target
	if kind == backends.SQLite {
		driver, dsn = "sqlite", target+"?_pragma=busy_timeout(5000)"
	}
	raw, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	return backend{st: st, raw: raw, url: databaseURL}
}
