package oauth_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/store"
)

func TestIntrospection(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		f := e.Standard("acme")
		peer, peerSecret := e.MkClient(f.Owner, nil) // same tenant: a resource server
		stranger := e.Standard("globex")
		introspect := func(tok, id, secret string) servertest.Response {
			return e.Post("/oauth2/introspect", url.Values{"token": {tok}}, id, secret)
		}

		tok := e.Token(f, "orders:read")
		r := introspect(tok, peer.ID, peerSecret)
		if r.Status != 200 || r.Body["active"] != true || r.Str("client_id") != f.Client.ID || r.Str("sub") != f.Client.ID ||
			r.Str("scope") != "orders:read" || r.Str("tenant") != f.Tenant.ID || r.Str("token_type") != "Bearer" || r.Body["exp"] == nil {
			t.Fatalf("live token: %d %s", r.Status, r.Raw)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control = %q", r.Header.Get("Cache-Control"))
		}

		t.Run("another tenant learns nothing", func(t *testing.T) {
			if r := introspect(tok, stranger.Client.ID, stranger.Secret); r.Status != 200 || r.Body["active"] != false || len(r.Body) != 1 {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
		})
		t.Run("authz:introspect granted inside a tenant does not reach other tenants", func(t *testing.T) {
			r := e.MkRole(stranger.Tenant.ID, "introspector", "authz:introspect")
			e.Bind(stranger.Owner, r)
			if r := introspect(tok, stranger.Client.ID, stranger.Secret); r.Body["active"] != false {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
		})
		t.Run("a system-tenant introspector sees every tenant", func(t *testing.T) {
			p := e.MkPrincipal(store.SystemTenantID, "gateway-fleet", store.KindService)
			e.Bind(p, e.MkRole(store.SystemTenantID, "introspector", "authz:introspect"))
			c, secret := e.MkClient(p, nil)
			if r := introspect(tok, c.ID, secret); r.Body["active"] != true {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
		})
		t.Run("garbage", func(t *testing.T) {
			if r := introspect("not.a.token", peer.ID, peerSecret); r.Status != 200 || r.Body["active"] != false {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
		})
		t.Run("caller must authenticate", func(t *testing.T) {
			servertest.WantError(t, introspect(tok, "", ""), 401, "invalid_client", "client_invalid")
			servertest.WantError(t, introspect(tok, peer.ID, "azs_wrong"), 401, "invalid_client", "client_invalid")
		})
		t.Run("missing token", func(t *testing.T) {
			servertest.WantError(t, e.Post("/oauth2/introspect", url.Values{}, peer.ID, peerSecret), 400, "invalid_request", "request_invalid")
		})
		t.Run("owner suspended: inactive at once", func(t *testing.T) {
			other := e.MkPrincipal(f.Tenant.ID, "batch", store.KindService)
			e.Bind(other, f.Role)
			c, secret := e.MkClient(other, nil)
			tok := e.Token(servertest.Fixture{Client: c, Secret: secret}, "")
			if r := introspect(tok, peer.ID, peerSecret); r.Body["active"] != true {
				t.Fatalf("before suspension: %s", r.Raw)
			}
			e.SuspendPrincipal(other.ID)
			if r := introspect(tok, peer.ID, peerSecret); r.Body["active"] != false {
				t.Fatalf("after suspension: %s", r.Raw)
			}
		})
		t.Run("expired", func(t *testing.T) {
			tok := e.Token(f, "")
			e.Clock.Advance(5*time.Minute + time.Second)
			if r := introspect(tok, peer.ID, peerSecret); r.Body["active"] != false {
				t.Fatalf("expired token: %s", r.Raw)
			}
		})
	})
}

func TestRevocation(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		f := e.Standard("acme")
		peer, peerSecret := e.MkClient(f.Owner, nil)
		tok := e.Token(f, "")

		servertest.WantError(t, e.Post("/oauth2/revoke", url.Values{"token": {tok}}, peer.ID, peerSecret), 400, "unauthorized_client", "token_not_owned")
		if r := e.Post("/oauth2/introspect", url.Values{"token": {tok}}, peer.ID, peerSecret); r.Body["active"] != true {
			t.Fatalf("a refused revocation revoked the token: %s", r.Raw)
		}
		if r := e.Post("/oauth2/revoke", url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, f.Client.ID, f.Secret); r.Status != 200 {
			t.Fatalf("revocation by its client: %d %s", r.Status, r.Raw)
		}
		if r := e.Post("/oauth2/introspect", url.Values{"token": {tok}}, peer.ID, peerSecret); r.Body["active"] != false {
			t.Fatalf("revoked token introspects as %s", r.Raw)
		}
		// Revoking again, or revoking garbage, is not an error (RFC 7009 §2.2).
		for _, tk := range []string{tok, "garbage"} {
			if r := e.Post("/oauth2/revoke", url.Values{"token": {tk}}, f.Client.ID, f.Secret); r.Status != 200 {
				t.Fatalf("revoke %q: %d %s", tk, r.Status, r.Raw)
			}
		}
		servertest.WantError(t, e.Post("/oauth2/revoke", url.Values{"token": {tok}}, "", ""), 401, "invalid_client", "client_invalid")
		// The revocation is in the audit log.
		evs, _, err := e.Srv.Store.ListAudit(e.Ctx(), store.AuditFilter{Action: "token.revoke"}, store.Page{})
		if err != nil || len(evs) != 1 || evs[0].Actor != "client:"+f.Client.ID {
			t.Fatalf("audit: %v %+v", err, evs)
		}
	})
}
