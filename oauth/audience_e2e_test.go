package oauth_test

import (
	"net/url"
	"slices"
	"testing"

	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/store"
)

// TestAudiencesAreBoundToTenants is issue 18 §4 at the token endpoint: a
// token names only audiences its tenant owns or that are shared with it,
// whatever the client's allowed list says (a client written before
// audiences were registered, or straight into the store, has no other
// check) and however the audience is asked for.
func TestAudiencesAreBoundToTenants(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		const bAPI = "https://b-api"
		mk := func(name string) (store.Tenant, store.Principal) {
			tn := e.MkTenant(name)
			p := e.MkPrincipal(tn.ID, name+"-svc", store.KindService)
			e.Bind(p, e.MkRole(tn.ID, "secret", "b:secret"))
			return tn, p
		}
		ta, pa := mk("a")
		tb, pb := mk("b")
		tc, pc := mk("c")
		bAud := e.MkAudience(tb.ID, bAPI)
		withAud := func(aud ...string) func(*store.Client) {
			return func(c *store.Client) {
				c.Audiences = aud
				c.GrantTypes = []string{store.GrantClientCredentials, store.GrantTokenExchange}
			}
		}
		ca, sa := e.MkClient(pa, withAud(bAPI))
		cb, sb := e.MkClient(pb, withAud(bAPI))
		cc, sc := e.MkClient(pc, withAud(bAPI))
		plain, splain := e.MkClient(pa, nil)

		token := func(id, secret string, extra url.Values) servertest.Response {
			form := url.Values{"grant_type": {"client_credentials"}}
			for k, v := range extra {
				form[k] = v
			}
			return e.Post("/oauth2/token", form, id, secret)
		}
		audOf := func(r servertest.Response) []string {
			t.Helper()
			if r.Status != 200 {
				t.Fatalf("token refused: %d %s", r.Status, r.Raw)
			}
			var out []string
			for _, a := range claimsOf(t, r.Str("access_token"))["aud"].([]any) {
				out = append(out, a.(string))
			}
			return out
		}

		for _, c := range []struct {
			name  string
			extra url.Values
		}{
			{"allowed list, nothing requested", nil},
			{"audience parameter", url.Values{"audience": {bAPI}}},
			{"resource parameter", url.Values{"resource": {bAPI}}},
		} {
			t.Run("A refused: "+c.name, func(t *testing.T) {
				servertest.WantError(t, token(ca.ID, sa, c.extra), 400, "invalid_target", "audience_not_granted")
			})
		}
		if got := audOf(token(cb.ID, sb, url.Values{"audience": {bAPI}})); !slices.Equal(got, []string{bAPI}) {
			t.Fatalf("owner's token aud = %v", got)
		}
		// C is refused until B shares it, then gets it; unsharing stops it
		// again at once (the directory sees this replica's change).
		servertest.WantError(t, token(cc.ID, sc, nil), 400, "invalid_target", "audience_not_granted")
		share := func(with ...string) {
			t.Helper()
			if _, err := e.Srv.Store.UpdateAudience(e.Ctx(), bAud.ID, func(a store.Audience) (store.Audience, error) {
				a.SharedWith = with
				return a, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		share(tc.ID)
		if got := audOf(token(cc.ID, sc, nil)); !slices.Equal(got, []string{bAPI}) {
			t.Fatalf("shared tenant's token aud = %v", got)
		}
		servertest.WantError(t, token(ca.ID, sa, nil), 400, "invalid_target", "audience_not_granted")
		share()
		servertest.WantError(t, token(cc.ID, sc, nil), 400, "invalid_target", "audience_not_granted")

		// No audience list: the token is for the issuer, as before, and
		// the issuer needs no registration.
		if got := audOf(token(plain.ID, splain, nil)); !slices.Equal(got, []string{e.Issuer}) {
			t.Fatalf("default aud = %v, want the issuer", got)
		}
		if got := audOf(token(plain.ID, splain, url.Values{"audience": {e.Issuer}})); !slices.Equal(got, []string{e.Issuer}) {
			t.Fatalf("explicit issuer aud = %v", got)
		}

		// Key exchange: B's client (a gateway for B) exchanging A's key
		// gets no token for B's API; B's own key passes.
		keyA := e.IssueKey(pa.ID, nil, 0)
		keyB := e.IssueKey(pb.ID, nil, 0)
		servertest.WantError(t, e.Exchange(keyA.Key, url.Values{"audience": {bAPI}}, cb.ID, sb), 400, "invalid_target", "audience_not_granted")
		servertest.WantError(t, e.Exchange(keyA.Key, nil, cb.ID, sb), 400, "invalid_target", "audience_not_granted")
		if r := e.Exchange(keyB.Key, url.Values{"audience": {bAPI}}, cb.ID, sb); r.Status != 200 {
			t.Fatalf("B's key through B's gateway client: %d %s", r.Status, r.Raw)
		}
		_ = ta
	})
}
