package admin

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
)

func sha256Hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

// Issue 18 §6: tenant A's dry-run and real import of the SHA-256 of a key
// that tenant B holds get byte for byte the answer A gets for a key that
// exists nowhere; the key is conflicted, not A's. Then `key diagnose`: a
// tenant admin learns its key is contested but not by whom, the system
// admin sees both tenants, and only the system admin may resolve.
func TestImportOracleAndConflictViews(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		a, b := e.fixture(e.tenantA), e.fixture(e.tenantB)
		const held, fresh = "sk_live_held_by_b_00001", "sk_live_exists_nowhere_1"
		var sum apiv1.ImportSummary
		e.call(tokB, "POST", "/keys/import", apiv1.ImportKeys{Rows: []apiv1.ImportRow{{Line: 1, Key: held, OwnerExternalID: b.extID}}}, http.StatusOK, &sum)
		if sum.Imported != 1 {
			t.Fatalf("B's import: %+v", sum)
		}
		answer := func(digest string, dry bool) string {
			rec := e.do(tokA, "POST", "/keys/import", apiv1.ImportKeys{DryRun: dry, Rows: []apiv1.ImportRow{{Line: 3, KeySHA256: digest, OwnerExternalID: a.extID}}})
			if rec.Code != http.StatusOK {
				t.Fatalf("import: %d %s", rec.Code, rec.Body)
			}
			return rec.Body.String()
		}
		for _, dry := range []bool{true, false} {
			if got, want := answer(sha256Hex(held), dry), answer(sha256Hex(fresh+map[bool]string{true: "d", false: "r"}[dry]), dry); got != want {
				t.Fatalf("dry run %v: import of B's key answers %s, of a new key %s", dry, got, want)
			}
		}

		// Diagnose by the key: B's admin and A's admin each see their own
		// claim, conflicted, and nothing of the other tenant.
		for _, c := range []struct {
			tok, tenant, other string
		}{{tokA, e.tenantA, e.tenantB}, {tokB, e.tenantB, e.tenantA}} {
			rec := e.do(c.tok, "POST", "/keys/diagnose", apiv1.DiagnoseKey{Key: held})
			var d legacykeys.Diagnosis
			if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil || rec.Code != http.StatusOK {
				t.Fatalf("diagnose: %d %s", rec.Code, rec.Body)
			}
			if d.Verdict != string(errcode.KeyConflict) || d.Key == nil || d.Key.TenantID != c.tenant || d.Conflict == nil ||
				len(d.Conflict.Claims) != 1 || d.Conflict.Hidden != 1 || strings.Contains(rec.Body.String(), c.other) {
				t.Fatalf("diagnosis for %s: %s", c.tenant, rec.Body)
			}
		}
		var d legacykeys.Diagnosis
		e.call(tokAdmin, "POST", "/keys/diagnose", apiv1.DiagnoseKey{Key: held}, http.StatusOK, &d)
		if d.Conflict == nil || len(d.Conflict.Claims) != 2 || !strings.Contains(d.Remedy, "resolve-conflict") {
			t.Fatalf("system admin's diagnosis: %+v", d)
		}

		// Only authz:admin resolves; a tenant admin is refused for its own
		// claim too.
		e.refusal(e.do(tokB, "POST", "/keys/"+d.Key.ID+"/resolve-conflict", apiv1.ResolveKeyConflict{TenantID: e.tenantB}), http.StatusForbidden, errcode.Forbidden)
		e.refusal(e.do(tokAdmin, "POST", "/keys/"+d.Key.ID+"/resolve-conflict", apiv1.ResolveKeyConflict{}), http.StatusBadRequest, errcode.RequestInvalid)
		var res apiv1.KeyConflictResolution
		e.call(tokAdmin, "POST", "/keys/"+d.Key.ID+"/resolve-conflict", apiv1.ResolveKeyConflict{TenantID: e.tenantB}, http.StatusOK, &res)
		if res.Winner.TenantID != e.tenantB || res.Winner.Status != "active" || len(res.Dropped) != 1 || res.Dropped[0].TenantID != e.tenantA {
			t.Fatalf("resolution: %+v", res)
		}
		e.refusal(e.do(tokAdmin, "POST", "/keys/"+d.Key.ID+"/resolve-conflict", apiv1.ResolveKeyConflict{TenantID: e.tenantB}), http.StatusConflict, errcode.Conflict)
		// The system tenant's audit names both tenants; A's own log does
		// not name B.
		var evs apiv1.List[apiv1.AuditEvent]
		e.call(tokA, "GET", "/audit/events?limit=500", nil, http.StatusOK, &evs)
		raw, _ := json.Marshal(evs)
		if bytes.Contains(raw, []byte(e.tenantB)) {
			t.Fatalf("tenant A's audit log names tenant B: %s", raw)
		}
	})
}
