package admin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/authz/authz/admin/apiv1"
)

// TestTenantAdminRemapAndImportByName: a tenant admin's remap finds
// new_principal by id or external id in its own tenant only (another
// tenant's external id or id is "no principal", as for one that does not
// exist), and its import names its tenant by id or by name.
func TestTenantAdminRemapAndImportByName(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	ours, theirs := e.fixture(e.tenantA), e.fixture(e.tenantB)

	var sum apiv1.ImportSummary
	e.call(tokA, "POST", "/keys/import", apiv1.ImportKeys{Rows: []apiv1.ImportRow{
		{Line: 2, Key: "old-key-by-name-01", OwnerExternalID: "gone-1", Tenant: "tenant A"},
		{Line: 3, Key: "old-key-by-id-0002", OwnerExternalID: "gone-2", Tenant: e.tenantA},
	}}, http.StatusOK, &sum)
	if sum.Imported != 2 || len(sum.Rejected) != 0 {
		t.Fatalf("import by tenant name: %+v", sum)
	}
	rec := e.do(tokA, "POST", "/keys/import", apiv1.ImportKeys{Rows: []apiv1.ImportRow{{Line: 2, Key: "old-key-theirs-001", OwnerExternalID: "x", Tenant: "tenant B"}}})
	e.refusal(rec, http.StatusNotFound, "not_found")

	var remap apiv1.RemapSummary
	e.call(tokA, "POST", "/keys/remap", apiv1.RemapKeys{Rows: []apiv1.RemapRow{
		{Line: 1, OldExternalID: "gone-1", NewPrincipal: ours.extID},          // by external id
		{Line: 2, OldExternalID: "gone-2", NewPrincipal: theirs.extID},        // another tenant's external id
		{Line: 3, OldExternalID: "gone-2", NewPrincipal: theirs.principal.ID}, // another tenant's id
	}}, http.StatusOK, &remap)
	if remap.KeysRemapped != 1 || len(remap.Rejected) != 2 {
		t.Fatalf("remap: %+v", remap)
	}
	for _, r := range remap.Rejected {
		if !strings.Contains(r.Reason, "no principal") || !strings.Contains(r.Reason, "of tenant "+e.tenantA) || strings.Contains(r.Reason, e.tenantB) {
			t.Errorf("rejection %+v", r)
		}
	}
	var keys apiv1.List[apiv1.LegacyKey]
	e.call(tokA, "GET", "/keys?owner_id="+ours.principal.ID, nil, http.StatusOK, &keys)
	if len(keys.Items) != 2 { // the fixture's issued key and the remapped one
		t.Fatalf("keys of our principal: %+v", keys.Items)
	}
}
