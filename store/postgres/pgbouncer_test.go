package postgres_test

import (
	"context"
	"errors"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/postgres"
	"github.com/authz/authz/store/postgres/pgproc"
	"github.com/authz/authz/store/storetest"
)

// testServer is the shared test PostgreSQL (AUTHZ_TEST_POSTGRES).
func testServer() string {
	if u := os.Getenv("AUTHZ_TEST_POSTGRES"); u != "" {
		return u
	}
	return storetest.DefaultPostgres
}

// pooler starts a PgBouncer in transaction mode in front of the test
// server.
func pooler(t *testing.T) *pgproc.PgBouncer {
	t.Helper()
	u, err := url.Parse(testServer())
	if err != nil {
		t.Fatal(err)
	}
	port := 5432
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			t.Fatal(err)
		}
	}
	return pgproc.StartPgBouncer(t, u.Hostname(), port)
}

// TestConformanceThroughPgBouncer runs the store suite's token and
// exchange paths through a real PgBouncer in pool_mode=transaction, with
// no direct connection: every statement may land on another server
// connection, so anything that relied on session state (named prepared
// statements, session advisory locks, SET) fails here.
func TestConformanceThroughPgBouncer(t *testing.T) {
	b := pooler(t)
	storetest.RunOnly(t, func(t *testing.T) store.Store {
		return openPooled(t, b.Through(t, pgproc.TempDatabase(t, testServer())))
	},
		// Issuing a token: the directory's reads, the signing keys and their
		// lock, the audit chain, the status list, lockouts and usage.
		"Tenants", "Principals", "Clients", "RolesAndBindings", "Audiences",
		"SigningKeys", "SigningKeyLock", "Generation", "Audit", "AuditHeadLock", "AuditAppend",
		"AssertionJTI", "RevokedTokens", "StatusList", "AllocateStatusIndexConcurrently",
		"AllocateStatusIndexes", "AllocateStatusIndexesConcurrently",
		"StatusEntries", "AuthFailures", "HourlyUses", "CredentialNetworks",
		// Exchanging a legacy key.
		"LegacyKeys", "GetLegacyKeysByHash", "KeyUsage",
		// Transactions.
		"TxRollback", "TxAbortedAfterError", "ConcurrentUpdates",
	)
}

func openPooled(t *testing.T, dsn string, opts ...postgres.Option) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), dsn, append([]postgres.Option{postgres.WithTransactionPooler()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestPgBouncerConcurrentOpen: replicas starting together behind the
// pooler, without a direct connection, migrate once (goose's lock table;
// a session advisory lock would stay on a pooled server connection).
func TestPgBouncerConcurrentOpen(t *testing.T) {
	b := pooler(t)
	dsn := b.Through(t, pgproc.TempDatabase(t, testServer()))
	const n = 3
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			s, err := postgres.Open(t.Context(), dsn, postgres.WithTransactionPooler())
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	// Opening again migrates nothing and takes no lock that a previous
	// open left behind.
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	s, err := postgres.Open(ctx, dsn, postgres.WithTransactionPooler())
	if err != nil {
		t.Fatalf("open after the concurrent opens: %v", err)
	}
	s.Close()
}

// TestPgBouncerChanges: behind the pooler, changes are pushed over the
// direct --database-listen-url connection; without one, Changes is nil and
// replicas poll.
func TestPgBouncerChanges(t *testing.T) {
	b := pooler(t)
	direct := pgproc.TempDatabase(t, testServer())
	pooled := b.Through(t, direct)
	listening := openPooled(t, pooled, postgres.WithListenURL(direct))
	polling := openPooled(t, pooled)
	if polling.Changes(t.Context()) != nil {
		t.Fatal("a pooled store without a listen URL offers a change feed; LISTEN through a transaction pooler hears nothing")
	}
	feed := listening.Changes(t.Context())
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
	wait("listening")
	if err := polling.CreateTenant(t.Context(), store.Tenant{ID: "ten_1", Name: "one", Status: store.StatusActive}); err != nil {
		t.Fatal(err)
	}
	wait("a change committed through the pooler by the other replica")
	if g, err := polling.Generation(t.Context()); err != nil || g < 1 {
		t.Fatalf("Generation through the pooler = %d, %v", g, err)
	}
}

// TestPoolerBadInput: an unreachable pooler and a listen URL naming
// another database each fail Open with what to fix, and migrate nothing.
func TestPoolerBadInput(t *testing.T) {
	free := pgproc.FreePort(t)
	_, err := postgres.Open(t.Context(), "postgres://authz:s3cret@127.0.0.1:"+strconv.Itoa(free)+"/authz?sslmode=disable", postgres.WithTransactionPooler())
	want := "cannot reach the pooler at 127.0.0.1:" + strconv.Itoa(free) + ": connection refused; check --database / AUTHZ_DATABASE"
	if err == nil || err.Error() != want || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("unreachable pooler:\n got %v\nwant %s", err, want)
	}

	b := pooler(t)
	direct := pgproc.TempDatabase(t, testServer())
	other := storetest.PostgresURL(t) // the test database, another schema
	_, err = postgres.Open(t.Context(), b.Through(t, direct), postgres.WithListenURL(other))
	if err == nil || !strings.Contains(err.Error(), "--database-listen-url / AUTHZ_DATABASE_LISTEN_URL reaches database/schema") ||
		!strings.Contains(err.Error(), "both must name the same database and search_path") {
		t.Fatalf("listen URL on another database: %v", err)
	}
	// Nothing was migrated on either side.
	for _, dsn := range []string{direct, other} {
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
			t.Errorf("a refused Open left %d tables behind", n)
		}
	}

	// A pooler that is up but cannot reach PostgreSQL.
	dead := pgproc.StartPgBouncer(t, "127.0.0.1", pgproc.FreePort(t))
	_, err = postgres.Open(t.Context(), dead.URL("authz"), postgres.WithTransactionPooler())
	if err == nil || !strings.HasPrefix(err.Error(), "the pooler at 127.0.0.1:"+strconv.Itoa(dead.Port)+" answers, but no PostgreSQL answered through it (") ||
		!strings.HasSuffix(err.Error(), "check that PostgreSQL behind it is up and that the pooler's [databases] entry names it") || !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a pooler without its server: %v", err)
	}
}
