package admin

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/store"
)

// outcome is what a tenant admin must get when it aims a route at another
// tenant.
type outcome int

const (
	hiddenNotFound   outcome = iota // 404 not_found, as if nothing were there
	emptyList                       // 200 with no items
	onlyOwn                         // 200, listing only the caller's tenant
	adminOnly                       // 403 forbidden whatever the target
	rowsRejected                    // 200, every row rejected, nothing done
	diagnosedUnknown                // 200, the diagnosis of a key that does not exist
)

// probe aims one route at the objects of a fixture.
type probe struct {
	build func(f fixture) (path string, body any)
	other outcome
}

// probes has one entry per route of routes(): TestTenantIsolation fails for
// a route without one, so no route can be added without its isolation
// being tested.
func probes() map[string]probe {
	id := func(format string) func(f fixture) (string, any) {
		return func(f fixture) (string, any) { return expand(format, f), nil }
	}
	with := func(format string, body func(f fixture) any) func(f fixture) (string, any) {
		return func(f fixture) (string, any) { return expand(format, f), body(f) }
	}
	return map[string]probe{
		"POST /tenants":               {id("/tenants"), adminOnly},
		"GET /tenants":                {id("/tenants"), onlyOwn},
		"GET /tenants/{id}":           {id("/tenants/{tenant}"), hiddenNotFound},
		"POST /tenants/{id}/suspend":  {id("/tenants/{tenant}/suspend"), adminOnly},
		"POST /tenants/{id}/resume":   {id("/tenants/{tenant}/resume"), adminOnly},
		"PUT /tenants/{id}/sunset":    {with("/tenants/{tenant}/sunset", func(fixture) any { return apiv1.SetSunset{LegacySunsetAt: t0.AddDate(1, 0, 0)} }), hiddenNotFound},
		"DELETE /tenants/{id}/sunset": {id("/tenants/{tenant}/sunset"), hiddenNotFound},

		"POST /principals": {with("/principals", func(f fixture) any {
			return apiv1.CreatePrincipal{TenantID: f.tenant, Kind: "user", Name: "intruder"}
		}), hiddenNotFound},
		"GET /principals":               {id("/principals?tenant_id={tenant}"), emptyList},
		"GET /principals/{id}":          {id("/principals/{principal}"), hiddenNotFound},
		"POST /principals/{id}/suspend": {id("/principals/{principal}/suspend"), hiddenNotFound},
		"POST /principals/{id}/resume":  {id("/principals/{principal}/resume"), hiddenNotFound},
		"DELETE /principals/{id}":       {id("/principals/{principal}"), hiddenNotFound},
		"POST /roles": {with("/roles", func(f fixture) any {
			return apiv1.CreateRole{TenantID: f.tenant, Name: "x", Permissions: []string{"a:b"}}
		}), hiddenNotFound},
		"GET /roles":                                 {id("/roles?tenant_id={tenant}"), emptyList},
		"GET /roles/{id}":                            {id("/roles/{role}"), hiddenNotFound},
		"PATCH /roles/{id}":                          {with("/roles/{role}", func(fixture) any { return apiv1.UpdateRole{Permissions: []string{"everything:write"}} }), hiddenNotFound},
		"DELETE /roles/{id}":                         {id("/roles/{role}"), hiddenNotFound},
		"POST /roles/{id}/bindings":                  {with("/roles/{role}/bindings", func(f fixture) any { return apiv1.CreateBinding{PrincipalID: f.spare.ID} }), hiddenNotFound},
		"DELETE /roles/{id}/bindings/{principal_id}": {id("/roles/{role}/bindings/{principal}"), hiddenNotFound},
		"GET /bindings":                              {id("/bindings?principal_id={principal}"), emptyList},

		"POST /clients": {with("/clients", func(f fixture) any {
			return apiv1.CreateClient{TenantID: f.tenant, OwnerID: f.principal.ID}
		}), hiddenNotFound},
		"GET /clients":                     {id("/clients?owner_id={principal}"), emptyList},
		"GET /clients/{id}":                {id("/clients/{client}"), hiddenNotFound},
		"PATCH /clients/{id}":              {with("/clients/{client}", func(fixture) any { return apiv1.UpdateClient{Scopes: &[]string{"x:y"}} }), hiddenNotFound},
		"POST /clients/{id}/rotate-secret": {id("/clients/{client}/rotate-secret"), hiddenNotFound},
		"POST /clients/{id}/suspend":       {id("/clients/{client}/suspend"), hiddenNotFound},
		"POST /clients/{id}/resume":        {id("/clients/{client}/resume"), hiddenNotFound},
		"DELETE /clients/{id}":             {id("/clients/{client}"), hiddenNotFound},

		"POST /keys":               {with("/keys", func(f fixture) any { return apiv1.IssueKey{OwnerID: f.principal.ID} }), hiddenNotFound},
		"GET /keys":                {id("/keys?tenant_id={tenant}"), emptyList},
		"GET /keys/{id}":           {id("/keys/{key}"), hiddenNotFound},
		"POST /keys/{id}/revoke":   {with("/keys/{key}/revoke", func(fixture) any { return apiv1.RevokeKey{Reason: "mischief"} }), hiddenNotFound},
		"POST /keys/{id}/rotate":   {id("/keys/{key}/rotate"), hiddenNotFound},
		"POST /keys/{id}/reassign": {with("/keys/{key}/reassign", func(f fixture) any { return apiv1.ReassignKey{OwnerID: f.principal.ID} }), hiddenNotFound},
		"GET /keys/{id}/diagnosis": {id("/keys/{key}/diagnosis"), hiddenNotFound},
		"POST /keys/diagnose":      {with("/keys/diagnose", func(f fixture) any { return apiv1.DiagnoseKey{Key: f.key.Key} }), diagnosedUnknown},
		"POST /keys/import": {with("/keys/import", func(f fixture) any {
			return apiv1.ImportKeys{Rows: []apiv1.ImportRow{{Line: 1, Key: "planted-" + f.extID, OwnerExternalID: f.extID, Tenant: f.tenant}}}
		}), hiddenNotFound},
		"POST /keys/{id}/resolve-conflict": {with("/keys/{key}/resolve-conflict", func(f fixture) any { return apiv1.ResolveKeyConflict{TenantID: f.tenant} }), adminOnly},
		"POST /keys/remap": {with("/keys/remap", func(f fixture) any {
			return apiv1.RemapKeys{Rows: []apiv1.RemapRow{{Line: 1, OldExternalID: "nobody", NewPrincipal: f.principal.ID}}}
		}), rowsRejected},

		"POST /audiences": {with("/audiences", func(f fixture) any {
			return apiv1.CreateAudience{TenantID: f.tenant, Identifier: "https://new-" + store.NewID("")}
		}), hiddenNotFound},
		"GET /audiences":               {id("/audiences?tenant_id={tenant}"), emptyList},
		"GET /audiences/{id}":          {id("/audiences/{audience}"), hiddenNotFound},
		"DELETE /audiences/{id}":       {id("/audiences/{audience}"), hiddenNotFound},
		"POST /audiences/{id}/share":   {with("/audiences/{audience}/share", func(f fixture) any { return apiv1.ShareAudience{TenantID: f.peer} }), hiddenNotFound},
		"POST /audiences/{id}/unshare": {with("/audiences/{audience}/unshare", func(f fixture) any { return apiv1.ShareAudience{TenantID: f.peer} }), hiddenNotFound},

		"GET /signing-keys":                {id("/signing-keys"), adminOnly},
		"POST /signing-keys/rotate":        {id("/signing-keys/rotate"), adminOnly},
		"POST /signing-keys/{id}/withdraw": {id("/signing-keys/any/withdraw"), adminOnly},

		"GET /audit/events": {id("/audit/events?tenant_id={tenant}"), emptyList},
		"GET /audit/verify": {id("/audit/verify"), adminOnly},
		"GET /audit/export": {id("/audit/export?until=2030-01-01T00:00:00Z"), adminOnly},
		"POST /audit/prune": {with("/audit/prune", func(fixture) any {
			return apiv1.AuditPrune{Until: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), Anchor: strings.Repeat("ab", 32)}
		}), adminOnly},

		"GET /reports/migration":         {id("/reports/migration?tenant_id={tenant}"), hiddenNotFound},
		"GET /reports/migration/history": {id("/reports/migration/history?tenant_id={tenant}"), hiddenNotFound},
		"GET /reports/orphans":           {id("/reports/orphans?tenant_id={tenant}"), hiddenNotFound},
		"GET /reports/expiring":          {id("/reports/expiring?tenant_id={tenant}"), hiddenNotFound},
		"POST /scim/tokens": {with("/scim/tokens", func(f fixture) any {
			return apiv1.CreateSCIMToken{TenantID: f.tenant, Name: "intruder"}
		}), hiddenNotFound},
		"GET /scim/tokens":              {id("/scim/tokens?tenant_id={tenant}"), emptyList},
		"POST /scim/tokens/{id}/revoke": {id("/scim/tokens/{scimtoken}/revoke"), hiddenNotFound},
		"POST /scim/group-mappings": {with("/scim/group-mappings", func(f fixture) any {
			return apiv1.CreateSCIMGroupMapping{TenantID: f.tenant, Group: "Engineering", Role: f.role.ID}
		}), hiddenNotFound},
		"GET /scim/group-mappings":    {id("/scim/group-mappings?tenant_id={tenant}"), emptyList},
		"DELETE /scim/group-mappings": {id("/scim/group-mappings?tenant_id={tenant}&group=Mapped&role={role}"), hiddenNotFound},

		"POST /console/links": {with("/console/links", func(f fixture) any { return apiv1.CreateConsoleLink{PrincipalID: f.principal.ID} }), hiddenNotFound},
	}
}

func expand(format string, f fixture) string {
	r := map[string]string{
		"{tenant}": url.QueryEscape(f.tenant), "{principal}": f.principal.ID, "{role}": f.role.ID,
		"{client}": f.client.ID, "{key}": f.key.ID, "{audience}": f.audience.ID, "{scimtoken}": f.scimToken.ID,
	}
	out := format
	for k, v := range r {
		out = strings.ReplaceAll(out, k, v)
	}
	return out
}

// TestTenantIsolation aims every route, as tenant A's administrator, at
// tenant B's objects: each must answer as if they did not exist (or
// refuse a server-wide operation), change nothing in tenant B, and leave
// no trace of B in the answer. The same probe aimed at A's own objects
// must succeed, so a refusal is isolation at work, not a broken probe.
func TestTenantIsolation(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		ps := probes()
		for _, rt := range routes() {
			name := rt.Method + " " + rt.Path
			p, ok := ps[name]
			if !ok {
				t.Errorf("route %s has no isolation probe: add one to probes()", name)
				continue
			}
			delete(ps, name)
			t.Run(name, func(t *testing.T) {
				theirs, ours := e.fixture(e.tenantB), e.fixture(e.tenantA)
				snapshot := e.tenantState(e.tenantB)

				path, body := p.build(theirs)
				rec := e.do(tokA, rt.Method, path, body)
				switch p.other {
				case hiddenNotFound:
					e.refusal(rec, http.StatusNotFound, errcode.NotFound)
				case adminOnly:
					e.refusal(rec, http.StatusForbidden, errcode.Forbidden)
				case emptyList:
					var l apiv1.List[json.RawMessage]
					if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &l) != nil || len(l.Items) != 0 {
						t.Fatalf("listing another tenant's objects: %d %s", rec.Code, rec.Body)
					}
					// Unfiltered, the listing is the caller's tenant only
					// (checked below: no id of tenant B in the answer).
					unfiltered, _, _ := strings.Cut(path, "?")
					rec = e.do(tokA, rt.Method, unfiltered, nil)
					if rec.Code != http.StatusOK {
						t.Fatalf("GET %s: %d %s", unfiltered, rec.Code, rec.Body)
					}
				case onlyOwn:
					var l apiv1.List[apiv1.Tenant]
					if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &l) != nil || len(l.Items) != 1 || l.Items[0].ID != e.tenantA {
						t.Fatalf("a tenant admin's tenant listing: %d %s", rec.Code, rec.Body)
					}
				case rowsRejected:
					var s apiv1.RemapSummary
					if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &s) != nil || s.KeysRemapped != 0 || len(s.Rejected) != s.Rows {
						t.Fatalf("remap onto another tenant's principal: %d %s", rec.Code, rec.Body)
					}
				case diagnosedUnknown:
					var d legacykeys.Diagnosis
					if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &d) != nil || d.Found || d.Key != nil || d.Verdict != string(errcode.KeyUnknown) {
						t.Fatalf("diagnosis of another tenant's key: %d %s", rec.Code, rec.Body)
					}
				}
				// The answer may repeat what the request said, and nothing
				// else of tenant B. (An issued key carries its id.)
				asked := path
				if raw, err := json.Marshal(body); err == nil {
					asked += string(raw)
				}
				for _, id := range []string{theirs.tenant, theirs.principal.ID, theirs.spare.ID, theirs.role.ID, theirs.client.ID, theirs.key.ID, theirs.audience.ID} {
					if !strings.Contains(asked, id) && !(p.other == diagnosedUnknown && id == theirs.key.ID) && strings.Contains(rec.Body.String(), id) {
						t.Fatalf("the answer names %s of tenant B: %s", id, rec.Body)
					}
				}
				if after := e.tenantState(e.tenantB); after != snapshot {
					t.Fatalf("tenant B changed:\nbefore %s\nafter  %s", snapshot, after)
				}

				if p.other == adminOnly {
					return
				}
				path, body = p.build(ours)
				if rec := e.do(tokA, rt.Method, path, body); rec.Code >= 300 {
					t.Fatalf("the same request on tenant A's own objects fails: %d %s", rec.Code, rec.Body)
				}
			})
		}
		for name := range ps {
			t.Errorf("probe %s matches no route", name)
		}
	})
}

// tenantState is everything of a tenant that a change could touch, as one
// comparable string.
func (e *env) tenantState(tenant string) string {
	e.t.Helper()
	ctx := e.t.Context()
	all := store.Page{Limit: store.MaxLimit}
	var state []any
	tn, err := e.st.GetTenant(ctx, tenant)
	if err != nil {
		e.t.Fatal(err)
	}
	ps, _, err1 := e.st.ListPrincipals(ctx, store.PrincipalFilter{TenantID: tenant}, all)
	rs, _, err2 := e.st.ListRoles(ctx, store.RoleFilter{TenantID: tenant}, all)
	bs, _, err3 := e.st.ListBindings(ctx, store.BindingFilter{TenantID: tenant}, all)
	cs, _, err4 := e.st.ListClients(ctx, store.ClientFilter{TenantID: tenant}, all)
	ks, _, err5 := e.st.ListLegacyKeys(ctx, store.LegacyKeyFilter{TenantID: tenant}, all)
	evs, _, err6 := e.st.ListAudit(ctx, store.AuditFilter{TenantID: tenant}, all)
	as, _, err7 := e.st.ListAudiences(ctx, store.AudienceFilter{TenantID: tenant}, all)
	for _, err := range []error{err1, err2, err3, err4, err5, err6, err7} {
		if err != nil {
			e.t.Fatal(err)
		}
	}
	state = append(state, tn, ps, rs, bs, cs, ks, len(evs), as)
	b, err := json.Marshal(state)
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}
