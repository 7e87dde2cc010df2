package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authz/authz/jwks/verifier/verifiertest"
)

// --mode decision serves the decision endpoint on --listen: identity
// headers on 200, the proxy's refusals otherwise, 400 for a front proxy
// that describes the request badly, all counted with mode="decision".
func TestGatewayCommandDecisionMode(t *testing.T) {
	iss := verifiertest.NewIssuer(t)
	key := iss.AddKey(t, "ES256")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	g := gatewayFlags{
		mode: "decision", issuer: iss.URL, audiences: []string{verifyAudience}, scopes: []string{"orders:read"},
		tenantFlags:       tenantChoice{tenants: []string{"acme"}},
		readHeaderTimeout: 5 * time.Second, readTimeout: 5 * time.Second, writeTimeout: 5 * time.Second,
		idleTimeout: 5 * time.Second, upstreamTimeout: 5 * time.Second, shutdownTimeout: 5 * time.Second,
	}
	app, err := newGatewayApp(ctx, g, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer app.verifier.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opsL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if app.grpcL, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.serve(ctx, l, opsL) }()
	tok := key.Sign(t, iss.Claims(time.Now(), verifyAudience), nil)

	ask := func(h map[string]string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+l.Addr().String()+"/_authz", nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	nginx := map[string]string{"X-Original-Method": "POST", "X-Original-URI": "/orders/7?x=1"}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range nginx {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	for _, tt := range []struct {
		name   string
		header map[string]string
		status int
		check  func(*http.Response, string) bool
	}{
		{"ok/token", with(map[string]string{"Authorization": "Bearer " + tok}), 200, func(r *http.Response, _ string) bool {
			return r.Header.Get("X-Authz-Subject") == "svc-orders" && r.Header.Get("X-Authz-Tenant") == "acme" && r.Header.Get("Authorization") == "Bearer "+tok
		}},
		{"fail/no token", nginx, 401, func(r *http.Response, body string) bool {
			return strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") && strings.Contains(body, `"error_code":"token_invalid"`)
		}},
		{"fail/route scope", with(map[string]string{"Authorization": "Bearer " + tok, "X-Authz-Require-Scope": "orders:admin"}), 403, func(r *http.Response, body string) bool {
			return strings.Contains(r.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) && r.Header.Get("X-Authz-Error-Code") == "forbidden"
		}},
		{"fail/half the nginx headers", map[string]string{"X-Original-URI": "/orders", "Authorization": "Bearer " + tok}, 400, func(r *http.Response, body string) bool {
			return r.Header.Get("X-Authz-Subject") == "" && strings.Contains(body, "request_invalid")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, body := ask(tt.header)
			if r.StatusCode != tt.status || !tt.check(r, body) {
				t.Fatalf("status %d (want %d), header %v, body %s", r.StatusCode, tt.status, r.Header, body)
			}
		})
	}
	// --grpc-listen: Envoy's ext_authz over gRPC, same decider.
	conn, err := grpc.NewClient(app.grpcL.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	cr, err := authv3.NewAuthorizationClient(conn).Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: "/orders/1", Headers: map[string]string{"authorization": "Bearer " + tok}}}}})
	if err != nil || codes.Code(cr.GetStatus().GetCode()) != codes.OK || cr.GetOkResponse() == nil {
		t.Fatalf("gRPC check: %v %v", cr, err)
	}

	resp, err := http.Get("http://" + opsL.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`authz_gateway_requests_total{credential="token",mode="decision",outcome="allowed",route="/orders"} 1`,
		`authz_gateway_requests_total{credential="none",mode="decision",outcome="bad_request",route="/"} 1`,
		`authz_gateway_requests_total{credential="token",mode="grpc",outcome="allowed",route="/orders"} 1`,
	} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("/metrics lacks %s:\n%s", want, b)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestGatewayCommandModeValidates(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"gateway", "--mode", "decision", "--upstream", "http://127.0.0.1:1", "--issuer", "http://127.0.0.1:1", "--any-tenant"}, "not used with --mode decision"},
		{[]string{"gateway", "--mode", "sidecar", "--issuer", "http://127.0.0.1:1", "--any-tenant"}, `--mode "sidecar"`},
	} {
		if _, err := runCLI(t, "", tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Fatalf("%v: err = %v, want %q", tt.args, err, tt.want)
		}
	}
}
