package publisher_test

import (
	"errors"
	"testing"
	"time"

	"github.com/authz/authz/statuslist"
	"github.com/authz/authz/statuslist/publisher"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// The published status of a credential's index follows its chain:
// suspensions make it SUSPENDED and resuming brings it back; revocation,
// deletion and expiry make it INVALID.
//
// Both kinds of build are held to it: every build reading every entry, and
// builds reading the exceptions after a first full one. A state no code
// writes (a key pointing at a missing owner) is only seen by a full build,
// so in the second mode it is checked once FullScanInterval has passed.
func TestListFollowsTheChain(t *testing.T) {
	for _, mode := range []struct {
		name string
		full time.Duration
	}{{"full builds", time.Nanosecond}, {"exceptions", 0}} {
		t.Run(mode.name, func(t *testing.T) {
			testListFollowsTheChain(t, mode.full)
		})
	}
}

func testListFollowsTheChain(t *testing.T, fullScanInterval time.Duration) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, func(c *publisher.Config) { c.FullScanInterval = fullScanInterval })
		e.list() // the first build reads every entry
		// No code writes these states; only a full build sees them.
		byHand := map[string]bool{"key points at a missing owner": true}
		const (
			valid     = statuslist.Valid
			invalid   = statuslist.Invalid
			suspended = statuslist.Suspended
		)
		for _, tc := range []struct {
			name   string
			change func(c chain)
			// The client's and the key's status after change.
			client, key statuslist.Status
			// resume, if set, undoes change; both are VALID again after it.
			resume func(c chain)
		}{
			{"nothing changed", func(chain) {}, valid, valid, nil},
			{"client suspended", func(c chain) { e.updateClient(c.client.ID, store.StatusSuspended) }, suspended, valid,
				func(c chain) { e.updateClient(c.client.ID, store.StatusActive) }},
			{"owner suspended", func(c chain) { e.updatePrincipal(c.owner.ID, store.StatusSuspended) }, suspended, suspended,
				func(c chain) { e.updatePrincipal(c.owner.ID, store.StatusActive) }},
			{"tenant suspended", func(c chain) { e.updateTenant(c.tenant.ID, store.StatusSuspended) }, suspended, suspended,
				func(c chain) { e.updateTenant(c.tenant.ID, store.StatusActive) }},
			{"owner deleted", func(c chain) { e.updatePrincipal(c.owner.ID, store.StatusDeleted) }, invalid, invalid, nil},
			{"client deleted", func(c chain) { e.must(e.st.DeleteClient(e.ctx, c.client.ID, e.clock.Now())) }, invalid, valid, nil},
			{"key revoked (as legacykeys revokes)", func(c chain) {
				e.must(e.st.Tx(e.ctx, func(tx store.Tx) error {
					if _, err := tx.UpdateLegacyKey(e.ctx, c.key.ID, func(k store.LegacyKey) (store.LegacyKey, error) {
						now := e.clock.Now()
						k.Status, k.RevokedAt, k.RevokedBy = store.StatusRevoked, &now, "admin:test"
						return k, nil
					}); err != nil {
						return err
					}
					return tx.InvalidateStatusIndex(e.ctx, c.keyCred, e.clock.Now())
				}))
			}, valid, invalid, nil},
			{"key revoked without ending the epoch", func(c chain) {
				e.updateKey(c.key.ID, func(k *store.LegacyKey) {
					now := e.clock.Now()
					k.Status, k.RevokedAt = store.StatusRevoked, &now
				})
			}, valid, invalid, nil},
			{"key expired", func(c chain) {
				e.updateKey(c.key.ID, func(k *store.LegacyKey) { at := e.clock.Now().Add(time.Minute); k.ExpiresAt = &at })
				e.clock.Advance(time.Minute)
			}, valid, invalid, nil},
			{"key points at a missing owner", func(c chain) {
				e.updateKey(c.key.ID, func(k *store.LegacyKey) { k.OwnerID = "prn_missing" })
			}, valid, invalid, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := e.chain(tc.name)
				ci, ki := e.idx(c.clientCred), e.idx(c.keyCred)
				if ci == ki {
					t.Fatalf("client and key share index %d", ci)
				}
				tc.change(c)
				if byHand[tc.name] {
					e.clock.Advance(publisher.DefaultFullScanInterval)
				}
				_, l := e.list()
				for _, x := range []struct {
					what string
					idx  int64
					want statuslist.Status
				}{{"client", ci, tc.client}, {"key", ki, tc.key}} {
					if got, err := l.Get(x.idx); err != nil || got != x.want {
						t.Errorf("%s index %d: %v, %v; want %v", x.what, x.idx, got, err, x.want)
					}
				}
				if tc.resume == nil {
					return
				}
				tc.resume(c)
				if got := e.status(ci); got != valid {
					t.Errorf("client after resuming: %v, want VALID", got)
				}
				if got := e.status(ki); got != valid {
					t.Errorf("key after resuming: %v, want VALID", got)
				}
			})
		}
	})
}

// A credential keeps one index across tokens; another credential gets
// another; ending the epoch gives the credential a new index and leaves
// the old one INVALID.
func TestIndexPerCredentialEpoch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, nil)
		a, b := e.chain("a"), e.chain("b")
		first := e.idx(a.clientCred)
		for range 3 {
			if got := e.idx(a.clientCred); got != first {
				t.Fatalf("second token of one credential: index %d, want %d", got, first)
			}
		}
		if other := e.idx(b.clientCred); other == first {
			t.Fatalf("two credentials share index %d", first)
		}

		// An admin change ends the epoch (key reassignment, revocation):
		// the very next token of this replica gets a new index.
		keyIdx := e.idx(a.keyCred)
		e.must(e.st.Tx(e.ctx, func(tx store.Tx) error {
			if _, err := tx.UpdateLegacyKey(e.ctx, a.key.ID, func(k store.LegacyKey) (store.LegacyKey, error) {
				k.OwnerID = b.owner.ID
				return k, nil
			}); err != nil {
				return err
			}
			return tx.InvalidateStatusIndex(e.ctx, a.keyCred, e.clock.Now())
		}))
		reassigned := e.idx(a.keyCred)
		if reassigned == keyIdx {
			t.Fatalf("after the epoch ended the key still gets index %d", keyIdx)
		}
		if got := e.status(keyIdx); got != statuslist.Invalid {
			t.Fatalf("ended epoch's index %d: %v, want INVALID", keyIdx, got)
		}
		if got := e.status(reassigned); got != statuslist.Valid {
			t.Fatalf("new epoch's index %d: %v, want VALID", reassigned, got)
		}

		// RFC 7009 revocation ends the epoch in a transaction that moves
		// no generation (oauth's serveRevoke); the next build notices.
		e.must(e.st.Tx(e.ctx, func(tx store.Tx) error {
			if err := tx.RevokeToken(e.ctx, "jti-1", e.clock.Now().Add(time.Minute)); err != nil {
				return err
			}
			return tx.InvalidateStatusIndex(e.ctx, a.clientCred, e.clock.Now())
		}))
		if got := e.status(first); got != statuslist.Invalid {
			t.Fatalf("revoked epoch's index %d: %v, want INVALID", first, got)
		}
		next := e.idx(a.clientCred)
		if next == first {
			t.Fatalf("after revocation and a build the client still gets index %d", first)
		}
		if got := e.status(next); got != statuslist.Valid {
			t.Fatalf("index %d after revocation: %v, want VALID", next, got)
		}
	})
}

// An index whose epoch ended is published VALID once no token can carry
// it any more, and is given to another credential once no list that
// called it INVALID can be relied on.
func TestEndedIndicesAreReclaimed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, nil)
		a := e.chain("a")
		idx := e.idx(a.keyCred)
		e.must(e.st.InvalidateStatusIndex(e.ctx, a.keyCred, e.clock.Now()))
		if got := e.status(idx); got != statuslist.Invalid {
			t.Fatalf("ended epoch: %v, want INVALID", got)
		}
		// MaxTokenLifetime (1 h) + ClaimCacheMaxAge (1 min) + skew (1 min).
		e.clock.Advance(time.Hour + 2*time.Minute - time.Second)
		if got := e.status(idx); got != statuslist.Invalid {
			t.Fatalf("just before retirement: %v, want INVALID", got)
		}
		if n, err := e.p.Purge(e.ctx); err != nil || n != 0 {
			t.Fatalf("Purge before the lists expired = %d, %v; want 0", n, err)
		}
		e.clock.Advance(2 * time.Second)
		if got := e.status(idx); got != statuslist.Valid {
			t.Fatalf("retired: %v, want VALID", got)
		}
		// + Validity (5 min) + TTL (30 s) + skew (1 min).
		e.clock.Advance(6*time.Minute + 30*time.Second)
		if n, err := e.p.Purge(e.ctx); err != nil || n != 1 {
			t.Fatalf("Purge = %d, %v; want 1", n, err)
		}
		b := e.chain("b")
		if got := e.idx(b.clientCred); got != idx {
			t.Fatalf("new credential got index %d, want the reclaimed %d", got, idx)
		}
		if got := e.status(idx); got != statuslist.Valid {
			t.Fatalf("reused index: %v, want VALID", got)
		}
	})
}

// The list covers every allocated index, with room to spare, in whole
// blocks, and stays small.
func TestListSize(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite, nil)
	var top int64
	for i := range 5 {
		top = max(top, e.idx(e.chain(string(rune('a'+i))).keyCred))
	}
	tok, l := e.list()
	if l.Len() <= top || l.Len()%8192 != 0 {
		t.Fatalf("Len = %d for top index %d, want a multiple of 8192 beyond it", l.Len(), top)
	}
	if tok.StatusList.Bits != 2 {
		t.Fatalf("bits = %d, want 2", tok.StatusList.Bits)
	}
	if n := len(tok.StatusList.Lst); n > 200 {
		t.Fatalf("lst of an almost empty list is %d characters", n)
	}
}

// Builds end the epochs of credentials that can never issue again (a
// deleted client, an expired key, a deleted owner's credentials), so that
// their indices are reclaimed like those of revoked tokens; they stay
// INVALID until they retire.
func TestDeadCredentialsAreReclaimed(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e := newEnv(t, open, nil)
		deleted, expired, orphaned, alive := e.chain("deleted"), e.chain("expired"), e.chain("orphaned"), e.chain("alive")
		idx := map[string]int64{}
		for _, cred := range []string{deleted.clientCred, expired.keyCred, orphaned.clientCred, orphaned.keyCred, alive.clientCred} {
			idx[cred] = e.idx(cred)
		}
		e.list() // a full build first: the next reads the exceptions
		e.must(e.st.DeleteClient(e.ctx, deleted.client.ID, e.clock.Now()))
		e.updateKey(expired.key.ID, func(k *store.LegacyKey) { at := e.clock.Now(); k.ExpiresAt = &at })
		e.updatePrincipal(orphaned.owner.ID, store.StatusDeleted)
		e.updatePrincipal(alive.owner.ID, store.StatusSuspended) // reversible: kept

		_, l := e.list()
		for cred, i := range idx {
			want := statuslist.Invalid
			if cred == alive.clientCred {
				want = statuslist.Suspended
			}
			if got, _ := l.Get(i); got != want {
				t.Errorf("%s (index %d): %v, want %v", cred, i, got, want)
			}
			_, err := e.st.GetStatusIndex(e.ctx, cred)
			if ended := errors.Is(err, store.ErrNotFound); ended != (cred != alive.clientCred) {
				t.Errorf("%s: epoch ended = %v (%v)", cred, ended, err)
			}
		}

		e.clock.Advance(2 * time.Hour)
		e.list()
		if n, err := e.p.Purge(e.ctx); err != nil || n != 4 {
			t.Fatalf("Purge = %d, %v; want the 4 dead credentials' indices", n, err)
		}
		smallest := int64(-1)
		for cred, i := range idx {
			if cred != alive.clientCred && (smallest < 0 || i < smallest) {
				smallest = i
			}
		}
		if got := e.idx(e.chain("new").clientCred); got != smallest {
			t.Fatalf("a new credential got index %d, want the smallest reclaimed %d", got, smallest)
		}
	})
}
