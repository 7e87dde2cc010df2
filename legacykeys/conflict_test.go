package legacykeys_test

import (
	"reflect"
	"testing"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/store"
)

// Issue 22 §1 and issue 18 §6: tenant A knows only the SHA-256 of tenant
// B's key. Whichever order the imports come in, and in the dry run too,
// each tenant is answered exactly as for a key new to it, neither tenant's
// principal receives the key, both claims are refused with key_conflict,
// the system administrators are alerted, and resolve-conflict gives the key
// to the tenant an authz:admin names. Every case fails on the code before
// the fix (B was answered already_present, and the key exchanged for A).
func TestImportSquatting(t *testing.T) {
	const real = "sk_live_bravo_secret_0001"
	for _, tc := range []struct {
		name        string
		squatFirst  bool
		squatterRaw bool // the squatter has the key itself, not only its digest
	}{
		{"squatter first", true, false},
		{"owner first", false, false},
		{"squatter first with the raw key", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, st store.Store) {
				h := newHarness(t, st)
				h.tenant("ten_a")
				h.tenant("ten_b")
				h.principal("prn_a", "ten_a", "mallory")
				h.principal("prn_b", "ten_b", "bob")
				squat := legacykeys.ImportRow{Line: 2, KeySHA256: sha256Hex(real), OwnerExternalID: "mallory", Tenant: "ten_a"}
				if tc.squatterRaw {
					squat.KeySHA256, squat.Key = "", real
				}
				owner := legacykeys.ImportRow{Line: 7, Key: real, OwnerExternalID: "bob", Tenant: "ten_b"}
				first, second := owner, squat
				if tc.squatFirst {
					first, second = squat, owner
				}
				newKey := legacykeys.ImportSummary{Imported: 1, Rejected: []legacykeys.Rejection{}}

				sum, err := h.svc.Import(h.ctx, []legacykeys.ImportRow{first}, false)
				must(t, err)
				if !reflect.DeepEqual(sum, newKey) {
					t.Fatalf("first import = %+v", sum)
				}
				// The dry run and the real import of the second claim answer
				// exactly what a key new to that tenant gets.
				dry, err := h.svc.Import(h.ctx, []legacykeys.ImportRow{second}, true)
				must(t, err)
				want := newKey
				want.DryRun = true
				if !reflect.DeepEqual(dry, want) {
					t.Fatalf("dry run of the second claim = %+v, want %+v", dry, want)
				}
				h.wantResolve(real, "", "") // the dry run changed nothing
				sum, err = h.svc.Import(h.ctx, []legacykeys.ImportRow{second}, false)
				must(t, err)
				if !reflect.DeepEqual(sum, newKey) {
					t.Fatalf("second import = %+v, want %+v", sum, newKey)
				}
				h.wantResolve(real, "", errcode.KeyConflict)
				h.wantResolve(real, "ten_b", errcode.KeyConflict)

				// Each tenant has one key, conflicted; re-imports are
				// already present and change nothing.
				for _, ten := range []string{"ten_a", "ten_b"} {
					ks, _, err := st.ListLegacyKeys(h.ctx, store.LegacyKeyFilter{TenantID: ten}, store.Page{Limit: 10})
					must(t, err)
					if len(ks) != 1 || ks[0].Status != store.StatusConflicted {
						t.Fatalf("keys of %s = %+v", ten, ks)
					}
				}
				for _, row := range []legacykeys.ImportRow{first, second} {
					sum, err := h.svc.Import(h.ctx, []legacykeys.ImportRow{row}, false)
					must(t, err)
					if sum.AlreadyPresent != 1 || sum.Imported != 0 {
						t.Fatalf("re-import of line %d = %+v", row.Line, sum)
					}
				}

				// The system administrators were told, naming both tenants.
				alerts := h.webhooks()[legacykeys.EventKeyConflict]
				if len(alerts) != 1 {
					t.Fatalf("alert.key_conflict webhooks = %v", alerts)
				}
				if claims, _ := alerts[0]["claims"].([]any); len(claims) != 2 {
					t.Fatalf("alert = %v", alerts[0])
				}
				evs, _, err := st.ListAudit(h.ctx, store.AuditFilter{TenantID: store.SystemTenantID, Action: legacykeys.ActionConflict}, store.Page{Limit: 10})
				must(t, err)
				if len(evs) != 1 {
					t.Fatalf("system key.conflict events = %d", len(evs))
				}

				// Diagnose names the conflict and both claims (the admin API
				// strips the other tenant for a tenant admin).
				d, err := h.svc.Diagnose(h.ctx, real)
				must(t, err)
				if d.Verdict != string(errcode.KeyConflict) || d.Conflict == nil || len(d.Conflict.Claims) != 2 {
					t.Fatalf("diagnosis = %+v", d)
				}
				if only := d.Conflict.OnlyTenant("ten_a"); len(only.Claims) != 1 || only.Claims[0].TenantID != "ten_a" || only.Hidden != 1 {
					t.Fatalf("diagnosis for ten_a = %+v", only)
				}

				// An authz:admin gives the key to B: B's holder exchanges it
				// for B's principal, A's claim is revoked, and a new import
				// by A does not reopen the conflict.
				_, err = h.svc.ResolveConflict(h.ctx, d.Key.ID, "ten_c")
				wantCode(t, err, errcode.RequestInvalid)
				res, err := h.svc.ResolveConflict(h.ctx, d.Key.ID, "ten_b")
				must(t, err)
				if res.Winner.TenantID != "ten_b" || res.Winner.Status != store.StatusActive || len(res.Dropped) != 1 || res.Dropped[0].TenantID != "ten_a" || res.Dropped[0].Status != store.StatusRevoked {
					t.Fatalf("resolution = %+v", res)
				}
				r, err := legacykeys.Resolve(h.ctx, st, h.hasher, real, "", h.clock.Now())
				must(t, err)
				if r.Owner.ID != "prn_b" || r.Tenant.ID != "ten_b" {
					t.Fatalf("after resolution the key acts for %s in %s", r.Owner.ID, r.Tenant.ID)
				}
				sum, err = h.svc.Import(h.ctx, []legacykeys.ImportRow{squat}, false)
				must(t, err)
				if sum.AlreadyPresent != 1 {
					t.Fatalf("re-import by the losing tenant = %+v", sum)
				}
				h.wantResolve(real, "", "")
				_, err = h.svc.ResolveConflict(h.ctx, d.Key.ID, "ten_b")
				wantCode(t, err, errcode.Conflict)
			})
		})
	}
}

// The tenant that imported second may win: its claim then holds the key,
// and the first row is revoked and no longer matches the key.
func TestResolveConflictForTheClaimant(t *testing.T) {
	h := newHarness(t, openSQLite(t))
	const real = "sk_live_charlie_secret_01"
	h.tenant("ten_a")
	h.tenant("ten_b")
	h.principal("prn_a", "ten_a", "alice")
	h.principal("prn_b", "ten_b", "bob")
	for _, row := range []legacykeys.ImportRow{
		{Line: 1, KeySHA256: sha256Hex(real), OwnerExternalID: "alice", Tenant: "ten_a"},
		{Line: 1, Key: real, OwnerExternalID: "bob", Tenant: "ten_b"},
	} {
		_, err := h.svc.Import(h.ctx, []legacykeys.ImportRow{row}, false)
		must(t, err)
	}
	ks, _, err := h.st.ListLegacyKeys(h.ctx, store.LegacyKeyFilter{TenantID: "ten_a"}, store.Page{Limit: 10})
	must(t, err)
	res, err := h.svc.ResolveConflict(h.ctx, ks[0].ID, "ten_b")
	must(t, err)
	if res.Winner.TenantID != "ten_b" || len(res.Dropped) != 1 || res.Dropped[0].ID != ks[0].ID {
		t.Fatalf("resolution = %+v", res)
	}
	r, err := legacykeys.Resolve(h.ctx, h.st, h.hasher, real, "", h.clock.Now())
	must(t, err)
	if r.Owner.ID != "prn_b" || r.Key.ID != res.Winner.ID {
		t.Fatalf("after resolution the key is %s acting for %s", r.Key.ID, r.Owner.ID)
	}
	// The won claim shows in B's audit log, the dropped one in A's.
	for _, k := range []store.LegacyKey{res.Winner, res.Dropped[0]} {
		evs := h.events("key:" + k.ID)
		if last := evs[len(evs)-1]; last.Action != legacykeys.ActionConflictResolve || last.TenantID != k.TenantID {
			t.Fatalf("last event of %s = %+v", k.ID, last)
		}
	}
}

// Two tenants naming one key in the same batch (a system administrator's
// file): the key is not bound to the tenant of the first row either.
func TestImportOneBatchTwoTenants(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		h := newHarness(t, st)
		const real = "sk_live_delta_secret_0001"
		h.tenant("ten_a")
		h.tenant("ten_b")
		h.principal("prn_a", "ten_a", "alice")
		h.principal("prn_b", "ten_b", "bob")
		rows := []legacykeys.ImportRow{
			{Line: 2, KeySHA256: sha256Hex(real), OwnerExternalID: "alice", Tenant: "ten_a"},
			{Line: 3, Key: real, OwnerExternalID: "bob", Tenant: "ten_b"},
			{Line: 4, Key: real, OwnerExternalID: "bob", Tenant: "ten_b"},
		}
		sum, err := h.svc.Import(h.ctx, rows, false)
		must(t, err)
		if sum.Imported != 2 || sum.AlreadyPresent != 1 {
			t.Fatalf("import = %+v, want 2 imported (a conflict) and 1 already present", sum)
		}
		h.wantResolve(real, "", errcode.KeyConflict)
	})
}
