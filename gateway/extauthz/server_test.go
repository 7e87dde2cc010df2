package extauthz_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/gateway"
	"github.com/authz/authz/gateway/extauthz"
	"github.com/authz/authz/jwks/verifier"
	"github.com/authz/authz/jwks/verifier/verifiertest"
	"github.com/authz/authz/reqmeta"
)

const audience = "https://orders.example"

// checkClient starts an issuer with a token endpoint that exchanges
// "lk-good" and refuses "lk-suspended" with owner_suspended, the gRPC
// service over a Decider with the bridge on X-API-Key, and returns
// go-control-plane's client for it.
func checkClient(t *testing.T, trusted []string) (authv3.AuthorizationClient, *verifiertest.Issuer, *verifiertest.Key, *prometheus.Registry) {
	t.Helper()
	iss := verifiertest.NewIssuer(t)
	key := iss.AddKey(t, verifier.ES256)
	iss.Mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		switch r.PostForm.Get("subject_token") {
		case "lk-good":
			c := iss.Claims(time.Now(), audience)
			c["sub"], c["client_id"], c["key_id"] = "p-alice", "legacy-key:k1", "k1"
			_ = json.NewEncoder(w).Encode(map[string]any{"access_token": key.Sign(t, c, nil), "token_type": "Bearer",
				"issued_token_type": "urn:ietf:params:oauth:token-type:access_token", "expires_in": 300})
		default:
			w.WriteHeader(http.StatusBadRequest)
			_ = json.NewEncoder(w).Encode(errcode.Body{Error: "invalid_grant", Code: errcode.OwnerSuspended, Description: "The key's owner is suspended."})
		}
	})
	v, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL, Audience: []string{audience}, StatusLists: verifier.StatusListConfig{Disabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	tp, err := reqmeta.ParseTrustedProxies(trusted)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	d, err := gateway.NewDecider(gateway.Config{
		Verifier: v, Require: verifier.Require{Tenants: []string{"acme"}},
		LegacyKeyHeader: "X-API-Key", TokenEndpoint: iss.URL + "/oauth2/token",
		ClientID: "gw", ClientSecret: "gw-secret", ExchangeAudience: audience, Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	extauthz.New(d, tp).Register(g)
	go func() { _ = g.Serve(l) }()
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn), iss, key, reg
}

func check(t *testing.T, c authv3.AuthorizationClient, path string, headers, ext map[string]string) *authv3.CheckResponse {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := c.Check(ctx, &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
			SocketAddress: &corev3.SocketAddress{Address: "192.0.2.7"}}}},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "GET", Path: path, Host: "api.example", Headers: headers,
		}},
		ContextExtensions: ext,
	}})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return resp
}

func headerMap(opts []*corev3.HeaderValueOption) map[string]string {
	m := map[string]string{}
	for _, o := range opts {
		m[o.GetHeader().GetKey()] = o.GetHeader().GetValue()
	}
	return m
}

func TestCheck(t *testing.T) {
	c, iss, key, reg := checkClient(t, nil)
	tok := key.Sign(t, iss.Claims(time.Now(), audience), nil)
	otherTenant := iss.Claims(time.Now(), audience)
	otherTenant["tenant"] = "globex"
	other := key.Sign(t, otherTenant, nil)

	for _, tt := range []struct {
		name   string
		path   string
		header map[string]string
		ext    map[string]string
		code   codes.Code
		status int
		errc   errcode.Code
		want   map[string]string // headers to add upstream
	}{
		{"ok/token", "/orders/1", map[string]string{"authorization": "Bearer " + tok}, nil, codes.OK, 200, "",
			map[string]string{"x-authz-subject": "svc-orders", "x-authz-tenant": "acme", "x-authz-client-id": "svc-orders",
				"x-authz-scope": "orders:read orders:write", "x-authz-credential": "token", "authorization": "Bearer " + tok}},
		{"ok/legacy key", "/orders/1", map[string]string{"x-api-key": "lk-good"}, nil, codes.OK, 200, "",
			map[string]string{"x-authz-subject": "p-alice", "x-authz-credential": "legacy_key"}},
		{"fail/no token", "/orders/1", nil, nil, codes.Unauthenticated, 401, errcode.TokenInvalid, nil},
		{"fail/owner suspended", "/orders/1", map[string]string{"x-api-key": "lk-suspended"}, nil, codes.Unauthenticated, 401, errcode.OwnerSuspended, nil},
		{"fail/another tenant", "/orders/1", map[string]string{"authorization": "Bearer " + other}, nil, codes.PermissionDenied, 403, errcode.Forbidden, nil},
		{"fail/route scope (context extension)", "/admin", map[string]string{"authorization": "Bearer " + tok}, map[string]string{"require_scope": "orders:admin"},
			codes.PermissionDenied, 403, errcode.Forbidden, nil},
		{"bad/path", "http://evil/x", map[string]string{"authorization": "Bearer " + tok}, nil, codes.InvalidArgument, 400, errcode.RequestInvalid, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := check(t, c, tt.path, tt.header, tt.ext)
			if got := codes.Code(resp.GetStatus().GetCode()); got != tt.code {
				t.Fatalf("code %v, want %v (%v)", got, tt.code, resp)
			}
			if tt.code == codes.OK {
				ok := resp.GetOkResponse()
				h := headerMap(ok.GetHeaders())
				for k, v := range tt.want {
					if h[k] != v {
						t.Fatalf("%s = %q, want %q (all: %v)", k, h[k], v, h)
					}
				}
				if a := h["authorization"]; !strings.HasPrefix(a, "Bearer ey") {
					t.Fatalf("authorization %q", a)
				}
				if len(ok.GetHeadersToRemove()) != 1 || ok.GetHeadersToRemove()[0] != "x-api-key" {
					t.Fatalf("headers to remove %v", ok.GetHeadersToRemove())
				}
				return
			}
			den := resp.GetDeniedResponse()
			if int(den.GetStatus().GetCode()) != tt.status {
				t.Fatalf("http status %v, want %d", den.GetStatus().GetCode(), tt.status)
			}
			var body errcode.Body
			if err := json.Unmarshal([]byte(den.GetBody()), &body); err != nil || body.Code != tt.errc {
				t.Fatalf("body %q: %v", den.GetBody(), err)
			}
			h := headerMap(den.GetHeaders())
			if h["x-authz-error-code"] != string(tt.errc) || h["content-type"] == "" {
				t.Fatalf("headers %v", h)
			}
			if tt.status == 401 && !strings.HasPrefix(h["www-authenticate"], "Bearer") {
				t.Fatalf("no challenge: %v", h)
			}
		})
	}
	if n := testutil.ToFloat64(counterOf(t, reg, "grpc", "allowed")); n != 2 {
		t.Fatalf("allowed gRPC decisions counted %v, want 2", n)
	}
}

// With trusted proxies set, only they may ask.
func TestCheckUntrustedPeer(t *testing.T) {
	c, iss, key, _ := checkClient(t, []string{"10.0.0.0/8"})
	tok := key.Sign(t, iss.Claims(time.Now(), audience), nil)
	resp := check(t, c, "/orders", map[string]string{"authorization": "Bearer " + tok}, nil)
	if codes.Code(resp.GetStatus().GetCode()) != codes.PermissionDenied || resp.GetOkResponse() != nil {
		t.Fatalf("untrusted peer: %v", resp)
	}
}

func counterOf(t *testing.T, reg *prometheus.Registry, mode, outcome string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != "authz_gateway_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["mode"] == mode && l["outcome"] == outcome {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "sum"})
	c.Add(sum)
	return c
}
