package oauth_test

import (
	"net/url"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

func TestIntrospection(t *testing.T) {
	eachBackend(t, func(t *testing.T, db string) {
		e := startEnv(t, db)
		f := e.standard("acme")
		peer, peerSecret := e.mkClient(f.owner, nil) // same tenant: a resource server
		stranger := e.standard("globex")
		introspect := func(tok, id, secret string) response {
			return e.post("/oauth2/introspect", url.Values{"token": {tok}}, id, secret)
		}

		tok := e.token(f, "orders:read")
		r := introspect(tok, peer.ID, peerSecret)
		if r.status != 200 || r.body["active"] != true || r.str("client_id") != f.client.ID || r.str("sub") != f.client.ID ||
			r.str("scope") != "orders:read" || r.str("tenant") != f.tenant.ID || r.str("token_type") != "Bearer" || r.body["exp"] == nil {
			t.Fatalf("live token: %d %s", r.status, r.raw)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control = %q", r.header.Get("Cache-Control"))
		}

		t.Run("another tenant learns nothing", func(t *testing.T) {
			if r := introspect(tok, stranger.client.ID, stranger.secret); r.status != 200 || r.body["active"] != false || len(r.body) != 1 {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		})
		t.Run("garbage", func(t *testing.T) {
			if r := introspect("not.a.token", peer.ID, peerSecret); r.status != 200 || r.body["active"] != false {
				t.Fatalf("%d %s", r.status, r.raw)
			}
		})
		t.Run("caller must authenticate", func(t *testing.T) {
			wantError(t, introspect(tok, "", ""), 401, "invalid_client", "client_invalid")
			wantError(t, introspect(tok, peer.ID, "azs_wrong"), 401, "invalid_client", "client_invalid")
		})
		t.Run("missing token", func(t *testing.T) {
			wantError(t, e.post("/oauth2/introspect", url.Values{}, peer.ID, peerSecret), 400, "invalid_request", "request_invalid")
		})
		t.Run("owner suspended: inactive at once", func(t *testing.T) {
			other := e.mkPrincipal(f.tenant.ID, "batch", store.KindService)
			e.bind(other, f.role)
			c, secret := e.mkClient(other, nil)
			tok := e.token(fixture{client: c, secret: secret}, "")
			if r := introspect(tok, peer.ID, peerSecret); r.body["active"] != true {
				t.Fatalf("before suspension: %s", r.raw)
			}
			e.suspendPrincipal(other.ID)
			if r := introspect(tok, peer.ID, peerSecret); r.body["active"] != false {
				t.Fatalf("after suspension: %s", r.raw)
			}
		})
		t.Run("expired", func(t *testing.T) {
			tok := e.token(f, "")
			e.clock.Advance(5*time.Minute + time.Second)
			if r := introspect(tok, peer.ID, peerSecret); r.body["active"] != false {
				t.Fatalf("expired token: %s", r.raw)
			}
		})
	})
}

func TestRevocation(t *testing.T) {
	eachBackend(t, func(t *testing.T, db string) {
		e := startEnv(t, db)
		f := e.standard("acme")
		peer, peerSecret := e.mkClient(f.owner, nil)
		tok := e.token(f, "")

		wantError(t, e.post("/oauth2/revoke", url.Values{"token": {tok}}, peer.ID, peerSecret), 400, "unauthorized_client", "token_not_owned")
		if r := e.post("/oauth2/introspect", url.Values{"token": {tok}}, peer.ID, peerSecret); r.body["active"] != true {
			t.Fatalf("a refused revocation revoked the token: %s", r.raw)
		}
		if r := e.post("/oauth2/revoke", url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, f.client.ID, f.secret); r.status != 200 {
			t.Fatalf("revocation by its client: %d %s", r.status, r.raw)
		}
		if r := e.post("/oauth2/introspect", url.Values{"token": {tok}}, peer.ID, peerSecret); r.body["active"] != false {
			t.Fatalf("revoked token introspects as %s", r.raw)
		}
		// Revoking again, or revoking garbage, is not an error (RFC 7009 §2.2).
		for _, tk := range []string{tok, "garbage"} {
			if r := e.post("/oauth2/revoke", url.Values{"token": {tk}}, f.client.ID, f.secret); r.status != 200 {
				t.Fatalf("revoke %q: %d %s", tk, r.status, r.raw)
			}
		}
		wantError(t, e.post("/oauth2/revoke", url.Values{"token": {tok}}, "", ""), 401, "invalid_client", "client_invalid")
		// The revocation is in the audit log.
		evs, _, err := e.srv.Store.ListAudit(e.ctx(), store.AuditFilter{Action: "token.revoke"}, store.Page{})
		if err != nil || len(evs) != 1 || evs[0].Actor != "client:"+f.client.ID {
			t.Fatalf("audit: %v %+v", err, evs)
		}
	})
}
