package scim_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
	"github.com/authz/authz/server/servertest"
)

// scimClient speaks SCIM to a running server with one connector token.
type scimClient struct {
	t     testing.TB
	e     *servertest.Env
	token string
}

type answer struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

func (a answer) str(k string) string { s, _ := a.Body[k].(string); return s }

func (a answer) total() int { n, _ := a.Body["totalResults"].(float64); return int(n) }

func (c scimClient) do(method, path, body string) answer {
	c.t.Helper()
	a, err := rawDo(http.DefaultClient, c.e.Issuer, c.token, method, path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	return a
}

// rawDo sends one SCIM request with the bearer token ("" = none) and
// decodes the answer, which must be SCIM JSON when it has a body.
func rawDo(hc *http.Client, issuer, token, method, path, body string) (answer, error) {
	req, err := http.NewRequest(method, issuer+"/scim/v2"+path, strings.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/scim+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	var raw bytes.Buffer
	if _, err := raw.ReadFrom(resp.Body); err != nil {
		return answer{}, err
	}
	a := answer{Status: resp.StatusCode, Header: resp.Header, Raw: raw.Bytes()}
	if raw.Len() > 0 {
		if err := json.Unmarshal(raw.Bytes(), &a.Body); err != nil {
			return a, fmt.Errorf("%s %s: answer is not JSON: %s", method, path, raw.Bytes())
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/scim+json") {
			return a, fmt.Errorf("%s %s: Content-Type %q", method, path, ct)
		}
	}
	return a, nil
}

// want checks the status, and for an error the RFC 7644 §3.12 shape.
func (c scimClient) want(a answer, status int, scimType string) answer {
	c.t.Helper()
	if a.Status != status {
		c.t.Fatalf("got %d %s, want %d", a.Status, a.Raw, status)
	}
	if status >= 400 {
		schemas, _ := a.Body["schemas"].([]any)
		if len(schemas) != 1 || schemas[0] != "urn:ietf:params:scim:api:messages:2.0:Error" || a.str("status") != fmt.Sprint(status) || a.str("detail") == "" {
			c.t.Fatalf("not an RFC 7644 error: %s", a.Raw)
		}
		if a.str("scimType") != scimType {
			c.t.Fatalf("scimType %q, want %q: %s", a.str("scimType"), scimType, a.Raw)
		}
	}
	return a
}

func filterQuery(f string) string { return "?filter=" + url.QueryEscape(f) }

// Bodies shaped as Okta documents them (SCIM 2.0 provisioning reference).
const oktaCreate = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
  "userName": "ada@acme.example",
  "name": {"givenName": "Ada", "familyName": "Lovelace"},
  "emails": [{"primary": true, "value": "ada@acme.example", "type": "work"}],
  "displayName": "Ada Lovelace",
  "locale": "en-US",
  "externalId": "00ujl29u0le5T6Aj10h7",
  "groups": [],
  "password": "1mz050nq",
  "active": true
}`

func oktaPut(id string, active bool) string {
	return fmt.Sprintf(`{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
  "id": %q,
  "userName": "ada@acme.example",
  "name": {"givenName": "Ada", "familyName": "Lovelace"},
  "emails": [{"primary": true, "value": "ada@acme.example", "type": "work"}],
  "displayName": "Ada Lovelace",
  "externalId": "00ujl29u0le5T6Aj10h7",
  "active": %t,
  "meta": {"resourceType": "User"}
}`, id, active)
}

func oktaActive(active bool) string {
	return fmt.Sprintf(`{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "replace", "value": {"active": %t}}]}`, active)
}

// Entra ID capitalises op and sends the boolean as a string; the same
// request carries attributes authz does not keep.
func entraActive(active string) string {
	return `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
  {"op": "Replace", "path": "active", "value": "` + active + `"},
  {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager", "value": "b21c8cba-28c9-4c36-9d8e-cb3b1bc4f0bd"},
  {"op": "Add", "path": "phoneNumbers[type eq \"work\"].value", "value": "+1 555 0100"},
  {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Analytical Engines"}
]}`
}

const entraCreate = `{
  "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
  "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
  "userName": "Grace_Hopper@contoso.com",
  "active": true,
  "addresses": [{"primary": true, "type": "work", "country": "US"}],
  "displayName": "Grace Hopper",
  "emails": [{"type": "work", "value": "Grace_Hopper@contoso.com", "primary": true}],
  "meta": {"resourceType": "User"},
  "name": {"formatted": "Grace Hopper", "familyName": "Hopper", "givenName": "Grace"},
  "roles": [],
  "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "1906", "department": "Navy", "manager": {"value": "m-1"}}
}`

type world struct {
	e      *servertest.Env
	a      *adminclient.Client
	tenant apiv1.Tenant
	role   apiv1.Role
	token  apiv1.SCIMToken
	sc     scimClient
}

func newWorld(t testing.TB, e *servertest.Env, name string) world {
	t.Helper()
	w := world{e: e, a: e.Admin()}
	ctx := e.Ctx()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	var err error
	w.tenant, err = w.a.CreateTenant(ctx, name)
	must(err)
	w.role, err = w.a.CreateRole(ctx, apiv1.CreateRole{TenantID: w.tenant.ID, Name: "orders", Permissions: []string{"orders:read"}})
	must(err)
	w.token, err = w.a.CreateSCIMToken(ctx, apiv1.CreateSCIMToken{TenantID: w.tenant.ID, Name: "Okta"})
	must(err)
	w.sc = scimClient{t: t, e: e, token: w.token.Token}
	return w
}

func (w world) bindings(t *testing.T, principal string) int {
	t.Helper()
	l, err := w.a.ListBindings(w.e.Ctx(), adminclient.BindingFilter{PrincipalID: principal})
	if err != nil {
		t.Fatal(err)
	}
	return len(l.Items)
}

// exchange trades the key and checks the answer: "" for success, or the
// error_code of the refusal.
func exchange(t *testing.T, e *servertest.Env, key, wantCode string) {
	t.Helper()
	r := e.Exchange(key, nil, "", "")
	if wantCode == "" {
		if r.Status != http.StatusOK {
			t.Fatalf("exchange refused: %d %s", r.Status, r.Raw)
		}
		return
	}
	servertest.WantError(t, r, http.StatusBadRequest, "invalid_request", wantCode)
}

// TestOktaAndEntraEndToEnd drives the real HTTP server, on both backends,
// with the requests Okta and Entra ID send, and checks after each that the
// owner's legacy key is refused or accepted.
func TestOktaAndEntraEndToEnd(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, dbURL string) {
		e := servertest.Start(t, dbURL)
		w := newWorld(t, e, "acme")
		sc := w.sc
		ctx := e.Ctx()
		if _, err := w.a.MapSCIMGroup(ctx, apiv1.CreateSCIMGroupMapping{TenantID: w.tenant.ID, Group: "Engineering", Role: "orders"}); err != nil {
			t.Fatal(err)
		}

		// Okta looks the user up before creating it.
		r := sc.want(sc.do("GET", "/Users"+filterQuery(`userName eq "ada@acme.example"`)+"&startIndex=1&count=100", ""), 200, "")
		if r.total() != 0 {
			t.Fatalf("lookup before create: %s", r.Raw)
		}
		r = sc.want(sc.do("POST", "/Users", oktaCreate), 201, "")
		id := r.str("id")
		if r.Header.Get("Location") == "" || r.Body["active"] != true || r.str("userName") != "ada@acme.example" || r.str("externalId") != "00ujl29u0le5T6Aj10h7" {
			t.Fatalf("created user: %s", r.Raw)
		}
		p, err := w.a.GetPrincipal(ctx, id)
		if err != nil || p.Kind != "user" || p.TenantID != w.tenant.ID || p.Name != "Ada Lovelace" || p.Source == nil || p.Source.TokenName != "Okta" {
			t.Fatalf("principal of the SCIM user: %+v %v", p, err)
		}
		r = sc.want(sc.do("GET", "/Users"+filterQuery(`userName eq "ADA@acme.example"`)+"&startIndex=1&count=100", ""), 200, "")
		if r.total() != 1 {
			t.Fatalf("filter after create: %s", r.Raw)
		}
		sc.want(sc.do("POST", "/Users", oktaCreate), 409, "uniqueness")

		// Group push: the member is bound to the mapped role.
		r = sc.want(sc.do("POST", "/Groups", `{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Engineering", "members": []}`), 201, "")
		gid := r.str("id")
		sc.want(sc.do("PATCH", "/Groups/"+gid, `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
			{"op": "add", "path": "members", "value": [{"value": "`+id+`", "display": "ada@acme.example"}]}]}`), 200, "")
		if n := w.bindings(t, id); n != 1 {
			t.Fatalf("bindings after group add: %d", n)
		}
		key := e.IssueKey(id, nil, time.Hour)
		exchange(t, e, key.Key, "")

		steps := []struct {
			name, method, body, code string
			active                   bool
		}{
			{"okta patch deactivate", "PATCH", oktaActive(false), "owner_suspended", false},
			{"okta patch reactivate", "PATCH", oktaActive(true), "", true},
			{"okta put deactivate", "PUT", oktaPut(id, false), "owner_suspended", false},
			{"okta put reactivate", "PUT", oktaPut(id, true), "", true},
			{"entra patch deactivate", "PATCH", entraActive("False"), "owner_suspended", false},
			{"entra patch reactivate", "PATCH", entraActive("True"), "", true},
		}
		for _, s := range steps {
			r := sc.want(sc.do(s.method, "/Users/"+id, s.body), 200, "")
			if r.Body["active"] != s.active {
				t.Fatalf("%s: active in the answer: %s", s.name, r.Raw)
			}
			exchange(t, e, key.Key, s.code)
		}
		p, _ = w.a.GetPrincipal(ctx, id)
		if p.Status != "active" || p.StatusChangedBy != "scim:"+w.token.ID {
			t.Fatalf("after the steps: %+v", p)
		}

		// Okta removes with a filtered path, Entra ID with a value.
		sc.want(sc.do("PATCH", "/Groups/"+gid, `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
			{"op": "remove", "path": "members[value eq \"`+id+`\"]"}]}`), 200, "")
		if n := w.bindings(t, id); n != 0 {
			t.Fatalf("bindings after okta remove: %d", n)
		}
		sc.want(sc.do("PATCH", "/Groups/"+gid, `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
			{"op": "Add", "path": "members", "value": [{"value": "`+id+`"}]}]}`), 200, "")
		if n := w.bindings(t, id); n != 1 {
			t.Fatalf("bindings after entra add: %d", n)
		}
		sc.want(sc.do("PATCH", "/Groups/"+gid, `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
			{"op": "Remove", "path": "members", "value": [{"value": "`+id+`"}]}]}`), 200, "")
		if n := w.bindings(t, id); n != 0 {
			t.Fatalf("bindings after entra remove: %d", n)
		}
		sc.want(sc.do("PATCH", "/Groups/"+gid, `{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [
			{"op": "add", "path": "members", "value": [{"value": "`+id+`"}]}]}`), 200, "")
		exchange(t, e, key.Key, "")

		// Entra ID: create with the enterprise extension, look up with
		// externalId and userName, deactivate, then hard-delete.
		r = sc.want(sc.do("POST", "/Users", entraCreate), 201, "")
		gid2 := r.str("id")
		r = sc.want(sc.do("GET", "/Users"+filterQuery(`externalId eq "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef" and userName eq "grace_hopper@contoso.com"`), ""), 200, "")
		if r.total() != 1 {
			t.Fatalf("entra lookup: %s", r.Raw)
		}
		sc.want(sc.do("PATCH", "/Users/"+gid2, entraActive("False")), 200, "")

		// DELETE: a tombstone deleted by scim:<token id>.
		sc.want(sc.do("DELETE", "/Users/"+id, ""), 204, "")
		exchange(t, e, key.Key, "owner_deleted")
		sc.want(sc.do("GET", "/Users/"+id, ""), 404, "")
		p, _ = w.a.GetPrincipal(ctx, id)
		if p.Status != "deleted" || p.DeletedBy != "scim:"+w.token.ID || p.Source == nil || p.Source.DeletedAt == nil {
			t.Fatalf("deleted principal: %+v", p)
		}
		if n := w.bindings(t, id); n != 0 {
			t.Fatalf("bindings of a deleted user: %d", n)
		}
		// The userName is free again.
		sc.want(sc.do("POST", "/Users", oktaCreate), 201, "")

		// Every change is audited as scim:<token id> with the address.
		evs, err := w.a.ListAudit(ctx, adminclient.AuditFilter{Actor: "scim:" + w.token.ID, Action: "principal.suspend"})
		if err != nil || len(evs.Items) != 4 {
			t.Fatalf("suspension events: %d %v", len(evs.Items), err)
		}
		if evs.Items[0].ClientAddr != "127.0.0.1" {
			t.Fatalf("suspension event without the source address: %+v", evs.Items[0])
		}
		evs, err = w.a.ListAudit(ctx, adminclient.AuditFilter{Actor: "scim:" + w.token.ID, Action: "scim.request"})
		if err != nil || len(evs.Items) < 20 {
			t.Fatalf("each use is audited: %d events, %v", len(evs.Items), err)
		}

		// A revoked token is refused.
		if _, err := w.a.RevokeSCIMToken(ctx, w.token.ID); err != nil {
			t.Fatal(err)
		}
		sc.want(sc.do("GET", "/Users", ""), 401, "")
	})
}

var newWorldTB = newWorld
