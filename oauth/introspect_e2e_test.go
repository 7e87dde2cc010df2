package oauth_test

import (
	"errors"
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

// TestRevocationAuthorityIsTheClientsScope: revoking another client's
// token needs authz:tenant-admin (or authz:admin) among what the calling
// client may be granted, not merely among its owner's roles (issue 18 §3).
// A refused revocation changes nothing: the token stays active and its
// credential keeps its status-list index.
func TestRevocationAuthorityIsTheClientsScope(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		f := e.Standard("acme")
		ops := e.MkPrincipal(f.Tenant.ID, "ops", store.KindService)
		e.Bind(ops, e.MkRole(f.Tenant.ID, "tenant-admin", "authz:tenant-admin", "inv:read"))
		narrow, narrowSecret := e.MkClient(ops, func(c *store.Client) { c.Scopes = []string{"inv:read"} })
		wide, wideSecret := e.MkClient(ops, func(c *store.Client) { c.Scopes = []string{"inv:read", "authz:tenant-admin"} })
		stranger := e.Standard("globex")
		strangerAdmin := e.MkPrincipal(stranger.Tenant.ID, "ops", store.KindService)
		e.Bind(strangerAdmin, e.MkRole(stranger.Tenant.ID, "tenant-admin", "authz:tenant-admin"))
		foreign, foreignSecret := e.MkClient(strangerAdmin, nil)

		// -1: the credential has no live index (its last one was invalidated).
		statusIndex := func() int64 {
			t.Helper()
			idx, err := e.Srv.Store.GetStatusIndex(e.Ctx(), "client:"+f.Client.ID)
			if errors.Is(err, store.ErrNotFound) {
				return -1
			}
			if err != nil {
				t.Fatal(err)
			}
			return idx
		}
		tok := e.Token(f, "")
		before := statusIndex()
		for _, tc := range []struct {
			name, id, secret string
		}{
			{"narrow client of a tenant admin", narrow.ID, narrowSecret},
			{"tenant admin of another tenant", foreign.ID, foreignSecret},
		} {
			t.Run(tc.name, func(t *testing.T) {
				servertest.WantError(t, e.Post("/oauth2/revoke", url.Values{"token": {tok}}, tc.id, tc.secret), 400, "unauthorized_client", "token_not_owned")
				if r := e.Post("/oauth2/introspect", url.Values{"token": {tok}}, f.Client.ID, f.Secret); r.Body["active"] != true {
					t.Fatalf("a refused revocation revoked the token: %s", r.Raw)
				}
				if got := statusIndex(); got != before {
					t.Fatalf("a refused revocation moved the status-list index from %d to %d", before, got)
				}
			})
		}
		t.Run("a client granted authz:tenant-admin may", func(t *testing.T) {
			if r := e.Post("/oauth2/revoke", url.Values{"token": {tok}}, wide.ID, wideSecret); r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			if r := e.Post("/oauth2/introspect", url.Values{"token": {tok}}, f.Client.ID, f.Secret); r.Body["active"] != false {
				t.Fatalf("not revoked: %s", r.Raw)
			}
			if got := statusIndex(); got == before {
				t.Fatal("the credential kept its status-list index")
			}
		})
		t.Run("the system admin may, in any tenant", func(t *testing.T) {
			tok := e.Token(stranger, "")
			if r := e.Post("/oauth2/revoke", url.Values{"token": {tok}}, servertest.AdminID, servertest.AdminSecret); r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			if r := e.Post("/oauth2/introspect", url.Values{"token": {tok}}, stranger.Client.ID, stranger.Secret); r.Body["active"] != false {
				t.Fatalf("not revoked: %s", r.Raw)
			}
		})
	})
}
