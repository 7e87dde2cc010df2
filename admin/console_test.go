package admin

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/policy"
	"github.com/authz/authz/store"
)

// TestDecide is the one authorization decision, shared with the console.
func TestDecide(t *testing.T) {
	for _, c := range []struct {
		name      string
		caller    Caller
		adminOnly bool
		want      Access
		refused   bool
	}{
		{"admin of the system tenant", Caller{TenantID: store.SystemTenantID, Scopes: []string{policy.PermAdmin}}, true, Access{Global: true}, false},
		{"admin scope outside the system tenant", Caller{TenantID: "ten_a", Scopes: []string{policy.PermAdmin}}, true, Access{}, true},
		{"tenant admin", Caller{TenantID: "ten_a", Scopes: []string{policy.PermTenantAdmin}}, false, Access{Tenant: "ten_a"}, false},
		{"tenant admin on an admin-only route", Caller{TenantID: "ten_a", Scopes: []string{policy.PermTenantAdmin}}, true, Access{}, true},
		{"tenant admin scope in the system tenant", Caller{TenantID: store.SystemTenantID, Scopes: []string{policy.PermTenantAdmin}}, false, Access{}, true},
		{"plain bearer token", Caller{Subject: "prn_1", TenantID: "ten_a", Scopes: []string{"orders:read"}}, false, Access{}, true},
		{"plain principal acting for itself", Caller{Subject: "prn_1", TenantID: "ten_a", Self: true}, false, Access{Tenant: "ten_a", Owner: "prn_1"}, false},
		{"plain principal on an admin-only route", Caller{Subject: "prn_1", TenantID: "ten_a", Self: true}, true, Access{}, true},
		{"self without subject", Caller{TenantID: "ten_a", Self: true}, false, Access{}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Decide(c.caller, c.adminOnly)
			if c.refused {
				if errcode.Of(err) != errcode.Forbidden {
					t.Fatalf("Decide = %+v, %v; want forbidden", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("Decide = %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

// TestSelfCallerSeesOnlyItsOwn: an in-process Self caller without admin
// permissions (a console session of a plain principal) reads and manages
// only the objects it owns, on the owner routes only; the audit actor is
// the caller's.
func TestSelfCallerSeesOnlyItsOwn(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	mine, other := e.fixture(e.tenantA), e.fixture(e.tenantA)
	self := Caller{Subject: mine.principal.ID, TenantID: e.tenantA, Self: true, Actor: "console:" + mine.principal.ID}
	do := func(method, path string, body any) (int, string) {
		var b []byte
		if body != nil {
			b, _ = json.Marshal(body)
		}
		req := newRequest(method, path, bytes.NewReader(b))
		req = req.WithContext(WithCaller(req.Context(), self))
		rec := serve(e.h, req)
		return rec.Code, rec.Body.String()
	}
	for _, c := range []struct {
		name, method, path string
		body               any
		status             int
		has, hasNot        string
	}{
		{"own keys", "GET", "/keys", nil, 200, mine.key.ID, other.key.ID},
		{"another owner's keys", "GET", "/keys?owner_id=" + other.principal.ID, nil, 200, "", other.key.ID},
		{"own key", "GET", "/keys/" + mine.key.ID, nil, 200, mine.key.ID, ""},
		{"another's key", "GET", "/keys/" + other.key.ID, nil, 404, "not_found", ""},
		{"another's diagnosis", "GET", "/keys/" + other.key.ID + "/diagnosis", nil, 404, "not_found", ""},
		{"own clients", "GET", "/clients", nil, 200, mine.client.ID, other.client.ID},
		{"another's client", "GET", "/clients/" + other.client.ID, nil, 404, "not_found", ""},
		{"rotate another's client", "POST", "/clients/" + other.client.ID + "/rotate-secret", nil, 404, "not_found", ""},
		{"rotate own client", "POST", "/clients/" + mine.client.ID + "/rotate-secret", nil, 200, "client_secret", ""},
		{"client for another", "POST", "/clients", apiv1.CreateClient{TenantID: e.tenantA, OwnerID: other.principal.ID}, 403, "forbidden", ""},
		{"client for itself", "POST", "/clients", apiv1.CreateClient{TenantID: e.tenantA, OwnerID: mine.principal.ID}, 201, "client_secret", ""},
		{"admin route", "POST", "/principals/" + other.principal.ID + "/suspend", nil, 403, "forbidden", ""},
		{"revoke own key (an admin operation)", "POST", "/keys/" + mine.key.ID + "/revoke", apiv1.RevokeKey{Reason: "x"}, 403, "forbidden", ""},
		{"audit", "GET", "/audit/events", nil, 403, "forbidden", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := do(c.method, c.path, c.body)
			if status != c.status || (c.has != "" && !strings.Contains(body, c.has)) || (c.hasNot != "" && strings.Contains(body, c.hasNot)) {
				t.Fatalf("%s %s: %d %s", c.method, c.path, status, body)
			}
		})
	}
	// The rotation is audited with the console actor.
	var found bool
	for _, ev := range e.events() {
		if ev.Action == "client.rotate_secret" && ev.Target == "client:"+mine.client.ID {
			found = ev.Actor == "console:"+mine.principal.ID
		}
	}
	if !found {
		t.Fatal("no client.rotate_secret event with actor console:<principal>")
	}
	// Over HTTP, a bearer token never gets owner access: Self comes only
	// from WithCaller.
	rec := e.do(tokNoScope, "GET", "/keys", nil)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("plain bearer token: %d %s", rec.Code, rec.Body)
	}
}
