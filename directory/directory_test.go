package directory_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authz/authz/directory"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/backends"
	"github.com/authz/authz/store/storetest"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newPrincipal(t *testing.T, st store.Store) store.Principal {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	tn := store.Tenant{ID: store.NewID(store.PrefixTenant), Name: store.NewID(""), Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}
	if err := st.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	p := store.Principal{ID: store.NewID(store.PrefixPrincipal), TenantID: tn.ID, Kind: store.KindService, DisplayName: "svc", Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}
	if err := st.CreatePrincipal(ctx, p); err != nil {
		t.Fatal(err)
	}
	return p
}

func suspend(t *testing.T, st store.Store, id string) {
	t.Helper()
	if _, err := st.UpdatePrincipal(context.Background(), id, func(p store.Principal) (store.Principal, error) {
		p.Status = store.StatusSuspended
		return p, nil
	}); err != nil {
		t.Fatal(err)
	}
}

// startDirectory returns a Directory whose freshness is confirmed (as Run
// does on its first check) and its hit counter.
func startDirectory(t *testing.T, st store.Store, c *clock) (*directory.Directory, func() float64) {
	t.Helper()
	reg := prometheus.NewRegistry()
	d := directory.New(st, directory.Config{Registerer: reg, Now: c.now, PollInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	hits := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "authz_directory_hits_total" {
				return mf.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return 0
	}
	// Run's first check confirms the generation; wait for it.
	for deadline := time.Now().Add(5 * time.Second); ; {
		p := newPrincipal(t, st)
		d.GetPrincipal(context.Background(), p.ID)
		if _, err := d.GetPrincipal(context.Background(), p.ID); err == nil && hits() > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the directory never started caching")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return d, hits
}

func TestCachesAndSeesOwnChangesAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		st := open(t)
		c := &clock{t: time.Now()}
		d, hits := startDirectory(t, st, c)
		p := newPrincipal(t, st)
		ctx := context.Background()
		repeatHits(t, hits, func() {
			if got, err := d.GetPrincipal(ctx, p.ID); err != nil || got.Status != store.StatusActive {
				t.Fatalf("read: %v %v", got.Status, err)
			}
		})
		// A change committed by this process is seen by the very next read,
		// without waiting for a poll (PollInterval is an hour here).
		suspend(t, st, p.ID)
		if got, _ := d.GetPrincipal(ctx, p.ID); got.Status != store.StatusSuspended {
			t.Fatalf("after a local suspension the directory says %s", got.Status)
		}
	})
}

// repeatHits asserts that a read repeated right after itself is a cache
// hit. It retries because on PostgreSQL the NOTIFY of a fixture's own
// creation may flush the cache between the two reads.
func repeatHits(t *testing.T, hits func() float64, read func()) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		read()
		before := hits()
		read()
		if hits() == before+1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("a repeated read never hit the cache")
		}
	}
}

func TestUnknownIsCached(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		st := open(t)
		c := &clock{t: time.Now()}
		d, hits := startDirectory(t, st, c)
		repeatHits(t, hits, func() {
			if _, err := d.GetClient(context.Background(), "cli_nosuch"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("unknown client: %v", err)
			}
		})
	})
}

func TestBypassesCacheWhenFreshnessIsUnconfirmed(t *testing.T) {
	st := storetest.OpenSQLite(t)
	c := &clock{t: time.Now()}
	d, hits := startDirectory(t, st, c)
	ctx := context.Background()
	p := newPrincipal(t, st)
	d.GetPrincipal(ctx, p.ID)
	// No generation check for longer than MaxStaleness (the poll is an hour
	// away): the cache may be stale, so reads go to the store.
	c.advance(time.Second)
	before := hits()
	if _, err := d.GetPrincipal(ctx, p.ID); err != nil || hits() != before {
		t.Fatalf("read with unconfirmed freshness: %v, hits %v→%v", err, before, hits())
	}
}

// openTwice opens one database as two replicas would: two stores, two pools.
func openTwice(t *testing.T, url string) (store.Store, store.Store) {
	t.Helper()
	var out [2]store.Store
	for i := range out {
		st, err := backends.Open(context.Background(), url, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		out[i] = st
	}
	return out[0], out[1]
}

func TestSeesAnotherReplicasChange(t *testing.T) {
	for name, url := range map[string]func(testing.TB) string{"sqlite": storetest.SQLiteURL, "postgres": storetest.PostgresURL} {
		t.Run(name, func(t *testing.T) { seesAnotherReplicasChange(t, url(t)) })
	}
}

func seesAnotherReplicasChange(t *testing.T, url string) {
	{
		st, other := openTwice(t, url)
		d := directory.New(st, directory.Config{PollInterval: 20 * time.Millisecond})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go d.Run(ctx)
		p := newPrincipal(t, st)
		d.GetPrincipal(ctx, p.ID)
		// Another replica's store: this one's LocalChanges does not move, so
		// only the generation poll (or NOTIFY) can tell.
		suspend(t, other, p.ID)
		deadline := time.Now().Add(10 * time.Second)
		for {
			if got, _ := d.GetPrincipal(ctx, p.ID); got.Status == store.StatusSuspended {
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("another replica's suspension never reached the directory")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
