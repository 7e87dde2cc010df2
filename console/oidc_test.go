package console_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
	"github.com/authz/authz/server"
)

// oidcEnv is a server whose console signs in through a test provider,
// matching the claim "email" (the browser test covers the default, sub).
func oidcEnv(t *testing.T, claim string, allowLoopback bool) (*consoleEnv, *testIdP) {
	var idp *testIdP
	e := serveConsole(t, func(c *server.Config) {
		idp = newTestIdP(t, c.Now)
		c.ConsoleOIDCIssuer, c.ConsoleOIDCClientID, c.ConsoleOIDCClientSecret, c.ConsoleOIDCClaim = idp.srv.URL, idp.clientID, idp.secret, claim
		if !allowLoopback {
			c.OutboundAllowCIDRs = nil
		}
	})
	return e, idp
}

// browserless is an HTTP client with its own cookies that follows
// redirects, as a browser does through the provider and back.
func browserless(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar}
}

func fetch(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestConsoleOIDC signs in through the test provider and refuses every
// ID token or answer that is not this sign-in's, with a 403 page that says
// why, and no session.
func TestConsoleOIDC(t *testing.T) {
	e, idp := oidcEnv(t, "email", true)
	ctx, a := e.Ctx(), e.Admin()
	acme := e.Holder("acme", "user")
	globex := e.Holder("globex", "user")
	mk := func(tenant, name, ext string) apiv1.Principal {
		return must[apiv1.Principal](t)(a.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: tenant, Kind: "user", Name: name, ExternalID: ext}))
	}
	ada := mk(acme.Tenant.ID, "ada", "ada@acme.example")
	mk(acme.Tenant.ID, "twin-a", "twin@example.com")
	mk(globex.Tenant.ID, "twin-b", "twin@example.com")
	gone := mk(acme.Tenant.ID, "gone", "gone@acme.example")
	must[apiv1.Principal](t)(a.DeletePrincipal(ctx, gone.ID))
	signins := func() int {
		return len(must[apiv1.List[apiv1.AuditEvent]](t)(a.ListAudit(ctx, adminclient.AuditFilter{Action: "console.signin"})).Items)
	}

	for _, c := range []struct {
		name   string
		email  string
		fault  string
		status int
		says   string
	}{
		{"signs in", "ada@acme.example", "", http.StatusOK, "Signed in"},
		{"wrong nonce", "ada@acme.example", "nonce", http.StatusForbidden, "nonce"},
		{"wrong state", "ada@acme.example", "state", http.StatusForbidden, "state"},
		{"another audience", "ada@acme.example", "aud", http.StatusForbidden, "(aud)"},
		{"another issuer", "ada@acme.example", "iss", http.StatusForbidden, "(iss)"},
		{"expired", "ada@acme.example", "exp", http.StatusForbidden, "expired"},
		{"signed with another key", "ada@acme.example", "sig", http.StatusForbidden, "signature"},
		{"provider refuses", "ada@acme.example", "denied", http.StatusForbidden, "access_denied"},
		{"no such principal", "nobody@acme.example", "", http.StatusForbidden, "no principal has the external id"},
		{"only a deleted principal", "gone@acme.example", "", http.StatusForbidden, "no principal has the external id"},
		{"ambiguous", "twin@example.com", "", http.StatusForbidden, "More than one principal"},
		{"no such claim", "", "", http.StatusForbidden, `no &#34;email&#34; claim`},
	} {
		t.Run(c.name, func(t *testing.T) {
			claims := map[string]any{"email": c.email}
			if c.email == "" {
				claims = nil
			}
			idp.as("idp-user-"+c.name, claims, c.fault)
			before, checked := signins(), idp.checked()
			cl := browserless(t)
			code, body := fetch(t, cl, e.console+"/oidc/start")
			if code != c.status || !strings.Contains(body, c.says) || !strings.Contains(body, "<h1>") {
				t.Fatalf("%d, want %d saying %q:\n%s", code, c.status, c.says, body)
			}
			code, body = fetch(t, cl, e.console+"/")
			if c.status != http.StatusOK {
				if code != http.StatusForbidden || !strings.Contains(body, "not signed in") {
					t.Fatalf("after a refused sign-in the console answers %d:\n%s", code, body)
				}
				if n := signins(); n != before {
					t.Fatalf("a refused sign-in was audited as one: %d → %d", before, n)
				}
				return
			}
			if code != http.StatusOK || !strings.Contains(body, "Welcome, ada") || !strings.Contains(body, ada.ID) {
				t.Fatalf("after signing in, the console answers %d:\n%s", code, body)
			}
			if idp.checked() != checked+1 {
				t.Fatal("the provider saw no PKCE verifier matching its S256 challenge")
			}
			evs := must[apiv1.List[apiv1.AuditEvent]](t)(a.ListAudit(ctx, adminclient.AuditFilter{Action: "console.signin", Target: "principal:" + ada.ID}))
			if len(evs.Items) != 1 || evs.Items[0].Actor != "console:"+ada.ID || !strings.Contains(string(evs.Items[0].Details), `"method":"oidc"`) {
				t.Fatalf("sign-in audit events: %+v", evs.Items)
			}
		})
	}

	t.Run("callback without its start", func(t *testing.T) {
		// No flow cookie: a link to the callback made elsewhere.
		code, body := fetch(t, browserless(t), e.console+"/oidc/callback?"+url.Values{"code": {"x"}, "state": {"y"}}.Encode())
		if code != http.StatusForbidden || !strings.Contains(body, "did not start in this browser") {
			t.Fatalf("%d:\n%s", code, body)
		}
		// A provider error of someone else's making is not shown.
		code, body = fetch(t, browserless(t), e.console+"/oidc/callback?"+url.Values{"error": {"access_denied"}, "error_description": {"call +1 555 0100 to unlock"}}.Encode())
		if code != http.StatusForbidden || strings.Contains(body, "555") || !strings.Contains(body, "did not start in this browser") {
			t.Fatalf("%d:\n%s", code, body)
		}
		// A flow cookie, but a state that is not its own.
		cl := browserless(t)
		cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		if code, _ := fetch(t, cl, e.console+"/oidc/start"); code != http.StatusFound {
			t.Fatalf("start: %d", code)
		}
		code, body = fetch(t, cl, e.console+"/oidc/callback?"+url.Values{"code": {"x"}, "state": {"not-this-one"}}.Encode())
		if code != http.StatusForbidden || !strings.Contains(body, "state does not match") {
			t.Fatalf("%d:\n%s", code, body)
		}
	})
}

// TestConsoleOIDCOutbound: the provider is reached through the outbound
// rules; on loopback, not allowed by --outbound-allow-cidr, the sign-in
// is refused at discovery with a page that says so (503), not a 500.
func TestConsoleOIDCOutbound(t *testing.T) {
	e, _ := oidcEnv(t, "", false)
	code, body := fetch(t, browserless(t), e.console+"/oidc/start")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "identity provider could not be reached") {
		t.Fatalf("%d:\n%s", code, body)
	}
	// The sign-in page offers both ways; links still work.
	code, body = fetch(t, browserless(t), e.console+"/signin")
	if code != http.StatusOK || !strings.Contains(body, "/oidc/start") {
		t.Fatalf("sign-in page: %d\n%s", code, body)
	}
}
