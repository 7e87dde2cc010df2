package scim_test

import (
	"testing"

	"github.com/authz/authz/server/servertest"
)

// TestTenantIsolation: tenant A's token can neither read nor change tenant
// B's users and groups, by id or by filter; B's objects are unchanged.
func TestTenantIsolation(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, dbURL string) {
		e := servertest.Start(t, dbURL)
		a, b := newWorld(t, e, "tenant-a"), newWorld(t, e, "tenant-b")
		bu := b.sc.want(b.sc.do("POST", "/Users", oktaCreate), 201, "")
		bid := bu.str("id")
		bg := b.sc.want(b.sc.do("POST", "/Groups", `{"displayName": "Engineering", "members": [{"value": "`+bid+`"}]}`), 201, "")
		gid := bg.str("id")
		ag := a.sc.want(a.sc.do("POST", "/Groups", `{"displayName": "Mine"}`), 201, "").str("id")

		for _, c := range []struct {
			name, method, path, body string
			status                   int
			scimType                 string
		}{
			{"get user by id", "GET", "/Users/" + bid, "", 404, ""},
			{"put user", "PUT", "/Users/" + bid, oktaPut(bid, false), 404, ""},
			{"patch user", "PATCH", "/Users/" + bid, oktaActive(false), 404, ""},
			{"delete user", "DELETE", "/Users/" + bid, "", 404, ""},
			{"get group", "GET", "/Groups/" + gid, "", 404, ""},
			{"patch group", "PATCH", "/Groups/" + gid, `{"Operations": [{"op": "remove", "path": "members"}]}`, 404, ""},
			{"put group", "PUT", "/Groups/" + gid, `{"displayName": "Engineering", "members": []}`, 404, ""},
			{"delete group", "DELETE", "/Groups/" + gid, "", 404, ""},
			{"add B's user to A's group", "PATCH", "/Groups/" + ag, `{"Operations": [{"op": "add", "path": "members", "value": [{"value": "` + bid + `"}]}]}`, 400, "invalidValue"},
			{"create a group with B's user", "POST", "/Groups", `{"displayName": "Sneaky", "members": [{"value": "` + bid + `"}]}`, 400, "invalidValue"},
		} {
			t.Run(c.name, func(t *testing.T) {
				a.sc.want(a.sc.do(c.method, c.path, c.body), c.status, c.scimType)
			})
		}
		for _, f := range []string{`userName eq "ada@acme.example"`, `externalId eq "00ujl29u0le5T6Aj10h7"`, `id eq "` + bid + `"`} {
			r := a.sc.want(a.sc.do("GET", "/Users"+filterQuery(f), ""), 200, "")
			if r.total() != 0 {
				t.Fatalf("filter %s reaches tenant B: %s", f, r.Raw)
			}
		}
		r := a.sc.want(a.sc.do("GET", "/Groups"+filterQuery(`displayName eq "Engineering"`), ""), 200, "")
		if r.total() != 0 {
			t.Fatalf("group filter reaches tenant B: %s", r.Raw)
		}
		r = a.sc.want(a.sc.do("GET", "/Users", ""), 200, "")
		if r.total() != 0 {
			t.Fatalf("listing reaches tenant B: %s", r.Raw)
		}
		// B is untouched.
		p, err := b.a.GetPrincipal(e.Ctx(), bid)
		if err != nil || p.Status != "active" {
			t.Fatalf("B's user after A's attempts: %+v %v", p, err)
		}
		g := b.sc.want(b.sc.do("GET", "/Groups/"+gid, ""), 200, "")
		if ms, _ := g.Body["members"].([]any); len(ms) != 1 {
			t.Fatalf("B's group after A's attempts: %s", g.Raw)
		}
	})
}
