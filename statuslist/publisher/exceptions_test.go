package publisher_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authz/authz/statuslist"
	"github.com/authz/authz/statuslist/publisher"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// A build that reads only the exceptions publishes the same list as one
// that reads every entry, whatever mix of states the code writes: the
// exceptions query misses nothing that is not VALID.
func TestExceptionsBuildMatchesFullBuild(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		reg := prometheus.NewRegistry()
		e := newEnv(t, open, func(c *publisher.Config) { c.Registerer = reg })
		now := func() *time.Time { n := e.clock.Now(); return &n }
		changes := []func(c chain){
			func(c chain) {},
			func(c chain) { e.updateClient(c.client.ID, store.StatusSuspended) },
			func(c chain) { e.updatePrincipal(c.owner.ID, store.StatusSuspended) },
			func(c chain) { e.updateTenant(c.tenant.ID, store.StatusSuspended) },
			func(c chain) { e.updatePrincipal(c.owner.ID, store.StatusDeleted) },
			func(c chain) { // revoked as legacykeys revokes, and as a racing exchange leaves it
				e.updateKey(c.key.ID, func(k *store.LegacyKey) { k.Status, k.RevokedAt = store.StatusRevoked, now() })
			},
			func(c chain) { e.updateKey(c.key.ID, func(k *store.LegacyKey) { k.ExpiresAt = now() }) },
			func(c chain) { // expires later: not yet
				e.updateKey(c.key.ID, func(k *store.LegacyKey) { at := e.clock.Now().Add(time.Hour); k.ExpiresAt = &at })
			},
			func(c chain) { e.must(e.st.InvalidateStatusIndex(e.ctx, c.keyCred, e.clock.Now())) },
			func(c chain) { // a new epoch after the old one ended
				e.must(e.st.InvalidateStatusIndex(e.ctx, c.clientCred, e.clock.Now()))
				e.idx(c.clientCred)
			},
			func(c chain) { // suspended and resumed
				e.updatePrincipal(c.owner.ID, store.StatusSuspended)
				e.updatePrincipal(c.owner.ID, store.StatusActive)
			},
			// Last: nothing can change a deleted client.
			func(c chain) { e.must(e.st.DeleteClient(e.ctx, c.client.ID, e.clock.Now())) },
		}
		var chains []chain
		for i := range 2 * len(changes) {
			c := e.chain(fmt.Sprint("chain-", i))
			e.idx(c.clientCred)
			e.idx(c.keyCred)
			chains = append(chains, c)
		}
		e.list() // a full build: the next reads the exceptions
		e.clock.Advance(time.Minute)
		// Every change once alone and once after another.
		last := len(changes) - 1
		for i, c := range chains {
			if i >= len(changes) {
				changes[(i*5)%last](c)
			}
			changes[i%len(changes)](c)
		}
		// Right after the changes, the exceptions find them by their
		// time; once a later full build has ended the dead epochs and
		// moved the window past the changes, by the ended epochs.
		e.clock.Advance(time.Second)
		e.compareWithFullBuild(reg, 4*len(chains), 1)
		e.clock.Advance(publisher.DefaultFullScanInterval)
		e.list() // a full build
		e.clock.Advance(publisher.DefaultFullScanInterval / 2)
		e.compareWithFullBuild(reg, 4*len(chains), 2)
	})
}

// A full build that found more dead epochs than it may end is followed by
// another full build, until one has ended them all: only then may the
// exceptions leave out what died before it.
func TestFullBuildRepeatsUntilEveryDeadEpochEnded(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		reg := prometheus.NewRegistry()
		e := newEnv(t, open, func(c *publisher.Config) { c.Registerer = reg })
		publisher.SetMaxEndPerBuild(e.p, 2)
		var dead []chain
		for i := range 3 {
			c := e.chain(fmt.Sprint("dead-", i))
			e.idx(c.keyCred)
			// Revoked without its epoch ended, as a racing exchange leaves it.
			e.updateKey(c.key.ID, func(k *store.LegacyKey) { now := e.clock.Now(); k.Status, k.RevokedAt = store.StatusRevoked, &now })
			dead = append(dead, c)
		}
		current := func() int {
			n := 0
			for _, c := range dead {
				if _, err := e.st.GetStatusIndex(e.ctx, c.keyCred); err == nil {
					n++
				}
			}
			return n
		}
		for i, want := range []struct {
			full, exceptions float64
			current          int
		}{{1, 0, 1}, {2, 0, 0}, {2, 1, 0}} {
			e.clock.Advance(time.Second)
			e.list()
			if got := gauge(t, reg, "authz_statuslist_scans_total", "full"); got != want.full {
				t.Errorf("build %d: %v full builds so far, want %v", i+1, got, want.full)
			}
			if want.exceptions > 0 {
				if got := gauge(t, reg, "authz_statuslist_scans_total", "exceptions"); got != want.exceptions {
					t.Errorf("build %d: %v exceptions builds so far, want %v", i+1, got, want.exceptions)
				}
			}
			if got := current(); got != want.current {
				t.Errorf("build %d: %d dead epochs not yet ended, want %d", i+1, got, want.current)
			}
		}
	})
}

// compareWithFullBuild makes an exceptions build of e's publisher (its
// exceptionsBuilds-th) and a full build of a new publisher over the same
// store, and checks that they publish the same list, that they count the
// entries by status alike and every allocated entry once, and that at
// least a quarter of the first n indices are not VALID.
func (e *env) compareWithFullBuild(reg *prometheus.Registry, n, exceptionsBuilds int) {
	t := e.t
	t.Helper()
	tok, got := e.list()
	if c := gauge(t, reg, "authz_statuslist_scans_total", "exceptions"); c != float64(exceptionsBuilds) {
		t.Fatalf("exceptions builds: %v, want %d", c, exceptionsBuilds)
	}
	fullReg := prometheus.NewRegistry()
	fullCfg := e.cfg
	fullCfg.Registerer = fullReg
	full, err := publisher.New(e.st, e.keys, fullCfg) // its first build reads every entry
	e.must(err)
	e.must(full.Refresh(e.ctx))
	rec := httptest.NewRecorder()
	full.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, publisher.PathList, nil))
	claims, _, err := e.keys.Verify(e.ctx, rec.Body.String(), statuslist.TokenType)
	e.must(err)
	want, wantList, err := statuslist.ParseToken(claims, full.URI(), issuer, e.clock.Now(), 0)
	e.must(err)
	if tok.StatusList.Lst != want.StatusList.Lst {
		for i := range int64(n) {
			g, _ := got.Get(i)
			w, _ := wantList.Get(i)
			if g != w {
				t.Errorf("index %d: %v from the exceptions, %v from every entry", i, g, w)
			}
		}
		t.Fatal("the lists differ")
	}
	all, err := e.st.ListStatusEntries(e.ctx, -1, 10_000)
	e.must(err)
	var sum float64
	for _, st := range []string{"VALID", "INVALID", "SUSPENDED"} {
		got, want := gauge(t, reg, "authz_statuslist_entries", st), gauge(t, fullReg, "authz_statuslist_entries", st)
		if got != want {
			t.Errorf("entries{status=%s}: %v from the exceptions, %v from every entry", st, got, want)
		}
		sum += got
	}
	if sum != float64(len(all)) {
		t.Errorf("entries by status add up to %v, want the %d allocated", sum, len(all))
	}
	var notValid int
	for i := range int64(n) {
		if s, _ := wantList.Get(i); s != statuslist.Valid {
			notValid++
		}
	}
	if notValid < n/4 {
		t.Fatalf("only %d of %d entries are not VALID: the changes did not take", notValid, n)
	}
}

// gauge reads the value of a metric of reg with the one label value given.
func gauge(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label {
				return m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no %s{%s} in the registry", name, label)
	return 0
}
