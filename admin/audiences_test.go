package admin

import (
	"net/http"
	"slices"
	"testing"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// TestAudiences is issue 18 §4 at the admin API: an audience registered by
// tenant B cannot be put in a client of tenant A, nor registered again by
// A; once B shares it with A, A's clients may list it; only B's
// administrators change it; every change is audited with its tenant.
func TestAudiences(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		const bAPI = "https://b-api"
		var pa apiv1.Principal
		e.call(tokA, "POST", "/principals", apiv1.CreatePrincipal{Kind: "service", Name: "svc a"}, http.StatusCreated, &pa)
		var bAud apiv1.Audience
		e.call(tokB, "POST", "/audiences", apiv1.CreateAudience{Identifier: bAPI}, http.StatusCreated, &bAud)
		if bAud.TenantID != e.tenantB || bAud.Identifier != bAPI || !store.HasPrefix(bAud.ID, store.PrefixAudience) || bAud.SharedWith == nil {
			t.Fatalf("created %+v", bAud)
		}

		clientWith := func(aud ...string) apiv1.CreateClient {
			return apiv1.CreateClient{OwnerID: pa.ID, Audiences: aud}
		}
		for _, c := range []struct {
			name   string
			method string
			path   string
			body   any
			status int
			code   errcode.Code
		}{
			{"A's client for B's audience", "POST", "/clients", clientWith(bAPI), 400, errcode.AudienceNotGranted},
			{"A's client for an unregistered audience", "POST", "/clients", clientWith("https://nobody"), 400, errcode.AudienceNotGranted},
			{"A registers B's identifier", "POST", "/audiences", apiv1.CreateAudience{Identifier: bAPI}, 409, errcode.Conflict},
			{"the admin registers B's identifier for A", "POST", "/audiences", apiv1.CreateAudience{Identifier: bAPI, TenantID: e.tenantA}, 409, errcode.Conflict},
			{"identifier with a space", "POST", "/audiences", apiv1.CreateAudience{Identifier: "https://x y"}, 400, errcode.RequestInvalid},
			{"no identifier", "POST", "/audiences", apiv1.CreateAudience{}, 400, errcode.RequestInvalid},
			{"share with an unknown tenant", "POST", "/audiences/" + bAud.ID + "/share", apiv1.ShareAudience{TenantID: "ten_nobody"}, 404, errcode.NotFound},
			{"A shares B's audience with itself", "POST", "/audiences/" + bAud.ID + "/share", apiv1.ShareAudience{TenantID: e.tenantA}, 404, errcode.NotFound},
			{"A deletes B's audience", "DELETE", "/audiences/" + bAud.ID, nil, 404, errcode.NotFound},
		} {
			t.Run(c.name, func(t *testing.T) {
				token := tokA
				if c.name == "the admin registers B's identifier for A" {
					token = tokAdmin
				}
				if c.name == "share with an unknown tenant" {
					token = tokB
				}
				before := len(e.events())
				e.refusal(e.do(token, c.method, c.path, c.body), c.status, c.code)
				if len(e.events()) != before {
					t.Fatal("a refusal was audited as a change")
				}
			})
		}
		cs, _, err := e.st.ListClients(t.Context(), store.ClientFilter{TenantID: e.tenantA}, store.Page{})
		if err != nil || len(cs) != 0 {
			t.Fatalf("refused clients were stored: %v %v", cs, err)
		}

		// B shares it with A: A's clients may now list it, and A sees only
		// itself among the shares.
		var shared apiv1.Audience
		e.call(tokB, "POST", "/audiences/"+bAud.ID+"/share", apiv1.ShareAudience{TenantID: e.tenantA}, http.StatusOK, &shared)
		if !slices.Equal(shared.SharedWith, []string{e.tenantA}) {
			t.Fatalf("shared_with = %v", shared.SharedWith)
		}
		var ca apiv1.Client
		e.call(tokA, "POST", "/clients", clientWith(bAPI), http.StatusCreated, &ca)
		var seen apiv1.List[apiv1.Audience]
		e.call(tokA, "GET", "/audiences", nil, http.StatusOK, &seen)
		if len(seen.Items) != 1 || seen.Items[0].ID != bAud.ID {
			t.Fatalf("A's listing: %+v", seen.Items)
		}
		peer := e.createTenant("peer").ID
		e.call(tokB, "POST", "/audiences/"+bAud.ID+"/share", apiv1.ShareAudience{TenantID: peer}, http.StatusOK, nil)
		var got apiv1.Audience
		e.call(tokA, "GET", "/audiences/"+bAud.ID, nil, http.StatusOK, &got)
		if !slices.Equal(got.SharedWith, []string{e.tenantA}) {
			t.Fatalf("a borrower sees the other borrowers: %v", got.SharedWith)
		}
		e.call(tokB, "GET", "/audiences/"+bAud.ID, nil, http.StatusOK, &got)
		want := []string{e.tenantA, peer}
		slices.Sort(want)
		if !slices.Equal(got.SharedWith, want) {
			t.Fatalf("owner sees shared_with %v, want %v", got.SharedWith, want)
		}
		// A borrower may not change it.
		e.refusal(e.do(tokA, "DELETE", "/audiences/"+bAud.ID, nil), http.StatusForbidden, errcode.Forbidden)
		e.refusal(e.do(tokA, "POST", "/audiences/"+bAud.ID+"/unshare", apiv1.ShareAudience{TenantID: peer}), http.StatusForbidden, errcode.Forbidden)

		// Unshared, A's client keeps its list (the token endpoint refuses
		// it) but a new list naming it is refused.
		e.call(tokB, "POST", "/audiences/"+bAud.ID+"/unshare", apiv1.ShareAudience{TenantID: e.tenantA}, http.StatusOK, nil)
		e.call(tokA, "PATCH", "/clients/"+ca.ID, apiv1.UpdateClient{Name: ptr("renamed")}, http.StatusOK, nil)
		e.call(tokA, "PATCH", "/clients/"+ca.ID, apiv1.UpdateClient{Audiences: &[]string{}}, http.StatusOK, nil)
		e.refusal(e.do(tokA, "PATCH", "/clients/"+ca.ID, apiv1.UpdateClient{Audiences: &[]string{bAPI}}), 400, errcode.AudienceNotGranted)
		if stored, _ := e.st.GetClient(t.Context(), ca.ID); len(stored.Audiences) != 0 {
			t.Fatalf("a refused update was stored: %v", stored.Audiences)
		}

		// The changes are audited with the owner's tenant.
		var actions []string
		for _, ev := range e.events() {
			if ev.Target == "audience:"+bAud.ID {
				if ev.TenantID != e.tenantB {
					t.Errorf("%s audited in tenant %q", ev.Action, ev.TenantID)
				}
				actions = append(actions, ev.Action)
			}
		}
		if want := []string{"audience.create", "audience.share", "audience.share", "audience.unshare"}; !slices.Equal(actions, want) {
			t.Fatalf("audit actions %v, want %v", actions, want)
		}

		e.call(tokB, "DELETE", "/audiences/"+bAud.ID, nil, http.StatusNoContent, nil)
		e.call(tokA, "POST", "/audiences", apiv1.CreateAudience{Identifier: bAPI}, http.StatusCreated, nil)
	})
}
