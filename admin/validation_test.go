package admin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
)

func TestValidation(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		f := e.fixture(e.tenantA)
		tests := []struct {
			name   string
			method string
			path   string
			body   any
			status int
			code   errcode.Code
			field  string // the description must start with it
		}{
			{"tenant without a name", "POST", "/tenants", `{"name":""}`, 400, errcode.RequestInvalid, "name:"},
			{"tenant name with spaces around", "POST", "/tenants", `{"name":" acme "}`, 400, errcode.RequestInvalid, "name:"},
			{"tenant name taken", "POST", "/tenants", `{"name":"tenant A"}`, 409, errcode.Conflict, "name:"},
			{"unknown field", "POST", "/tenants", `{"name":"x","nmae":"y"}`, 400, errcode.RequestInvalid, "request body:"},
			{"not JSON", "POST", "/tenants", `{"name":`, 400, errcode.RequestInvalid, "request body:"},
			{"two objects", "POST", "/tenants", `{"name":"x"}{"name":"y"}`, 400, errcode.RequestInvalid, "request body:"},
			{"wrong type", "POST", "/tenants", `{"name":7}`, 400, errcode.RequestInvalid, "name:"},
			{"empty body", "POST", "/tenants", ``, 400, errcode.RequestInvalid, "request body:"},
			{"body too large", "POST", "/tenants", `{"name":"` + strings.Repeat("a", maxBody) + `"}`, 413, errcode.RequestTooLarge, "The request declares a body of"},
			{"sunset missing", "PUT", "/tenants/" + e.tenantA + "/sunset", `{}`, 400, errcode.RequestInvalid, "legacy_sunset_at:"},
			{"principal kind", "POST", "/principals", apiv1.CreatePrincipal{TenantID: e.tenantA, Kind: "robot", Name: "r"}, 400, errcode.RequestInvalid, "kind:"},
			{"principal without tenant", "POST", "/principals", apiv1.CreatePrincipal{Kind: "user", Name: "r"}, 400, errcode.RequestInvalid, "tenant_id:"},
			{"principal in an unknown tenant", "POST", "/principals", apiv1.CreatePrincipal{TenantID: "ten_nosuchtenant0000", Kind: "user", Name: "r"}, 404, errcode.NotFound, "no tenant"},
			{"external id taken", "POST", "/principals", apiv1.CreatePrincipal{TenantID: e.tenantA, Kind: "user", Name: "r", ExternalID: f.extID}, 409, errcode.Conflict, "external_id:"},
			{"role without permissions", "POST", "/roles", apiv1.CreateRole{TenantID: e.tenantA, Name: "empty"}, 400, errcode.RequestInvalid, "permissions:"},
			{"permission with a space", "POST", "/roles", apiv1.CreateRole{TenantID: e.tenantA, Name: "x", Permissions: []string{"orders read"}}, 400, errcode.RequestInvalid, "permissions[0]:"},
			{"authz:admin outside the system tenant", "POST", "/roles", apiv1.CreateRole{TenantID: e.tenantA, Name: "x", Permissions: []string{"authz:admin"}}, 400, errcode.RequestInvalid, "permissions:"},
			{"role name taken", "POST", "/roles", apiv1.CreateRole{TenantID: e.tenantA, Name: f.role.Name, Permissions: []string{"a:b"}}, 409, errcode.Conflict, "name:"},
			{"client without owner", "POST", "/clients", apiv1.CreateClient{TenantID: e.tenantA}, 400, errcode.RequestInvalid, "owner_id:"},
			{"client auth method", "POST", "/clients", apiv1.CreateClient{TenantID: e.tenantA, OwnerID: f.principal.ID, AuthMethod: "none"}, 400, errcode.RequestInvalid, "auth_method:"},
			{"client grant type", "POST", "/clients", apiv1.CreateClient{TenantID: e.tenantA, OwnerID: f.principal.ID, GrantTypes: []string{"password"}}, 400, errcode.RequestInvalid, "grant_types:"},
			{"client scope authz:admin", "POST", "/clients", apiv1.CreateClient{TenantID: e.tenantA, OwnerID: f.principal.ID, Scopes: []string{"authz:admin"}}, 400, errcode.RequestInvalid, "scopes:"},
			{"client token lifetime", "POST", "/clients", apiv1.CreateClient{TenantID: e.tenantA, OwnerID: f.principal.ID, AccessTokenLifetime: 7 * 86400}, 400, errcode.RequestInvalid, "access_token_lifetime:"},
			{"jwks for a secret client", "POST", "/clients", `{"tenant_id":"` + e.tenantA + `","owner_id":"` + f.principal.ID + `","jwks":{"keys":[]}}`, 400, errcode.RequestInvalid, "jwks:"},
			{"private_key_jwt without keys", "POST", "/clients", apiv1.CreateClient{TenantID: e.tenantA, OwnerID: f.principal.ID, AuthMethod: "private_key_jwt"}, 400, errcode.RequestInvalid, "jwks:"},
			{"jwks_uri over http", "POST", "/clients", apiv1.CreateClient{TenantID: e.tenantA, OwnerID: f.principal.ID, AuthMethod: "private_key_jwt", JWKSURI: "http://keys.example/jwks"}, 400, errcode.RequestInvalid, "jwks_uri:"},
			{"client owner of another tenant", "POST", "/clients", apiv1.CreateClient{TenantID: e.tenantB, OwnerID: f.principal.ID}, 400, errcode.RequestInvalid, "owner_id:"},
			{"rotation overlap", "POST", "/clients/" + f.client.ID + "/rotate-secret", `{"overlap":-1}`, 400, errcode.RequestInvalid, "overlap:"},
			{"key without owner", "POST", "/keys", apiv1.IssueKey{}, 400, errcode.RequestInvalid, "owner_id:"},
			{"key expiry", "POST", "/keys", apiv1.IssueKey{OwnerID: f.principal.ID, ExpiresIn: -5}, 400, errcode.RequestInvalid, "expires_in:"},
			{"revoke without reason", "POST", "/keys/" + f.key.ID + "/revoke", apiv1.RevokeKey{}, 400, errcode.RequestInvalid, "reason:"},
			{"diagnose without key", "POST", "/keys/diagnose", apiv1.DiagnoseKey{}, 400, errcode.RequestInvalid, "key:"},
			{"list limit", "GET", "/principals?limit=0", nil, 400, errcode.RequestInvalid, "limit:"},
			{"list status", "GET", "/principals?status=gone", nil, 400, errcode.RequestInvalid, "status:"},
			{"audit since", "GET", "/audit/events?since=yesterday", nil, 400, errcode.RequestInvalid, "since:"},
			{"audit outcome", "GET", "/audit/events?outcome=maybe", nil, 400, errcode.RequestInvalid, "outcome:"},
			{"expiring window", "GET", "/keys?expiring_within=soon", nil, 400, errcode.RequestInvalid, "expiring_within:"},
			{"suspend with an unknown field", "POST", "/principals/" + f.principal.ID + "/suspend", `{"why":"x"}`, 400, errcode.RequestInvalid, "request body:"},
			{"suspend with a control character in the reason", "POST", "/principals/" + f.principal.ID + "/suspend", `{"reason":"a\u001b[2Jb"}`, 400, errcode.RequestInvalid, "reason:"},
			{"suspend with a bad dry_run", "POST", "/principals/" + f.principal.ID + "/suspend?dry_run=maybe", nil, 400, errcode.RequestInvalid, "dry_run:"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := len(e.events())
				b := e.refusal(e.do(tokAdmin, tt.method, tt.path, tt.body), tt.status, tt.code)
				if !strings.HasPrefix(b.Description, tt.field) {
					t.Fatalf("error_description %q does not start with %q", b.Description, tt.field)
				}
				if after := len(e.events()); after != before {
					t.Fatalf("a refused request recorded %d audit events", after-before)
				}
			})
		}
	})
}

func TestStorageDownIsUnavailable(t *testing.T) {
	st := openSQLite(t)
	e := newEnv(t, st)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	rec := e.do(tokAdmin, http.MethodGet, "/principals", nil)
	e.refusal(rec, http.StatusServiceUnavailable, errcode.Unavailable)
	if rec.Header().Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
}
