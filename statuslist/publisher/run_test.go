package publisher_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/authz/authz/statuslist"
	"github.com/authz/authz/statuslist/publisher"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// fetch returns the published status of idx without forcing a build, or
// ok=false if no list is served yet.
func (e *env) fetch(idx int64) (statuslist.Status, bool) {
	e.t.Helper()
	rec := e.get(nil)
	if rec.Code != http.StatusOK {
		return 0, false
	}
	claims, _, err := e.keys.Verify(e.ctx, rec.Body.String(), statuslist.TokenType)
	e.must(err)
	_, l, err := statuslist.ParseToken(claims, e.p.URI(), issuer, e.clock.Now(), 0)
	e.must(err)
	s, err := l.Get(idx)
	if err != nil {
		return 0, false
	}
	return s, true
}

// waitFor polls until the published status of idx is want. The deadline
// only keeps a broken build from hanging the test; nothing is timed.
func (e *env) waitFor(idx int64, want statuslist.Status) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if got, ok := e.fetch(idx); ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			got, ok := e.fetch(idx)
			e.t.Fatalf("index %d is published as %v (served: %v), want %v", idx, got, ok, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Run publishes by itself: the first list, changes that move the
// generation, and changes that do not (token revocation) at the next
// rescan.
func TestRunPublishesChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, func(c *publisher.Config) {
			c.PollInterval, c.MinRebuildInterval = 20*time.Millisecond, 20*time.Millisecond
		})
		c := e.chain("a")
		idx := e.idx(c.keyCred)
		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan error)
		go func() { done <- e.p.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})

		e.waitFor(idx, statuslist.Valid)
		e.updatePrincipal(c.owner.ID, store.StatusSuspended)
		e.waitFor(idx, statuslist.Suspended)
		e.updatePrincipal(c.owner.ID, store.StatusActive)
		e.waitFor(idx, statuslist.Valid)

		// A key expiring changes nothing in the store: the build that saw
		// the expiry date rebuilds at that moment.
		exp := e.chain("expiring")
		expIdx := e.idx(exp.keyCred)
		e.updateKey(exp.key.ID, func(k *store.LegacyKey) { at := e.clock.Now().Add(10 * time.Second); k.ExpiresAt = &at })
		e.waitFor(expIdx, statuslist.Valid)
		e.clock.Advance(10 * time.Second)
		e.waitFor(expIdx, statuslist.Invalid)

		// No generation moves: seen at the rescan, RescanInterval (the
		// 30 s ttl) later on the publisher's clock.
		e.must(e.st.InvalidateStatusIndex(e.ctx, c.keyCred, e.clock.Now()))
		e.clock.Advance(publisher.DefaultTTL)
		e.waitFor(idx, statuslist.Invalid)
	})
}
