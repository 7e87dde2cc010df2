package postgres_test

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/postgres"
	"github.com/authz/authz/store/sqlstore"
	"github.com/authz/authz/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.OpenPostgres(t) })
}

// waitLimit bounds how long a test waits for something that must happen,
// so that a broken feed fails the test instead of hanging it. It is not a
// performance threshold.
const waitLimit = 30 * time.Second

func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestPoolSize(t *testing.T) {
	for _, c := range []struct {
		suffix string
		want   int
	}{
		{"", max(8, 4*runtime.GOMAXPROCS(0))},
		{"&pool_max_conns=3", 3},
	} {
		s := open(t, storetest.PostgresURL(t)+c.suffix)
		if got := s.PoolStats().MaxOpen; got != c.want {
			t.Errorf("pool_max_conns %q: MaxOpen = %d, want %d", c.suffix, got, c.want)
		}
	}
}

func TestMigrations(t *testing.T) {
	pool, err := pgxpool.New(t.Context(), storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDBFromPool(pool)
	defer pool.Close()
	defer db.Close()
	storetest.RunMigrations(t, db, goose.DialectPostgres)
}

// TestConcurrentOpen: replicas starting together on one empty schema all
// open it, and the schema is migrated once.
func TestConcurrentOpen(t *testing.T) {
	dsn := storetest.PostgresURL(t)
	const n = 3
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), dsn) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
		defer stores[i].Close()
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var rows int
	if err := db.QueryRow(`SELECT COUNT(*) FROM goose_db_version WHERE version_id = 1`).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Fatalf("migration 1 recorded %d times", rows)
	}
	// Every instance works on the one schema.
	for i, s := range stores {
		if err := s.CreateTenant(t.Context(), store.Tenant{ID: "ten_" + string(rune('a'+i)), Name: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	if ts, _, err := stores[0].ListTenants(t.Context(), store.TenantFilter{}, store.Page{}); err != nil || len(ts) != n {
		t.Fatalf("tenants seen by one instance: %d, %v", len(ts), err)
	}
}

func TestNewerSchema(t *testing.T) {
	dsn := storetest.PostgresURL(t)
	open(t, dsn).Close()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (9999, true)`); err != nil {
		t.Fatal(err)
	}
	_, err = postgres.Open(t.Context(), dsn)
	if !errors.Is(err, sqlstore.ErrSchemaTooNew) || !strings.Contains(err.Error(), "schema version 9999") {
		t.Fatalf("opening a newer schema: %v", err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	for _, c := range []struct{ dsn, want string }{
		{"postgres://authz:s3cret-pw@127.0.0.1:1/authz?sslmode=disable",
			"cannot reach PostgreSQL at 127.0.0.1:1: connection refused; check --database / AUTHZ_DATABASE"},
		{"postgres://authz:s3cret-pw@127.0.0.1:1/authz",
			"cannot reach PostgreSQL at 127.0.0.1:1: connection refused; check --database / AUTHZ_DATABASE"},
	} {
		_, err := postgres.Open(t.Context(), c.dsn)
		if err == nil || err.Error() != c.want {
			t.Errorf("Open(%s):\n got %v\nwant %s", c.dsn, err, c.want)
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("Open(%s) error is not store.ErrUnavailable", c.dsn)
		}
	}
	_, err := postgres.Open(t.Context(), "postgres://authz:s3cret-pw@127.0.0.1:notaport/authz")
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("a malformed DSN: %v (must fail without echoing the password)", err)
	}
	dsn := storetest.PostgresURL(t)
	missing := strings.Replace(dsn, "search_path=", "search_path=no_such_schema_", 1)
	if _, err := postgres.Open(t.Context(), missing); err == nil || !strings.Contains(err.Error(), "no schema of the search_path exists") {
		t.Fatalf("a search_path naming no schema: %v", err)
	}
}

// TestChanges: a change committed through one Store reaches another
// Store's feed; the feed ends with its context and with the Store.
func TestChanges(t *testing.T) {
	dsn := storetest.PostgresURL(t)
	a, b := open(t, dsn), open(t, dsn)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	feed := a.Changes(ctx)
	wait := func(what string) {
		t.Helper()
		select {
		case _, ok := <-feed:
			if !ok {
				t.Fatalf("%s: the feed closed", what)
			}
		case <-time.After(waitLimit):
			t.Fatalf("%s: no signal", what)
		}
	}
	wait("listening") // the feed signals once it listens

	if err := b.CreateTenant(ctx, store.Tenant{ID: "ten_1", Name: "one", Status: store.StatusActive}); err != nil {
		t.Fatal(err)
	}
	wait("change committed by another instance")
	if g, err := a.Generation(ctx); err != nil || g < 1 {
		t.Fatalf("Generation after the change = %d, %v", g, err)
	}

	// Several changes while nobody reads coalesce into a pending signal.
	for i := range 3 {
		if err := b.SetSetting(ctx, "x", "y"); err != nil { // not a change: no notify
			t.Fatal(err)
		}
		if _, err := b.UpdateTenant(ctx, "ten_1", func(x store.Tenant) (store.Tenant, error) {
			x.StatusChangedBy = strings.Repeat("x", i+1)
			return x, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	wait("coalesced changes")

	cancel()
	for range feed { // drains, then must close
	}

	other := b.Changes(t.Context())
	b.Close()
	deadline := time.After(waitLimit)
	for {
		select {
		case _, ok := <-other:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("the feed of a closed Store did not close")
		}
	}
}

// TestRecovers: when the server drops the store's connections, requests
// fail as unavailable, never as a raw driver error, and the store comes
// back by itself.
func TestRecovers(t *testing.T) {
	dsn := storetest.PostgresURL(t) + "&application_name=authz_recovery_test"
	s := open(t, dsn)
	ctx := t.Context()
	if err := s.CreateTenant(ctx, store.Tenant{ID: "ten_1", Name: "one", Status: store.StatusActive}); err != nil {
		t.Fatal(err)
	}
	feed := s.Changes(ctx)
	next := func(what string) {
		t.Helper()
		select {
		case _, ok := <-feed:
			if !ok {
				t.Fatalf("%s: the feed closed", what)
			}
		case <-time.After(waitLimit):
			t.Fatalf("%s: no signal", what)
		}
	}
	next("listening")
	admin, err := pgx.Connect(ctx, storetest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var killed int
	if err := admin.QueryRow(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'authz_recovery_test'`).Scan(&killed); err != nil || killed < 2 {
		t.Fatalf("terminated %d connections (want the pool's and the feed's): %v", killed, err)
	}
	for attempt := 0; ; attempt++ {
		_, err := s.GetTenant(ctx, "ten_1")
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("a dropped connection surfaced as %v, want store.ErrUnavailable", err)
		}
		if attempt > 100 {
			t.Fatalf("the store did not recover: %v", err)
		}
	}
	// The feed lost its connection too: it reconnects and signals, since
	// changes may have been missed meanwhile, and then delivers new ones.
	next("reconnected")
	if _, err := s.UpdateTenant(ctx, "ten_1", func(x store.Tenant) (store.Tenant, error) { x.Name = "uno"; return x, nil }); err != nil {
		t.Fatal(err)
	}
	next("change after reconnecting")
}

// TestNoDriverErrors: callers see store sentinels wrapped with what was
// being done, never pgx's error types.
func TestNoDriverErrors(t *testing.T) {
	s := storetest.OpenPostgres(t)
	ctx := t.Context()
	tn := store.Tenant{ID: "ten_1", Name: "one", Status: store.StatusActive}
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	_, err := s.UpdateTenant(ctx, "ten_1", func(x store.Tenant) (store.Tenant, error) { return x, nil })
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		err  error
		want error
	}{
		{"unique", s.CreateTenant(ctx, store.Tenant{ID: "ten_2", Name: "one"}), store.ErrConflict},
		{"foreign key", s.CreatePrincipal(ctx, store.Principal{ID: "prn_1", TenantID: "ten_missing"}), store.ErrNotFound},
	} {
		var pe *pgconn.PgError
		if !errors.Is(c.err, c.want) || errors.As(c.err, &pe) {
			t.Errorf("%s: %v (driver error reachable: %v)", c.name, c.err, pe != nil)
		}
	}
}
