package legacykeys_test

import (
	"strings"
	"testing"

	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/store"
)

// TestRemapByExternalID: new_principal is a principal id or the external
// id of a principal in the keys' tenant; an external id that principals of
// several tenants share is settled by the tenant of the keys, and when the
// keys do not settle it the row is rejected, saying it is ambiguous.
func TestRemapByExternalID(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		h := newHarness(t, st)
		h.tenant("ten_a")
		h.tenant("ten_b")
		h.principal("prn_newa", "ten_a", "new-a")     // unique external id
		h.principal("prn_shareda", "ten_a", "shared") // shared with ten_b
		h.principal("prn_sharedb", "ten_b", "shared")
		h.principal("prn_gone", "ten_a", "gone")
		h.setPrincipalStatus("prn_gone", store.StatusDeleted, adminActor)
		sum, err := h.svc.Import(h.ctx, []legacykeys.ImportRow{
			{Line: 2, Key: "key-of-old-one-01", OwnerExternalID: "old-1", Tenant: "ten_a"},
			{Line: 3, Key: "key-of-old-two-01", OwnerExternalID: "old-2", Tenant: "ten_a"},
			{Line: 4, Key: "key-of-old-three1", OwnerExternalID: "old-3", Tenant: "ten_b"},
			{Line: 5, Key: "key-of-old-four-a", OwnerExternalID: "old-4", Tenant: "ten_a"},
			{Line: 6, Key: "key-of-old-four-b", OwnerExternalID: "old-4", Tenant: "ten_b"},
			{Line: 7, Key: "key-of-old-five-1", OwnerExternalID: "old-5", Tenant: "ten_a"},
		}, false)
		must(t, err)
		if sum.Imported != 6 || sum.Orphans != 6 {
			t.Fatalf("import %+v", sum)
		}

		rows := parseRemap(t, "old_external_id,new_principal\n"+
			"old-1,new-a\n"+ // 2: by external id
			"old-2,prn_newa\n"+ // 3: by principal id
			"old-3,shared\n"+ // 4: shared, but only ten_b holds keys of old-3
			"old-4,shared\n"+ // 5: shared, and both tenants hold keys of old-4
			"old-5,nobody\n"+ // 6: neither an id nor an external id
			"old-5,gone\n") // 7: only a deleted principal has it
		for _, dry := range []bool{true, false} {
			got, err := h.svc.Remap(h.ctx, rows, dry)
			must(t, err)
			if got.KeysRemapped != 3 || rejectedLines(got.Rejected) != "5,6,7" || got.DryRun != dry {
				t.Fatalf("dry=%v: %+v", dry, got)
			}
			if r := got.Rejected[0].Reason; !strings.Contains(r, "ambiguous") || !strings.Contains(r, "prn_shareda") || !strings.Contains(r, "prn_sharedb") {
				t.Fatalf("ambiguous row: %q", r)
			}
			if r := got.Rejected[1].Reason; !strings.Contains(r, `no principal "nobody"`) {
				t.Fatalf("unknown row: %q", r)
			}
			if dry {
				h.wantResolve("key-of-old-one-01", "", "owner_not_found")
			}
		}
		h.wantResolve("key-of-old-one-01", "", "")
		h.wantResolve("key-of-old-two-01", "", "")
		h.wantResolve("key-of-old-three1", "", "")
		h.wantResolve("key-of-old-four-a", "", "owner_not_found")
		h.wantResolve("key-of-old-four-b", "", "owner_not_found")
		for key, owner := range map[string]string{"key-of-old-one-01": "prn_newa", "key-of-old-two-01": "prn_newa", "key-of-old-three1": "prn_sharedb"} {
			k, err := st.GetLegacyKeyByHash(h.ctx, h.hasher.Hash(key))
			must(t, err)
			if k.OwnerID != owner {
				t.Errorf("%s: owner %s, want %s", key, k.OwnerID, owner)
			}
		}

		// A remap confined to a tenant (a tenant admin's) finds external
		// ids there only, and treats another tenant's principal id as
		// nobody.
		confined := []legacykeys.RemapRow{
			{Line: 2, OldExternalID: "old-4", NewPrincipal: "shared", Tenant: "ten_a"},
			{Line: 3, OldExternalID: "old-5", NewPrincipal: "prn_sharedb", Tenant: "ten_a"},
		}
		got, err := h.svc.Remap(h.ctx, confined, false)
		must(t, err)
		if got.KeysRemapped != 1 || rejectedLines(got.Rejected) != "3" || !strings.Contains(got.Rejected[0].Reason, "of tenant ten_a") {
			t.Fatalf("confined remap %+v", got)
		}
		h.wantResolve("key-of-old-four-a", "", "")
		h.wantResolve("key-of-old-four-b", "", "owner_not_found")
	})
}

// TestImportTenantByName: the tenant column takes a tenant id or a
// tenant's unique name.
func TestImportTenantByName(t *testing.T) {
	h := newHarness(t, openSQLite(t))
	h.tenant("ten_a", func(tn *store.Tenant) { tn.Name = "team-a" })
	h.principal("prn_alice", "ten_a", "alice")
	sum, err := h.svc.Import(h.ctx, []legacykeys.ImportRow{
		{Line: 2, Key: "key-by-tenant-id1", OwnerExternalID: "alice", Tenant: "ten_a"},
		{Line: 3, Key: "key-by-tenant-nm1", OwnerExternalID: "alice", Tenant: "team-a"},
		{Line: 4, Key: "key-by-no-tenant1", OwnerExternalID: "alice", Tenant: "team-z"},
	}, false)
	must(t, err)
	if sum.Imported != 2 || sum.Orphans != 0 || rejectedLines(sum.Rejected) != "4" || !strings.Contains(sum.Rejected[0].Reason, `no tenant "team-z"`) {
		t.Fatalf("import %+v", sum)
	}
	h.wantResolve("key-by-tenant-nm1", "", "")
	k, err := h.st.GetLegacyKeyByHash(h.ctx, h.hasher.Hash("key-by-tenant-nm1"))
	must(t, err)
	if k.TenantID != "ten_a" || k.OwnerID != "prn_alice" {
		t.Fatalf("key %+v", k)
	}
}
