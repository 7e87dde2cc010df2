package scim_test

import (
	"strings"
	"testing"

	"github.com/authz/authz/server/servertest"
)

// TestBadInput: malformed SCIM gets the RFC 7644 error with the right
// status and scimType, never a 500, and nothing of a refused request is
// applied.
func TestBadInput(t *testing.T) {
	e := servertest.Start(t, "sqlite:"+t.TempDir()+"/authz.db")
	w := newWorld(t, e, "badco")
	sc := w.sc
	id := sc.want(sc.do("POST", "/Users", oktaCreate), 201, "").str("id")
	gid := sc.want(sc.do("POST", "/Groups", `{"displayName": "Ops"}`), 201, "").str("id")
	patch := func(ops string) string {
		return `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [` + ops + `]}`
	}
	for _, c := range []struct {
		name, method, path, body string
		token                    string // "" = the world's token; "-" = none
		status                   int
		scimType                 string
	}{
		{"no token", "GET", "/Users", "", "-", 401, ""},
		{"wrong token", "GET", "/Users", "", "authz_scim_nope", 401, ""},
		{"unknown endpoint", "GET", "/Bulk", "", "", 404, ""},
		{"method not allowed", "PATCH", "/Users", "{}", "", 405, ""},
		{"malformed JSON", "POST", "/Users", `{"userName": `, "", 400, "invalidSyntax"},
		{"not an object", "POST", "/Users", `[1]`, "", 400, "invalidSyntax"},
		{"trailing data", "POST", "/Users", `{"userName": "x"} {}`, "", 400, "invalidSyntax"},
		{"no userName", "POST", "/Users", `{"active": true}`, "", 400, "invalidValue"},
		{"userName not a string", "POST", "/Users", `{"userName": 7}`, "", 400, "invalidValue"},
		{"active not a boolean", "POST", "/Users", `{"userName": "z@x", "active": "maybe"}`, "", 400, "invalidValue"},
		{"existing userName", "POST", "/Users", `{"userName": "ADA@acme.example"}`, "", 409, "uniqueness"},
		{"filter does not parse", "GET", "/Users" + filterQuery(`userName eq`), "", "", 400, "invalidFilter"},
		{"filter operator unsupported", "GET", "/Users" + filterQuery(`userName co "ada"`), "", "", 400, "invalidFilter"},
		{"filter attribute unsupported", "GET", "/Users" + filterQuery(`emails.value eq "ada@acme.example"`), "", "", 400, "invalidFilter"},
		{"filter or", "GET", "/Users" + filterQuery(`userName eq "a" or userName eq "b"`), "", "", 400, "invalidFilter"},
		{"startIndex not a number", "GET", "/Users?startIndex=one", "", "", 400, "invalidValue"},
		{"unknown user", "GET", "/Users/prn_aaaaaaaaaaaaaaaa", "", "", 404, ""},
		{"unknown user patch", "PATCH", "/Users/nope", patch(`{"op": "replace", "path": "active", "value": false}`), "", 404, ""},
		{"patch without Operations", "PATCH", "/Users/" + id, `{"schemas": []}`, "", 400, "invalidSyntax"},
		{"patch unknown op", "PATCH", "/Users/" + id, patch(`{"op": "move", "path": "active", "value": false}`), "", 400, "invalidSyntax"},
		{"patch path does not parse", "PATCH", "/Users/" + id, patch(`{"op": "replace", "path": "name..given", "value": "x"}`), "", 400, "invalidPath"},
		{"patch remove without path", "PATCH", "/Users/" + id, patch(`{"op": "remove"}`), "", 400, "noTarget"},
		{"patch remove userName", "PATCH", "/Users/" + id, patch(`{"op": "remove", "path": "userName"}`), "", 400, "mutability"},
		{"patch bad active", "PATCH", "/Users/" + id, patch(`{"op": "replace", "path": "active", "value": "sometimes"}`), "", 400, "invalidValue"},
		{"group member filter unsupported", "PATCH", "/Groups/" + gid, patch(`{"op": "remove", "path": "members[display co \"x\"]"}`), "", 400, "invalidFilter"},
		{"group unknown member", "PATCH", "/Groups/" + gid, patch(`{"op": "add", "path": "members", "value": [{"value": "prn_nobody"}]}`), "", 400, "invalidValue"},
		{"group without displayName", "POST", "/Groups", `{"members": []}`, "", 400, "invalidValue"},
		{"group name taken", "POST", "/Groups", `{"displayName": "ops"}`, "", 409, "uniqueness"},
		{"body too large", "POST", "/Users", `{"userName": "big", "x": "` + strings.Repeat("a", 1<<20) + `"}`, "", 413, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := sc
			switch c.token {
			case "-":
				cl.token = ""
			case "":
			default:
				cl.token = c.token
			}
			r := cl.want(cl.do(c.method, c.path, c.body), c.status, c.scimType)
			if c.status == 401 && r.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without WWW-Authenticate")
			}
		})
	}

	// Nothing half-applied: a PATCH whose second operation is refused
	// leaves the first undone, a deactivation included.
	sc.want(sc.do("PATCH", "/Users/"+id, patch(`{"op": "replace", "path": "displayName", "value": "Changed"}, {"op": "replace", "path": "active", "value": false}, {"op": "replace", "path": "userName", "value": 5}`)), 400, "invalidValue")
	r := sc.want(sc.do("GET", "/Users/"+id, ""), 200, "")
	if r.str("displayName") != "Ada Lovelace" || r.Body["active"] != true {
		t.Fatalf("a refused PATCH was partly applied: %s", r.Raw)
	}
	// A group PATCH naming one unknown member adds none.
	sc.want(sc.do("PATCH", "/Groups/"+gid, patch(`{"op": "add", "path": "members", "value": [{"value": "`+id+`"}, {"value": "prn_nobody"}]}`)), 400, "invalidValue")
	g := sc.want(sc.do("GET", "/Groups/"+gid, ""), 200, "")
	if _, ok := g.Body["members"]; ok {
		t.Fatalf("a refused group PATCH added members: %s", g.Raw)
	}
	// A userName taken by another user is 409 on PUT, and changes nothing.
	other := sc.want(sc.do("POST", "/Users", `{"userName": "other@acme.example"}`), 201, "").str("id")
	sc.want(sc.do("PUT", "/Users/"+other, `{"userName": "ada@acme.example", "active": false}`), 409, "uniqueness")
	r = sc.want(sc.do("GET", "/Users/"+other, ""), 200, "")
	if r.str("userName") != "other@acme.example" || r.Body["active"] != true {
		t.Fatalf("a refused PUT was partly applied: %s", r.Raw)
	}
}
