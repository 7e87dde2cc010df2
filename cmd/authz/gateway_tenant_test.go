package main

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/jwks/verifier/verifiertest"
)

// TestGatewayTenantBoundary is issue 18 §4 at the gateway: a gateway run
// for tenant B's API refuses tenant A's token although it names B's
// audience and carries the scope B requires (A made a role of that name;
// a token issued before audiences were registered could carry both).
func TestGatewayTenantBoundary(t *testing.T) {
	const bAPI = "https://b-api"
	iss := verifiertest.NewIssuer(t)
	key := iss.AddKey(t, "ES256")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "secret data") }))
	t.Cleanup(upstream.Close)
	tokenOf := func(tenant string) string {
		c := iss.Claims(time.Now(), bAPI)
		c["tenant"], c["scope"] = tenant, "b:secret"
		return key.Sign(t, c, nil)
	}

	for _, c := range []struct {
		name    string
		tenants tenantChoice
		want    map[string]int // token's tenant → status
	}{
		{"--tenant", tenantChoice{tenants: []string{"ten_b"}}, map[string]int{"ten_b": 200, "ten_a": 403, "ten_c": 403}},
		{"--require-tenant, the old name", tenantChoice{legacy: "ten_b"}, map[string]int{"ten_b": 200, "ten_a": 403}},
		// B shares its audience with C: the gateway names both.
		{"--tenant twice, a shared audience", tenantChoice{tenants: []string{"ten_b", "ten_c"}}, map[string]int{"ten_b": 200, "ten_c": 200, "ten_a": 403}},
		{"--any-tenant", tenantChoice{any: true}, map[string]int{"ten_b": 200, "ten_a": 200}},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := gatewayFlags{
				upstream: upstream.URL, issuer: iss.URL, audiences: []string{bAPI}, scopes: []string{"b:secret"},
				tenantFlags: c.tenants, upstreamTimeout: 5 * time.Second,
			}
			app, err := newGatewayApp(t.Context(), g, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(app.verifier.Close)
			srv := httptest.NewServer(app.proxy)
			t.Cleanup(srv.Close)
			for tenant, want := range c.want {
				req, _ := http.NewRequest(http.MethodGet, srv.URL+"/orders", nil)
				req.Header.Set("Authorization", "Bearer "+tokenOf(tenant))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Fatalf("token of %s: %d %s, want %d", tenant, resp.StatusCode, body, want)
				}
				if want == 403 && (strings.Contains(string(body), "secret data") || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope")) {
					t.Fatalf("refusal of %s's token: %s %q", tenant, body, resp.Header.Get("WWW-Authenticate"))
				}
			}
		})
	}
}

// TestGatewayRefusesToStartWithoutTenant: without --tenant or
// --any-tenant, or with both, `authz gateway` stops before it fetches or
// listens on anything; the old --require-tenant still counts.
func TestGatewayRefusesToStartWithoutTenant(t *testing.T) {
	iss := verifiertest.NewIssuer(t)
	iss.AddKey(t, "ES256")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	base := []string{"gateway", "--upstream", "http://127.0.0.1:1", "--issuer", iss.URL, "--audience", "https://b-api", "--listen", busy.Addr().String()}
	for _, c := range []struct {
		name  string
		extra []string
		want  string
	}{
		{"neither", nil, "--tenant T or --any-tenant is required"},
		{"both", []string{"--tenant", "ten_b", "--any-tenant"}, "exclude each other"},
		{"old and new name disagree", []string{"--tenant", "ten_b", "--require-tenant", "ten_a"}, "not among"},
		{"shared: --tenant twice", []string{"--tenant", "ten_b", "--tenant", "ten_c"}, "listen on"},
		// Past the check, the gateway fails only on the busy address.
		{"--tenant", []string{"--tenant", "ten_b"}, "listen on"},
		{"--require-tenant", []string{"--require-tenant", "ten_b"}, "listen on"},
		{"--any-tenant", []string{"--any-tenant"}, "listen on"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("AUTHZ_TENANT", "")
			_, err := runCLI(t, "", append(base, c.extra...)...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	t.Run("environment", func(t *testing.T) {
		t.Setenv("AUTHZ_TENANT", "ten_b,ten_c")
		if _, err := runCLI(t, "", base...); err == nil || !strings.Contains(err.Error(), "listen on") {
			t.Fatalf("AUTHZ_TENANT not honoured: %v", err)
		}
	})
}
