package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

// testKeyClaims: the members of an open conflict are found from any
// member, holder first; a resolved conflict is no longer found, and a new
// conflict of the same key starts afresh.
func testKeyClaims(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	claim := func(conflict, key, tenant string, holder bool, claimedAt time.Duration) store.KeyClaim {
		return store.KeyClaim{ConflictID: conflict, KeyID: key, TenantID: tenant, Holder: holder, Proof: "sha256",
			PriorStatus: store.StatusActive, ClaimedAt: at(claimedAt), ClaimedBy: "admin:cli_a"}
	}
	for _, id := range []string{"key_h", "key_a", "key_c"} {
		got, err := s.ListKeyClaims(ctx, id)
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("ListKeyClaims(%s) before any conflict = %+v", id, got)
		}
	}
	must(t, s.AddKeyClaims(ctx, []store.KeyClaim{claim("kcf_1", "key_h", "ten_b", true, 0), claim("kcf_1", "key_a", "ten_a", false, time.Second)}))
	must(t, s.AddKeyClaims(ctx, []store.KeyClaim{claim("kcf_1", "key_c", "ten_c", false, 2*time.Second)}))
	want := []string{"key_h", "key_a", "key_c"}
	for _, id := range want {
		got, err := s.ListKeyClaims(ctx, id)
		must(t, err)
		if len(got) != 3 {
			t.Fatalf("ListKeyClaims(%s) = %d members, want 3", id, len(got))
		}
		for i, c := range got {
			if c.KeyID != want[i] || c.ConflictID != "kcf_1" || c.ResolvedAt != nil || c.Outcome != "" {
				t.Fatalf("ListKeyClaims(%s)[%d] = %+v, want key %s, open", id, i, c, want[i])
			}
		}
		if !got[0].Holder || got[1].Holder || got[0].TenantID != "ten_b" || !got[1].ClaimedAt.Equal(at(time.Second)) || got[1].Proof != "sha256" || got[1].PriorStatus != store.StatusActive {
			t.Fatalf("ListKeyClaims(%s) = %+v", id, got)
		}
	}
	wantErr(t, s.ResolveKeyClaims(ctx, "kcf_none", "key_a", at(time.Minute), "admin:root"), store.ErrNotFound, "ResolveKeyClaims of no conflict")
	must(t, s.ResolveKeyClaims(ctx, "kcf_1", "key_a", at(time.Minute), "admin:root"))
	wantErr(t, s.ResolveKeyClaims(ctx, "kcf_1", "key_a", at(time.Minute), "admin:root"), store.ErrNotFound, "ResolveKeyClaims twice")
	for _, id := range want {
		got, err := s.ListKeyClaims(ctx, id)
		must(t, err)
		if len(got) != 0 {
			t.Fatalf("ListKeyClaims(%s) after resolution = %+v", id, got)
		}
	}
	// The winner is claimed again: a new conflict, the old one stays closed.
	must(t, s.AddKeyClaims(ctx, []store.KeyClaim{claim("kcf_2", "key_a", "ten_a", true, time.Hour), claim("kcf_2", "key_d", "ten_d", false, time.Hour)}))
	got, err := s.ListKeyClaims(ctx, "key_a")
	must(t, err)
	if len(got) != 2 || got[0].ConflictID != "kcf_2" || got[0].KeyID != "key_a" || got[1].KeyID != "key_d" {
		t.Fatalf("ListKeyClaims of a second conflict = %+v", got)
	}
}

// testGetLegacyKeysByHash: the batched lookup finds exactly the stored
// hashes among many, across chunks.
func testGetLegacyKeysByHash(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	var ks []store.LegacyKey
	for i := range 1500 {
		ks = append(ks, legacyKey(fmt.Sprintf("key_%04d", i), "ten_a", "prn_1"))
	}
	_, err := s.CreateLegacyKeys(ctx, ks)
	must(t, err)
	got, err := s.GetLegacyKeysByHash(ctx, nil)
	must(t, err)
	if len(got) != 0 {
		t.Fatalf("GetLegacyKeysByHash(nil) = %d keys", len(got))
	}
	var hashes [][]byte
	var want []string
	for i := 0; i < 1500; i += 2 {
		hashes = append(hashes, ks[i].Hash, []byte(fmt.Sprintf("no-such-hash-%d", i)))
		want = append(want, ks[i].ID)
	}
	got, err = s.GetLegacyKeysByHash(ctx, hashes)
	must(t, err)
	var ids []string
	for _, k := range got {
		ids = append(ids, k.ID)
		if k.TenantID != "ten_a" || string(k.Hash) != "hash-of-"+k.ID {
			t.Fatalf("GetLegacyKeysByHash returned %+v", k)
		}
	}
	slices.Sort(ids)
	if !slices.Equal(ids, want) {
		t.Fatalf("GetLegacyKeysByHash found %d keys, want %d", len(ids), len(want))
	}
}
