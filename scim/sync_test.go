package scim_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/server/servertest"
)

func userWithExternalID(userName, externalID string) string {
	return `{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "` + userName + `", "externalId": "` + externalID + `", "active": true}`
}

func patchExternalID(externalID string) string {
	return `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "Replace", "path": "externalId", "value": "` + externalID + `"}]}`
}

// TestExternalIDFollowsTheIdP: a change of a user's externalId in the IdP
// reaches the principal's external_id when that came from the IdP; a value
// another principal of the tenant has is refused (409 uniqueness) with
// nothing applied; a principal linked by userName keeps the external id of
// the system it came from.
func TestExternalIDFollowsTheIdP(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, dbURL string) {
		e := servertest.Start(t, dbURL)
		w := newWorld(t, e, "acme")
		sc, ctx := w.sc, e.Ctx()
		principalExt := func(id string) string {
			t.Helper()
			p, err := w.a.GetPrincipal(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return p.ExternalID
		}

		id := sc.want(sc.do("POST", "/Users", userWithExternalID("ada@acme.example", "00u-1")), 201, "").str("id")
		if got := principalExt(id); got != "00u-1" {
			t.Fatalf("created principal's external id %q", got)
		}
		// PUT (Okta) and PATCH (Entra ID) both carry the change.
		r := sc.want(sc.do("PUT", "/Users/"+id, userWithExternalID("ada@acme.example", "00u-2")), 200, "")
		if r.str("externalId") != "00u-2" || principalExt(id) != "00u-2" {
			t.Fatalf("after PUT: %s, principal %q", r.Raw, principalExt(id))
		}
		sc.want(sc.do("PATCH", "/Users/"+id, patchExternalID("00u-3")), 200, "")
		if got := principalExt(id); got != "00u-3" {
			t.Fatalf("after PATCH: principal %q", got)
		}
		evs, err := w.a.ListAudit(ctx, adminclient.AuditFilter{Actor: "scim:" + w.token.ID, Action: "principal.update"})
		if err != nil || len(evs.Items) != 2 {
			t.Fatalf("principal.update events: %d %v", len(evs.Items), err)
		}

		// Another principal's external id: refused, nothing applied.
		other, err := w.a.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: w.tenant.ID, Kind: "service", Name: "billing", ExternalID: "svc-billing"})
		if err != nil {
			t.Fatal(err)
		}
		for _, req := range []struct{ method, body string }{
			{"PUT", userWithExternalID("ada@acme.example", "svc-billing")},
			{"PATCH", patchExternalID("svc-billing")},
		} {
			r := sc.want(sc.do(req.method, "/Users/"+id, req.body), 409, "uniqueness")
			if !strings.Contains(r.str("detail"), other.ID) {
				t.Fatalf("%s: the refusal does not name the principal that has it: %s", req.method, r.Raw)
			}
			if got := sc.want(sc.do("GET", "/Users/"+id, ""), 200, "").str("externalId"); got != "00u-3" || principalExt(id) != "00u-3" {
				t.Fatalf("%s half-applied: user %q, principal %q", req.method, got, principalExt(id))
			}
		}
		// Removing the externalId leaves the principal's.
		sc.want(sc.do("PATCH", "/Users/"+id, `{"Operations": [{"op": "remove", "path": "externalId"}]}`), 200, "")
		if got := principalExt(id); got != "00u-3" {
			t.Fatalf("after removal: principal %q", got)
		}

		// Linked by userName: the old system's id stays the principal's.
		old, err := w.a.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: w.tenant.ID, Kind: "user", Name: "Bob", ExternalID: "bob@acme.example"})
		if err != nil {
			t.Fatal(err)
		}
		r = sc.want(sc.do("POST", "/Users", userWithExternalID("bob@acme.example", "00u-bob")), 201, "")
		if r.str("id") != old.ID {
			t.Fatalf("not linked by userName: %s", r.Raw)
		}
		sc.want(sc.do("PATCH", "/Users/"+old.ID, patchExternalID("00u-bob-2")), 200, "")
		if got := principalExt(old.ID); got != "bob@acme.example" {
			t.Fatalf("a principal linked by userName took the IdP's externalId: %q", got)
		}
	})
}

// TestUnmapGroup: removing a group's mapping removes the bindings SCIM
// made for it, never an operator's; unknown mappings and bad input are
// refused.
func TestUnmapGroup(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, dbURL string) {
		e := servertest.Start(t, dbURL)
		w := newWorld(t, e, "acme")
		sc, ctx := w.sc, e.Ctx()
		if _, err := w.a.MapSCIMGroup(ctx, apiv1.CreateSCIMGroupMapping{TenantID: w.tenant.ID, Group: "Engineering", Role: "orders"}); err != nil {
			t.Fatal(err)
		}
		ada := sc.want(sc.do("POST", "/Users", userWithExternalID("ada@acme.example", "00u-1")), 201, "").str("id")
		bob := sc.want(sc.do("POST", "/Users", userWithExternalID("bob@acme.example", "00u-2")), 201, "").str("id")
		// Bob's role is also the operator's.
		if _, err := w.a.Bind(ctx, w.role.ID, bob); err != nil {
			t.Fatal(err)
		}
		sc.want(sc.do("POST", "/Groups", `{"displayName": "Engineering", "members": [{"value": "`+ada+`"}, {"value": "`+bob+`"}]}`), 201, "")
		if w.bindings(t, ada) != 1 || w.bindings(t, bob) != 1 {
			t.Fatalf("bindings before: %d %d", w.bindings(t, ada), w.bindings(t, bob))
		}
		key := e.IssueKey(ada, []string{"orders:read"}, time.Hour)
		ordersRead := url.Values{"scope": {"orders:read"}}
		if r := e.Exchange(key.Key, ordersRead, "", ""); r.Status != http.StatusOK {
			t.Fatalf("orders:read before the unmapping: %s", r.Raw)
		}

		m, err := w.a.UnmapSCIMGroup(ctx, w.tenant.ID, "ENGINEERING", "orders")
		if err != nil || m.Unbound != 1 || m.Group != "Engineering" || m.RoleID != w.role.ID {
			t.Fatalf("unmap: %+v %v", m, err)
		}
		if w.bindings(t, ada) != 0 || w.bindings(t, bob) != 1 {
			t.Fatalf("bindings after: ada %d (want 0), bob %d (the operator's, want 1)", w.bindings(t, ada), w.bindings(t, bob))
		}
		if r := e.Exchange(key.Key, ordersRead, "", ""); r.Status == http.StatusOK {
			t.Fatalf("the key still gets orders:read after the unmapping: %s", r.Raw)
		}
		if ms, err := w.a.ListSCIMGroupMappings(ctx, w.tenant.ID); err != nil || len(ms.Items) != 0 {
			t.Fatalf("mappings after: %+v %v", ms, err)
		}
		evs, err := w.a.ListAudit(ctx, adminclient.AuditFilter{Action: "scim.unmap_group"})
		if err != nil || len(evs.Items) != 1 {
			t.Fatalf("scim.unmap_group events: %d %v", len(evs.Items), err)
		}
		// A member the IdP adds later is not bound any more.
		carol := sc.want(sc.do("POST", "/Users", userWithExternalID("carol@acme.example", "00u-3")), 201, "").str("id")
		if w.bindings(t, carol) != 0 {
			t.Fatal("carol bound")
		}

		for _, c := range []struct {
			name, tenant, group, role string
			code                      errcode.Code
		}{
			{"twice", w.tenant.ID, "Engineering", "orders", errcode.NotFound},
			{"unknown role", w.tenant.ID, "Engineering", "nope", errcode.NotFound},
			{"no group", w.tenant.ID, "", "orders", errcode.RequestInvalid},
			{"no role", w.tenant.ID, "Engineering", "", errcode.RequestInvalid},
			{"unknown tenant", "ten_nope", "Engineering", "orders", errcode.NotFound},
		} {
			_, err := w.a.UnmapSCIMGroup(ctx, c.tenant, c.group, c.role)
			var ae *adminclient.Error
			if !errors.As(err, &ae) || ae.Code != string(c.code) {
				t.Errorf("%s: %v, want %s", c.name, err, c.code)
			}
		}
	})
}

// TestRefusalNamesTheIdP: a key refused because the IdP suspended or
// deleted its owner says so in error_description, as key diagnose does.
func TestRefusalNamesTheIdP(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, dbURL string) {
		e := servertest.Start(t, dbURL)
		w := newWorld(t, e, "acme")
		sc := w.sc
		id := sc.want(sc.do("POST", "/Users", oktaCreate), 201, "").str("id")
		key := e.IssueKey(id, nil, time.Hour)
		sc.want(sc.do("PATCH", "/Users/"+id, oktaActive(false)), 200, "")
		r := e.Exchange(key.Key, nil, "", "")
		servertest.WantError(t, r, http.StatusBadRequest, "invalid_request", "owner_suspended")
		if d := r.Str("error_description"); !strings.Contains(d, "suspended by Okta via SCIM at 20") {
			t.Fatalf("error_description %q does not name the IdP", d)
		}
		sc.want(sc.do("DELETE", "/Users/"+id, ""), 204, "")
		r = e.Exchange(key.Key, nil, "", "")
		servertest.WantError(t, r, http.StatusBadRequest, "invalid_request", "owner_deleted")
		if d := r.Str("error_description"); !strings.Contains(d, "deleted by Okta via SCIM at 20") {
			t.Fatalf("error_description %q does not name the IdP", d)
		}

		// An operator's suspension is not the IdP's.
		p, err := w.a.CreatePrincipal(e.Ctx(), apiv1.CreatePrincipal{TenantID: w.tenant.ID, Kind: "user", Name: "Eve"})
		if err != nil {
			t.Fatal(err)
		}
		k2 := e.IssueKey(p.ID, nil, time.Hour)
		if _, err := w.a.SuspendPrincipal(e.Ctx(), p.ID); err != nil {
			t.Fatal(err)
		}
		r = e.Exchange(k2.Key, nil, "", "")
		if d := r.Str("error_description"); strings.Contains(d, "SCIM") || !strings.Contains(d, "suspended") {
			t.Fatalf("operator's suspension described as %q", d)
		}
	})
}
