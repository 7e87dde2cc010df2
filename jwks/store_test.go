package jwks_test

import (
	"testing"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// sqliteStore is a fresh SQLite store in t.TempDir().
func sqliteStore(t testing.TB) store.Store { return storetest.OpenSQLite(t) }

// eachStore runs fn on a fresh store of every backend (SQLite and
// PostgreSQL; see storetest.Each for when PostgreSQL may be skipped).
func eachStore(t *testing.T, fn func(t *testing.T, st store.Store)) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) { fn(t, open(t)) })
}
