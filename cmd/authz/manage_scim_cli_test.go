package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/store/storetest"
)

// TestSCIMCommands: a SCIM token is shown once with the tenant URL, works
// against /scim/v2, is listed without its secret and stops working when
// revoked; map-group binds a role by name, unmap-group removes it;
// principal show names the IdP.
func TestSCIMCommands(t *testing.T) {
	c := startServer(t, storetest.SQLiteURL(t))
	var tn apiv1.Tenant
	c.json(&tn, "tenant", "create", "scimco")
	c.ok("role", "create", "--tenant", tn.ID, "engineers", "--permission", "orders:read")

	out := c.ok("scim", "token", "create", "--tenant", tn.ID, "--name", "Okta")
	if !strings.Contains(out, c.issuer+"/scim/v2") || !strings.Contains(out, "authz_scim_") {
		t.Fatalf("token create must print the tenant URL and the token:\n%s", out)
	}
	var tok apiv1.SCIMToken
	c.json(&tok, "scim", "token", "create", "--tenant", tn.ID, "--name", "Entra ID")
	scim := func(method, path, body string) int {
		t.Helper()
		req, _ := http.NewRequest(method, c.issuer+"/scim/v2"+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := scim("POST", "/Users", `{"userName": "ada@scimco.example", "active": false}`); code != http.StatusCreated {
		t.Fatalf("POST /Users with the new token: %d", code)
	}
	if list := c.ok("scim", "token", "list", "--tenant", tn.ID); !strings.Contains(list, tok.ID) || strings.Contains(list, tok.Token) {
		t.Fatalf("token list:\n%s", list)
	}
	var m apiv1.SCIMGroupMapping
	c.json(&m, "scim", "map-group", "--tenant", tn.ID, "Engineering", "engineers")
	if m.Group != "Engineering" || m.RoleID == "" {
		t.Fatalf("map-group: %+v", m)
	}
	var ps apiv1.List[apiv1.Principal]
	c.json(&ps, "principal", "list", "--tenant", tn.ID)
	if len(ps.Items) != 1 {
		t.Fatalf("principals: %+v", ps)
	}
	if show := c.ok("principal", "show", ps.Items[0].ID); !strings.Contains(show, "by Entra ID via SCIM at") {
		t.Fatalf("principal show must name the IdP:\n%s", show)
	}
	c.ok("scim", "token", "revoke", tok.ID)
	if code := scim("GET", "/Users", ""); code != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", code)
	}
	if r := c.run(nil, "scim", "map-group", "--tenant", tn.ID, "Engineering"); r.code == 0 {
		t.Fatal("map-group with one argument succeeded")
	}
	// unmap-group removes the mapping (the bindings it made: scim tests).
	var um apiv1.SCIMGroupMapping
	c.json(&um, "scim", "unmap-group", "--tenant", tn.ID, "engineering", "engineers")
	if um.Group != "Engineering" || um.RoleID != m.RoleID {
		t.Fatalf("unmap-group: %+v", um)
	}
	c.fails(nil, "is not mapped", "scim", "unmap-group", "--tenant", tn.ID, "Engineering", "engineers")
	if r := c.run(nil, "scim", "unmap-group", "Engineering", "engineers"); r.code != 2 {
		t.Fatalf("unmap-group without --tenant: exit %d, want 2", r.code)
	}
}
