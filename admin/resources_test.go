package admin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/notify"
	"github.com/authz/authz/offboarding"
	"github.com/authz/authz/store"
)

func TestTenants(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tn := e.createTenant("acme")
		if !strings.HasPrefix(tn.ID, store.PrefixTenant) || tn.Name != "acme" || tn.Status != "active" || !tn.CreatedAt.Equal(t0) {
			t.Fatalf("created %+v", tn)
		}
		var list apiv1.List[apiv1.Tenant]
		e.call(tokAdmin, "GET", "/tenants?limit=2", nil, http.StatusOK, &list)
		if len(list.Items) != 2 || list.Next == "" {
			t.Fatalf("first page of 3 tenants by 2: %+v", list)
		}
		var rest apiv1.List[apiv1.Tenant]
		e.call(tokAdmin, "GET", "/tenants?limit=2&after="+list.Next, nil, http.StatusOK, &rest)
		if len(rest.Items) != 1 || rest.Next != "" {
			t.Fatalf("second page: %+v", rest)
		}

		sunset := time.Date(2030, 12, 31, 0, 0, 0, 0, time.UTC)
		var got apiv1.Tenant
		e.call(tokAdmin, "PUT", "/tenants/"+tn.ID+"/sunset", apiv1.SetSunset{LegacySunsetAt: sunset}, http.StatusOK, &got)
		if got.LegacySunsetAt == nil || !got.LegacySunsetAt.Equal(sunset) {
			t.Fatalf("sunset %v", got.LegacySunsetAt)
		}
		var cleared apiv1.Tenant
		e.call(tokAdmin, "DELETE", "/tenants/"+tn.ID+"/sunset", nil, http.StatusOK, &cleared)
		if cleared.LegacySunsetAt != nil {
			t.Fatalf("sunset not cleared: %v", cleared.LegacySunsetAt)
		}

		e.call(tokAdmin, "POST", "/tenants/"+tn.ID+"/suspend", nil, http.StatusOK, &got)
		if got.Status != "suspended" || got.StatusChangedBy != "admin:cli_admin" {
			t.Fatalf("suspended: %+v", got)
		}
		var suspended apiv1.List[apiv1.Tenant]
		e.call(tokAdmin, "GET", "/tenants?status=suspended", nil, http.StatusOK, &suspended)
		if len(suspended.Items) != 1 || suspended.Items[0].ID != tn.ID {
			t.Fatalf("status filter: %+v", suspended)
		}
		before := len(e.events())
		e.call(tokAdmin, "POST", "/tenants/"+tn.ID+"/suspend", nil, http.StatusOK, &got)
		if n := len(e.events()); n != before {
			t.Fatalf("suspending a suspended tenant recorded %d events", n-before)
		}
		e.call(tokAdmin, "POST", "/tenants/"+tn.ID+"/resume", nil, http.StatusOK, &got)
		if got.Status != "active" {
			t.Fatalf("resumed: %+v", got)
		}
		e.refusal(e.do(tokAdmin, "POST", "/tenants/"+store.SystemTenantID+"/suspend", nil), http.StatusBadRequest, errcode.RequestInvalid)
		e.refusal(e.do(tokAdmin, "GET", "/tenants/ten_doesnotexist00000", nil), http.StatusNotFound, errcode.NotFound)
	})
}

func TestPrincipals(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		var p apiv1.Principal
		e.call(tokAdmin, "POST", "/principals", apiv1.CreatePrincipal{TenantID: e.tenantA, Kind: "service", Name: "billing", ExternalID: "u-17"}, http.StatusCreated, &p)
		if !strings.HasPrefix(p.ID, store.PrefixPrincipal) || p.TenantID != e.tenantA || p.Kind != "service" || p.Status != "active" || p.ExternalID != "u-17" {
			t.Fatalf("created %+v", p)
		}
		var other apiv1.Principal
		e.call(tokA, "POST", "/principals", apiv1.CreatePrincipal{Kind: "user", Name: "Ada"}, http.StatusCreated, &other)
		if other.TenantID != e.tenantA {
			t.Fatalf("a tenant admin's principal went to %q, want its own tenant", other.TenantID)
		}
		var byExt apiv1.List[apiv1.Principal]
		e.call(tokAdmin, "GET", "/principals?tenant_id="+e.tenantA+"&external_id=u-17", nil, http.StatusOK, &byExt)
		if len(byExt.Items) != 1 || byExt.Items[0].ID != p.ID {
			t.Fatalf("by external id: %+v", byExt)
		}
		var users apiv1.List[apiv1.Principal]
		e.call(tokAdmin, "GET", "/principals?kind=user", nil, http.StatusOK, &users)
		if len(users.Items) != 1 || users.Items[0].ID != other.ID {
			t.Fatalf("by kind: %+v", users)
		}

		// Two active keys and one client: the suspension webhook counts them.
		for range 2 {
			e.call(tokAdmin, "POST", "/keys", apiv1.IssueKey{OwnerID: p.ID}, http.StatusCreated, nil)
		}
		e.call(tokAdmin, "POST", "/clients", apiv1.CreateClient{TenantID: e.tenantA, OwnerID: p.ID}, http.StatusCreated, nil)
		e.call(tokAdmin, "POST", "/principals/"+p.ID+"/suspend", nil, http.StatusOK, &p)
		if p.Status != "suspended" || p.StatusChangedBy != "admin:cli_admin" || p.StatusChangedAt == nil {
			t.Fatalf("suspended: %+v", p)
		}
		hooks, _, err := e.st.ListWebhooks(t.Context(), store.WebhookFilter{}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var sent []offboarding.Suspended
		for _, w := range hooks {
			if w.EventType != notify.PrincipalSuspended {
				continue
			}
			var body struct{ Data offboarding.Suspended }
			if err := json.Unmarshal(w.Payload, &body); err != nil {
				t.Fatal(err)
			}
			sent = append(sent, body.Data)
		}
		if len(sent) != 1 || sent[0].PrincipalID != p.ID || sent[0].ActiveKeys != 2 || sent[0].ActiveClients != 1 || sent[0].SuspendedBy != "admin:cli_admin" {
			t.Fatalf("principal.suspended webhooks: %+v", sent)
		}

		e.call(tokAdmin, "POST", "/principals/"+p.ID+"/resume", nil, http.StatusOK, &p)
		if p.Status != "active" {
			t.Fatalf("resumed: %+v", p)
		}
		e.call(tokAdmin, "DELETE", "/principals/"+p.ID, nil, http.StatusOK, &p)
		if p.Status != "deleted" || p.DeletedBy != "admin:cli_admin" || p.DeletedAt == nil || !p.DeletedAt.Equal(t0) {
			t.Fatalf("tombstone: %+v", p)
		}
		e.call(tokAdmin, "GET", "/principals/"+p.ID, nil, http.StatusOK, &p)
		if p.Status != "deleted" {
			t.Fatalf("the tombstone is gone: %+v", p)
		}
		e.refusal(e.do(tokAdmin, "POST", "/principals/"+p.ID+"/resume", nil), http.StatusConflict, errcode.Conflict)
	})
}

func TestRolesAndBindings(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		var p apiv1.Principal
		e.call(tokAdmin, "POST", "/principals", apiv1.CreatePrincipal{TenantID: e.tenantA, Kind: "service", Name: "svc"}, http.StatusCreated, &p)
		var r apiv1.Role
		e.call(tokAdmin, "POST", "/roles", apiv1.CreateRole{TenantID: e.tenantA, Name: "writer", Permissions: []string{"orders:write", "orders:read", "orders:write"}}, http.StatusCreated, &r)
		if !slices.Equal(r.Permissions, []string{"orders:read", "orders:write"}) {
			t.Fatalf("permissions %q: want sorted, without duplicates", r.Permissions)
		}
		e.call(tokAdmin, "PATCH", "/roles/"+r.ID, apiv1.UpdateRole{Permissions: []string{"orders:read"}}, http.StatusOK, &r)
		if !slices.Equal(r.Permissions, []string{"orders:read"}) {
			t.Fatalf("updated permissions %q", r.Permissions)
		}
		var b apiv1.Binding
		e.call(tokAdmin, "POST", "/roles/"+r.ID+"/bindings", apiv1.CreateBinding{PrincipalID: p.ID}, http.StatusCreated, &b)
		if b.ID != p.ID+":"+r.ID || b.TenantID != e.tenantA {
			t.Fatalf("binding %+v", b)
		}
		e.refusal(e.do(tokAdmin, "POST", "/roles/"+r.ID+"/bindings", apiv1.CreateBinding{PrincipalID: p.ID}), http.StatusConflict, errcode.Conflict)
		roles, err := e.st.RolesOfPrincipal(t.Context(), p.ID)
		if err != nil || len(roles) != 1 || roles[0].ID != r.ID {
			t.Fatalf("roles of principal: %v %v", roles, err)
		}
		var bl apiv1.List[apiv1.Binding]
		e.call(tokAdmin, "GET", "/bindings?principal_id="+p.ID, nil, http.StatusOK, &bl)
		if len(bl.Items) != 1 || bl.Items[0].RoleID != r.ID {
			t.Fatalf("bindings: %+v", bl)
		}
		e.call(tokAdmin, "DELETE", "/roles/"+r.ID+"/bindings/"+p.ID, nil, http.StatusNoContent, nil)
		e.refusal(e.do(tokAdmin, "DELETE", "/roles/"+r.ID+"/bindings/"+p.ID, nil), http.StatusNotFound, errcode.NotFound)

		var q apiv1.Principal
		e.call(tokAdmin, "POST", "/principals", apiv1.CreatePrincipal{TenantID: e.tenantB, Kind: "service", Name: "elsewhere"}, http.StatusCreated, &q)
		body := e.refusal(e.do(tokAdmin, "POST", "/roles/"+r.ID+"/bindings", apiv1.CreateBinding{PrincipalID: q.ID}), http.StatusBadRequest, errcode.RequestInvalid)
		if !strings.HasPrefix(body.Description, "principal_id:") {
			t.Fatalf("cross-tenant binding refused with %q", body.Description)
		}
		e.call(tokAdmin, "DELETE", "/roles/"+r.ID, nil, http.StatusNoContent, nil)
		e.refusal(e.do(tokAdmin, "GET", "/roles/"+r.ID, nil), http.StatusNotFound, errcode.NotFound)
	})
}

func TestClients(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		ctx := t.Context()
		var p apiv1.Principal
		e.call(tokAdmin, "POST", "/principals", apiv1.CreatePrincipal{TenantID: e.tenantA, Kind: "service", Name: "svc"}, http.StatusCreated, &p)
		e.call(tokAdmin, "POST", "/audiences", apiv1.CreateAudience{TenantID: e.tenantA, Identifier: "https://api.example"}, http.StatusCreated, nil)
		var c apiv1.Client
		e.call(tokAdmin, "POST", "/clients", apiv1.CreateClient{TenantID: e.tenantA, OwnerID: p.ID, Scopes: []string{"orders:read"}, Audiences: []string{"https://api.example"}}, http.StatusCreated, &c)
		if c.AuthMethod != store.AuthSecretBasic || !slices.Equal(c.GrantTypes, []string{store.GrantClientCredentials}) || len(c.Secrets) != 1 {
			t.Fatalf("defaults: %+v", c)
		}
		first := c.ClientSecret
		if !strings.HasPrefix(first, "azs_") {
			t.Fatalf("client_secret %q", first)
		}
		stored, err := e.st.GetClient(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !e.secrets.Match(stored, first, e.now) {
			t.Fatal("the secret returned does not authenticate the client")
		}
		var again apiv1.Client
		e.call(tokAdmin, "GET", "/clients/"+c.ID, nil, http.StatusOK, &again)
		if again.ClientSecret != "" || strings.Contains(e.do(tokAdmin, "GET", "/clients/"+c.ID, nil).Body.String(), first) {
			t.Fatal("the secret is shown again after creation")
		}

		e.call(tokAdmin, "POST", "/clients/"+c.ID+"/rotate-secret", apiv1.Rotate{Overlap: ptr(int64(3600))}, http.StatusOK, &c)
		second := c.ClientSecret
		if second == "" || second == first || len(c.Secrets) != 2 {
			t.Fatalf("rotated: %+v", c)
		}
		stored, _ = e.st.GetClient(ctx, c.ID)
		if !e.secrets.Match(stored, first, e.now) || !e.secrets.Match(stored, second, e.now) {
			t.Fatal("during the overlap both secrets must work")
		}
		if e.secrets.Match(stored, first, e.now.Add(time.Hour)) || !e.secrets.Match(stored, second, e.now.Add(time.Hour)) {
			t.Fatal("after the overlap only the new secret may work")
		}

		e.call(tokAdmin, "PATCH", "/clients/"+c.ID, apiv1.UpdateClient{Scopes: &[]string{"orders:read", "orders:write"}, AccessTokenLifetime: ptr(int64(600))}, http.StatusOK, &c)
		if !slices.Equal(c.Scopes, []string{"orders:read", "orders:write"}) || c.AccessTokenLifetime != 600 || !slices.Equal(c.Audiences, []string{"https://api.example"}) {
			t.Fatalf("patched: %+v", c)
		}
		e.call(tokAdmin, "POST", "/clients/"+c.ID+"/suspend", nil, http.StatusOK, &c)
		if c.Status != "suspended" {
			t.Fatalf("suspended: %+v", c)
		}
		e.call(tokAdmin, "POST", "/clients/"+c.ID+"/resume", nil, http.StatusOK, &c)
		var list apiv1.List[apiv1.Client]
		e.call(tokAdmin, "GET", "/clients?owner_id="+p.ID, nil, http.StatusOK, &list)
		if len(list.Items) != 1 || list.Items[0].ID != c.ID {
			t.Fatalf("list by owner: %+v", list)
		}
		e.call(tokAdmin, "DELETE", "/clients/"+c.ID, nil, http.StatusNoContent, nil)
		e.refusal(e.do(tokAdmin, "GET", "/clients/"+c.ID, nil), http.StatusNotFound, errcode.NotFound)

		// private_key_jwt: public keys only, and no secret.
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		privSet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
		pubSet, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &priv.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
		var jc apiv1.Client
		e.call(tokAdmin, "POST", "/clients", apiv1.CreateClient{TenantID: e.tenantA, OwnerID: p.ID, AuthMethod: store.AuthPrivateKeyJWT, JWKS: pubSet}, http.StatusCreated, &jc)
		if jc.ClientSecret != "" || len(jc.Secrets) != 0 || len(jc.JWKS) == 0 {
			t.Fatalf("private_key_jwt client: %+v", jc)
		}
		body := e.refusal(e.do(tokAdmin, "POST", "/clients", apiv1.CreateClient{TenantID: e.tenantA, OwnerID: p.ID, AuthMethod: store.AuthPrivateKeyJWT, JWKS: privSet}), http.StatusBadRequest, errcode.RequestInvalid)
		if !strings.Contains(body.Description, "private key") {
			t.Fatalf("a private JWK was refused with %q", body.Description)
		}
		e.refusal(e.do(tokAdmin, "POST", "/clients/"+jc.ID+"/rotate-secret", nil), http.StatusBadRequest, errcode.RequestInvalid)
	})
}

func TestKeys(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		f := e.fixture(e.tenantA)
		if !strings.HasPrefix(f.key.Key, legacykeys.Prefix) || f.key.Status != "active" || f.key.TenantID != e.tenantA {
			t.Fatalf("issued %+v", f.key)
		}
		var got apiv1.LegacyKey
		e.call(tokAdmin, "GET", "/keys/"+f.key.ID, nil, http.StatusOK, &got)
		if got.Key != "" {
			t.Fatal("the key is shown again after issue")
		}
		var d legacykeys.Diagnosis
		e.call(tokAdmin, "POST", "/keys/diagnose", apiv1.DiagnoseKey{Key: f.key.Key}, http.StatusOK, &d)
		if !d.Found || d.Verdict != "ok" || d.Key.ID != f.key.ID {
			t.Fatalf("diagnose by value: %+v", d)
		}

		var rotated apiv1.RotatedKey
		e.call(tokAdmin, "POST", "/keys/"+f.key.ID+"/rotate", apiv1.Rotate{Overlap: ptr(int64(600))}, http.StatusOK, &rotated)
		if rotated.Key == "" || rotated.RotatedFrom != f.key.ID || rotated.Previous.ExpiresAt == nil || !rotated.Previous.ExpiresAt.Equal(t0.Add(10*time.Minute)) {
			t.Fatalf("rotated: %+v", rotated)
		}
		e.call(tokAdmin, "POST", "/keys/"+f.key.ID+"/revoke", apiv1.RevokeKey{Reason: "leaked"}, http.StatusOK, &got)
		if got.Status != "revoked" || got.RevokedReason != "leaked" || got.RevokedBy != "admin:cli_admin" {
			t.Fatalf("revoked: %+v", got)
		}
		e.call(tokAdmin, "GET", "/keys/"+f.key.ID+"/diagnosis", nil, http.StatusOK, &d)
		if d.Verdict != string(errcode.KeyRevoked) {
			t.Fatalf("diagnosis of a revoked key: %s", d.Verdict)
		}

		var q apiv1.Principal
		e.call(tokAdmin, "POST", "/principals", apiv1.CreatePrincipal{TenantID: e.tenantA, Kind: "service", Name: "heir"}, http.StatusCreated, &q)
		e.call(tokAdmin, "POST", "/keys/"+rotated.ID+"/reassign", apiv1.ReassignKey{OwnerID: q.ID}, http.StatusOK, &got)
		if got.OwnerID != q.ID {
			t.Fatalf("reassigned: %+v", got)
		}
		var list apiv1.List[apiv1.LegacyKey]
		e.call(tokAdmin, "GET", "/keys?owner_id="+q.ID, nil, http.StatusOK, &list)
		if len(list.Items) != 1 || list.Items[0].ID != rotated.ID {
			t.Fatalf("keys of the new owner: %+v", list)
		}
		e.call(tokAdmin, "GET", "/keys?status=revoked&tenant_id="+e.tenantA, nil, http.StatusOK, &list)
		if len(list.Items) != 1 || list.Items[0].ID != f.key.ID {
			t.Fatalf("revoked keys: %+v", list)
		}

		// Import: owners matched by external id; an unknown owner is an
		// orphan; a second run finds everything present.
		rows := []apiv1.ImportRow{
			{Line: 2, Key: "old-system-key-0001", OwnerExternalID: f.extID, Tenant: e.tenantA},
			{Line: 3, Key: "old-system-key-0002", OwnerExternalID: "gone-1", Tenant: e.tenantA},
			{Line: 4, Problem: "key: missing"},
			{Line: 5, Key: "old-system-key-0003", OwnerExternalID: f.extID, Tenant: e.tenantA, Scopes: []string{"authz:admin"}},
		}
		var sum apiv1.ImportSummary
		e.call(tokAdmin, "POST", "/keys/import", apiv1.ImportKeys{Rows: rows, DryRun: true}, http.StatusOK, &sum)
		if sum.Imported != 2 || !sum.DryRun {
			t.Fatalf("dry run: %+v", sum)
		}
		e.call(tokAdmin, "GET", "/keys?tenant_id="+e.tenantA+"&limit=1000", nil, http.StatusOK, &list)
		if len(list.Items) != 2 {
			t.Fatalf("a dry run wrote keys: %d keys", len(list.Items))
		}
		e.call(tokAdmin, "POST", "/keys/import", apiv1.ImportKeys{Rows: rows}, http.StatusOK, &sum)
		if sum.Imported != 2 || sum.Orphans != 1 || len(sum.Rejected) != 2 || sum.Rejected[0].Line != 4 || sum.Rejected[1].Line != 5 {
			t.Fatalf("import: %+v", sum)
		}
		e.call(tokAdmin, "POST", "/keys/import", apiv1.ImportKeys{Rows: rows}, http.StatusOK, &sum)
		if sum.Imported != 0 || sum.AlreadyPresent != 2 {
			t.Fatalf("re-import: %+v", sum)
		}
		var orphans apiv1.List[legacykeys.Orphan]
		e.call(tokAdmin, "GET", "/reports/orphans", nil, http.StatusOK, &orphans)
		if len(orphans.Items) != 1 || orphans.Items[0].Code != errcode.OwnerNotFound {
			t.Fatalf("orphans: %+v", orphans)
		}
		var remap apiv1.RemapSummary
		e.call(tokAdmin, "POST", "/keys/remap", apiv1.RemapKeys{Rows: []apiv1.RemapRow{{Line: 1, OldExternalID: "gone-1", NewPrincipal: q.ID}}}, http.StatusOK, &remap)
		if remap.KeysRemapped != 1 {
			t.Fatalf("remap: %+v", remap)
		}
		e.call(tokAdmin, "GET", "/reports/orphans", nil, http.StatusOK, &orphans)
		if len(orphans.Items) != 0 {
			t.Fatalf("orphans after remap: %+v", orphans)
		}

		var soon apiv1.LegacyKey
		e.call(tokAdmin, "POST", "/keys", apiv1.IssueKey{OwnerID: q.ID, ExpiresIn: 1800}, http.StatusCreated, &soon)
		e.call(tokAdmin, "POST", "/keys", apiv1.IssueKey{OwnerID: q.ID, ExpiresIn: 7200}, http.StatusCreated, nil)
		var exp apiv1.List[apiv1.LegacyKey]
		e.call(tokAdmin, "GET", "/reports/expiring?within=1h", nil, http.StatusOK, &exp)
		if len(exp.Items) != 1 || exp.Items[0].ID != soon.ID {
			t.Fatalf("expiring within 1h: %+v", exp)
		}
		// Reports page (issue 19): one key per page, the cursor leads on;
		// a bad limit, cursor or days is the caller's error, never a 500.
		var page1, page2 apiv1.List[apiv1.LegacyKey]
		e.call(tokAdmin, "GET", "/reports/expiring?within=3h&limit=1", nil, http.StatusOK, &page1)
		e.call(tokAdmin, "GET", "/reports/expiring?within=3h&limit=1&after="+page1.Next, nil, http.StatusOK, &page2)
		if len(page1.Items) != 1 || page1.Items[0].ID != soon.ID || page1.Next == "" || len(page2.Items) != 1 || page2.Items[0].ID == soon.ID || page2.Items[0].ExpiresAt.Before(*page1.Items[0].ExpiresAt) {
			t.Fatalf("expiring by pages of one: %+v then %+v", page1, page2)
		}
		for _, path := range []string{"/reports/orphans?limit=0", "/reports/orphans?limit=1001", "/reports/expiring?limit=x",
			"/reports/expiring?after=not-a-cursor", "/reports/migration/history?days=0", "/reports/migration/history?days=367"} {
			e.refusal(e.do(tokAdmin, "GET", path, nil), http.StatusBadRequest, errcode.RequestInvalid)
		}
		var hist apiv1.List[legacykeys.MigrationDay]
		e.call(tokAdmin, "GET", "/reports/migration/history?days=30", nil, http.StatusOK, &hist)
		var mig legacykeys.MigrationReport
		e.call(tokAdmin, "GET", "/reports/migration?tenant_id="+e.tenantA, nil, http.StatusOK, &mig)
		if len(mig.Tenants) != 1 || mig.Tenants[0].TenantID != e.tenantA || mig.Tenants[0].ActiveKeys != 5 {
			t.Fatalf("migration report: %+v", mig.Tenants)
		}
	})
}

func TestSigningKeys(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		var list apiv1.List[apiv1.SigningKey]
		e.call(tokAdmin, "GET", "/signing-keys", nil, http.StatusOK, &list)
		states := map[string]string{}
		for _, k := range list.Items {
			states[k.State] = k.ID
		}
		if len(list.Items) != 2 || states["current"] == "" || states["next"] == "" {
			t.Fatalf("signing keys at start: %+v", list.Items)
		}
		// A next key that verifiers may not have fetched yet cannot sign.
		e.refusal(e.do(tokAdmin, "POST", "/signing-keys/rotate", nil), http.StatusBadRequest, errcode.RequestInvalid)
		e.now = e.now.Add(time.Hour)
		var cur apiv1.SigningKey
		e.call(tokAdmin, "POST", "/signing-keys/rotate", nil, http.StatusOK, &cur)
		if cur.ID != states["next"] || cur.State != "current" {
			t.Fatalf("after rotation the next key must be current: %+v", cur)
		}
		e.call(tokAdmin, "POST", "/signing-keys/"+states["current"]+"/withdraw", nil, http.StatusNoContent, nil)
		e.call(tokAdmin, "GET", "/signing-keys", nil, http.StatusOK, &list)
		for _, k := range list.Items {
			if k.ID == states["current"] {
				t.Fatalf("withdrawn key %s still listed", k.ID)
			}
		}
		e.refusal(e.do(tokAdmin, "POST", "/signing-keys/no-such-kid/withdraw", nil), http.StatusNotFound, errcode.NotFound)
	})
}

func TestAuditListAndVerify(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		f := e.fixture(e.tenantA)
		e.call(tokAdmin, "POST", "/principals/"+f.principal.ID+"/suspend", nil, http.StatusOK, nil)
		var list apiv1.List[apiv1.AuditEvent]
		e.call(tokAdmin, "GET", "/audit/events?target=principal:"+f.principal.ID, nil, http.StatusOK, &list)
		if len(list.Items) != 2 || list.Items[0].Action != "principal.suspend" || list.Items[1].Action != "principal.create" {
			t.Fatalf("events of the principal, newest first: %+v", list.Items)
		}
		e.call(tokAdmin, "GET", "/audit/events?order=asc&action=tenant.create", nil, http.StatusOK, &list)
		if len(list.Items) != 2 || list.Items[0].Seq > list.Items[1].Seq {
			t.Fatalf("tenant.create events, oldest first: %+v", list.Items)
		}
		e.call(tokAdmin, "GET", "/audit/events?actor=admin:cli_admin&outcome=success&since="+t0.Format(time.RFC3339)+"&until="+t0.Add(time.Second).Format(time.RFC3339), nil, http.StatusOK, &list)
		if len(list.Items) == 0 {
			t.Fatal("no events in the time window")
		}
		e.call(tokAdmin, "GET", "/audit/events?since="+t0.Add(time.Second).Format(time.RFC3339), nil, http.StatusOK, &list)
		if len(list.Items) != 0 {
			t.Fatalf("events after every change: %+v", list.Items)
		}
		var rep apiv1.AuditReport
		e.call(tokAdmin, "GET", "/audit/verify", nil, http.StatusOK, &rep)
		if !rep.OK || rep.Events == 0 || rep.Events != rep.Head || rep.HeadHash == "" {
			t.Fatalf("verify: %+v", rep)
		}
	})
}

func ptr[T any](v T) *T { return &v }
