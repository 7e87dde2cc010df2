package legacykeys

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// TestTakenIDIsDrawnAgain: an imported key whose drawn id is already taken
// by another key is inserted under a new id, not counted as present; a key
// whose hash is stored is skipped and found held, on both backends.
func TestTakenIDIsDrawnAgain(t *testing.T) {
	for _, be := range []struct {
		name string
		open func(testing.TB) store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}} {
		t.Run(be.name, func(t *testing.T) {
			st := be.open(t)
			ctx := context.Background()
			now := time.Date(2031, 3, 14, 15, 9, 26, 0, time.UTC)
			mk := func(id string, b byte) store.LegacyKey {
				return store.LegacyKey{ID: id, Hash: bytes.Repeat([]byte{b}, 32), TenantID: "ten_a", OwnerRef: "ext-1",
					Scopes: []string{}, Source: store.SourceImported, Status: store.StatusActive, CreatedAt: now, UpdatedAt: now, AddedAt: now}
			}
			existing := mk("key_aaaaaaaaaaaaaaaa", 1)
			if err := st.CreateLegacyKey(ctx, existing); err != nil {
				t.Fatal(err)
			}
			cands := []candidate{
				{key: mk(existing.ID, 2), drawn: true},            // a new key, its id taken
				{key: mk("key_bbbbbbbbbbbbbbbb", 1), drawn: true}, // the stored key again
			}
			var skipped []bool
			var held map[string]store.LegacyKey
			err := st.Tx(ctx, func(tx store.Tx) error {
				var err error
				skipped, held, err = (&Service{}).insertKeys(ctx, tx, cands, newIDSequence(now))
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if skipped[0] || !skipped[1] {
				t.Fatalf("skipped %v, want [false true]", skipped)
			}
			if cands[0].key.ID == existing.ID || !store.HasPrefix(cands[0].key.ID, store.PrefixKey) {
				t.Fatalf("the new key kept the taken id or got a malformed one: %q", cands[0].key.ID)
			}
			got, err := st.GetLegacyKeyByHash(ctx, cands[0].key.Hash)
			if err != nil || got.ID != cands[0].key.ID {
				t.Fatalf("the new key is stored as %q (%v), want %q", got.ID, err, cands[0].key.ID)
			}
			if h, ok := held[string(existing.Hash)]; !ok || h.ID != existing.ID {
				t.Fatalf("held %+v, want the stored key %s", held, existing.ID)
			}
		})
	}
}

// TestIDSequence: ids of one sequence are distinct, well formed, share the
// time prefix and follow each other; the counter wraps within its bits.
func TestIDSequence(t *testing.T) {
	now := time.Date(2031, 3, 14, 15, 9, 26, 0, time.UTC)
	q := newIDSequence(now)
	copy(q.b[5:], []byte{0xff, 0xff, 0xff, 0xff, 0xfe})
	seen := map[string]bool{}
	var prev string
	for i := range 4 {
		id := q.next()
		if !store.HasPrefix(id, store.PrefixKey) || seen[id] {
			t.Fatalf("id %d %q: malformed or repeated", i, id)
		}
		if prev != "" && id[:len(store.PrefixKey)+8] != prev[:len(store.PrefixKey)+8] {
			t.Fatalf("%q and %q do not share the time prefix", prev, id)
		}
		seen[id], prev = true, id
	}
	if q.b[5] != 0 || q.b[6] != 0 || q.b[9] != 2 {
		t.Fatalf("counter after wrapping: %x", q.b[5:])
	}
}
