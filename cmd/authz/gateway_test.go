package main

import (
	"bytes"
	"context"
	"encoding/json"
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

const verifyAudience = "https://orders.example"

// runCLI runs the authz command line in-process.
func runCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.ExecuteContext(t.Context())
	return out.String(), err
}

func TestVerifyCommand(t *testing.T) {
	iss := verifiertest.NewIssuer(t)
	key := iss.AddKey(t, "ES256")
	now := time.Now()
	valid := key.Sign(t, iss.Claims(now, verifyAudience), nil)
	expiredClaims := iss.Claims(now.Add(-time.Hour), verifyAudience)
	expired := key.Sign(t, expiredClaims, nil)

	tests := []struct {
		name    string
		stdin   string
		args    []string
		wantErr string
		want    []string
	}{
		{"ok/valid", "", []string{"verify", valid, "--issuer", iss.URL, "--audience", verifyAudience, "--tenant", "acme"},
			"", []string{"verdict:  valid", `"sub": "svc-orders"`, `"typ": "at+jwt"`, "expires:  ", "(in "}},
		{"ok/from stdin", valid + "\n", []string{"verify", "-", "--issuer", iss.URL, "--any-tenant"},
			"", []string{"verdict:  valid"}},
		{"ok/jwks without issuer", "", []string{"verify", valid, "--jwks", iss.URL + "/.well-known/jwks.json", "--require-tenant", "acme"},
			"", []string{"verdict:  valid", "iss not checked"}},
		{"fail/expired", "", []string{"verify", expired, "--issuer", iss.URL, "--any-tenant"},
			"token invalid: expired", []string{"verdict:  invalid: expired", "claims (unverified)", "(expired "}},
		{"fail/wrong audience", "", []string{"verify", valid, "--issuer", iss.URL, "--audience", "https://billing.example", "--any-tenant"},
			"token invalid: audience", []string{"invalid: audience"}},
		{"fail/garbage", "", []string{"verify", "not-a-token", "--issuer", iss.URL, "--any-tenant"},
			"token invalid: malformed", []string{"invalid: malformed", "(not decodable)"}},
		{"fail/no issuer or jwks", "", []string{"verify", valid}, "give --issuer", nil},
		{"fail/another tenant's token", "", []string{"verify", valid, "--issuer", iss.URL, "--tenant", "globex"},
			"token invalid: tenant", []string{"verdict:  invalid: tenant"}},
		{"fail/no tenant", "", []string{"verify", valid, "--issuer", iss.URL}, "--tenant T or --any-tenant is required", nil},
		{"fail/tenant and any tenant", "", []string{"verify", valid, "--issuer", iss.URL, "--tenant", "acme", "--any-tenant"}, "exclude each other", nil},
		{"fail/tenant and old name disagree", "", []string{"verify", valid, "--issuer", iss.URL, "--tenant", "acme", "--require-tenant", "globex"}, "not among", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, tt.stdin, tt.args...)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("err = %v\n%s", err, out)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}

	t.Run("ok/json", func(t *testing.T) {
		out, err := runCLI(t, "", "verify", expired, "--issuer", iss.URL, "--any-tenant", "-o", "json")
		if err == nil {
			t.Fatal("expired token verified")
		}
		var rep verifyReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if rep.Valid || rep.Reason != "expired" || rep.ClaimsVerified || rep.Claims["jti"] != expiredClaims["jti"] ||
			rep.ExpiresIn == nil || *rep.ExpiresIn >= 0 || rep.Header["kid"] != key.Kid {
			t.Fatalf("report = %+v", rep)
		}
	})
}

func TestGatewayCommandServesAndShutsDown(t *testing.T) {
	iss := verifiertest.NewIssuer(t)
	key := iss.AddKey(t, "ES256")
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "upstream:"+r.URL.Path)
	}))
	t.Cleanup(upstream.Close)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	g := gatewayFlags{
		upstream: upstream.URL, issuer: iss.URL, audiences: []string{verifyAudience}, scopes: []string{"orders:read"},
		tenantFlags:       tenantChoice{tenants: []string{"acme"}},
		readHeaderTimeout: 5 * time.Second, readTimeout: 5 * time.Second, writeTimeout: 5 * time.Second,
		idleTimeout: 5 * time.Second, upstreamTimeout: 5 * time.Second, shutdownTimeout: 5 * time.Second,
	}
	app, err := newGatewayApp(ctx, g, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer app.verifier.Close()
	proxyL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opsL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.serve(ctx, proxyL, opsL) }()

	get := func(base, path, token string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	proxy, ops := proxyL.Addr().String(), opsL.Addr().String()
	tok := key.Sign(t, iss.Claims(time.Now(), verifyAudience), nil)

	if code, body := get(proxy, "/orders/1", tok); code != 200 || body != "upstream:/orders/1" {
		t.Fatalf("with a token: %d %q", code, body)
	}
	if code, _ := get(proxy, "/orders/1", ""); code != 401 {
		t.Fatalf("without a token: %d", code)
	}
	// The gateway's own endpoints live on the ops listener only; on the
	// proxy port the same paths are the upstream's.
	if code, body := get(ops, "/healthz", ""); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := get(ops, "/metrics", ""); code != 200 || !strings.Contains(body, `authz_gateway_requests_total{credential="token",mode="proxy",outcome="forwarded",route="/orders"} 1`) {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	if code, body := get(proxy, "/metrics", tok); code != 200 || body != "upstream:/metrics" {
		t.Fatalf("proxy /metrics: %d %q", code, body)
	}

	cancel() // what SIGTERM does to the root command's context
	if err := <-done; err != nil {
		t.Fatalf("serve after shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", proxy); err == nil {
		t.Fatal("proxy still listening after shutdown")
	}
}

func TestGatewayCommandValidates(t *testing.T) {
	t.Setenv("AUTHZ_CLIENT_ID", "")
	t.Setenv("AUTHZ_CLIENT_SECRET", "")
	_, err := runCLI(t, "", "gateway", "--upstream", "http://127.0.0.1:1", "--issuer", "http://127.0.0.1:1", "--legacy-key-header", "X-API-Key")
	if err == nil || !strings.Contains(err.Error(), "AUTHZ_CLIENT_ID") {
		t.Fatalf("err = %v, want a request for the gateway's client credentials", err)
	}
	_, err = runCLI(t, "", "gateway", "--issuer", "http://127.0.0.1:1")
	if err == nil || !strings.Contains(err.Error(), "--upstream is required") {
		t.Fatalf("err = %v", err)
	}
}
