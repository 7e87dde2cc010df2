package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/gateway"
	"github.com/authz/authz/jwks/verifier"
	"github.com/authz/authz/reqmeta"
)

type decisionFixture struct {
	authz   *fakeAuthz
	decider *gateway.Decider
	srv     *httptest.Server
	reg     *prometheus.Registry
}

// newDecision starts authz and the decision endpoint with the legacy-key
// bridge on X-API-Key; mod adjusts the config.
func newDecision(t testing.TB, mod func(*gateway.Config)) *decisionFixture {
	t.Helper()
	f := &decisionFixture{authz: newFakeAuthz(t), reg: prometheus.NewRegistry()}
	cfg := gateway.Config{
		Verifier:         f.authz.verifier(t),
		LegacyKeyHeader:  "X-API-Key",
		TokenEndpoint:    f.authz.iss.URL + "/oauth2/token",
		ClientID:         gatewayClient,
		ClientSecret:     gatewaySecret,
		ExchangeAudience: audience,
		Now:              f.authz.clock.Now,
		Registerer:       f.reg,
		Routes:           []string{"/orders"},
	}
	if mod != nil {
		mod(&cfg)
	}
	d, err := gateway.NewDecider(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.decider = d
	f.srv = httptest.NewServer(d.DecisionHandler())
	t.Cleanup(f.srv.Close)
	return f
}

func (f *decisionFixture) ask(t *testing.T, method, path string, header http.Header) response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &r.json); err != nil {
			t.Fatalf("error body %q: %v", b, err)
		}
	}
	return r
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// The decision endpoint answers what the proxy would do, for every way a
// front proxy describes the original request.
func TestDecisionAnswers(t *testing.T) {
	f := newDecision(t, func(c *gateway.Config) { c.Require = verifier.Require{Tenants: []string{"acme"}} })
	f.authz.setKey("lk-good", legacyKey{id: "k1", owner: "p-1", scope: "orders:read"})
	f.authz.setKey("lk-revoked", legacyKey{id: "k2", owner: "p-2", code: errcode.KeyRevoked})
	tok := f.authz.validToken(t, nil)
	other := f.authz.validToken(t, func(c map[string]any) { c["tenant"] = "globex" })
	nginx := []string{"X-Original-Method", "GET", "X-Original-URI", "/orders/1?q=2"}
	fwd := []string{"X-Forwarded-Method", "PUT", "X-Forwarded-Uri", "/orders/1", "X-Forwarded-Host", "api.example"}
	with := func(base []string, kv ...string) http.Header {
		return hdr(append(append([]string{}, base...), kv...)...)
	}

	for _, tt := range []struct {
		name   string
		method string
		path   string
		header http.Header
		status int
		code   errcode.Code
		bearer string // the Authorization the upstream is to receive
	}{
		{"ok/nginx token", "GET", "/_authz", with(nginx, "Authorization", "Bearer "+tok), 200, "", tok},
		{"ok/forward_auth token", "GET", "/", with(fwd, "Authorization", "Bearer "+tok), 200, "", tok},
		{"ok/envoy token (original path appended)", "DELETE", "/orders/1", hdr("Authorization", "Bearer "+tok), 200, "", tok},
		{"ok/both families agree", "GET", "/", with(nginx, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/orders/1?q=2", "Authorization", "Bearer "+tok), 200, "", ""},
		{"ok/legacy key", "GET", "/_authz", with(nginx, "X-API-Key", "lk-good"), 200, "", "exchanged"},
		{"fail/no credentials", "GET", "/_authz", with(nginx), 401, errcode.TokenInvalid, ""},
		{"fail/revoked key", "GET", "/_authz", with(nginx, "X-API-Key", "lk-revoked"), 401, errcode.KeyRevoked, ""},
		{"fail/another tenant", "GET", "/_authz", with(nginx, "Authorization", "Bearer "+other), 403, errcode.Forbidden, ""},
		{"fail/route scope", "GET", "/_authz", with(nginx, "Authorization", "Bearer "+tok, "X-Authz-Require-Scope", "orders:delete"), 403, errcode.Forbidden, ""},
		{"fail/route tenant", "GET", "/_authz", with(nginx, "Authorization", "Bearer "+tok, "X-Authz-Require-Tenant", "globex"), 403, errcode.Forbidden, ""},
		{"fail/route audience", "GET", "/_authz", with(nginx, "Authorization", "Bearer "+tok, "X-Authz-Require-Audience", "https://billing.example"), 401, errcode.TokenInvalid, ""},
		{"ok/route scope held", "GET", "/_authz", with(nginx, "Authorization", "Bearer "+tok, "X-Authz-Require-Scope", "orders:read"), 200, "", tok},
		{"bad/uri without method", "GET", "/", hdr("X-Original-URI", "/orders", "Authorization", "Bearer "+tok), 400, errcode.RequestInvalid, ""},
		{"bad/forwarded method without uri", "GET", "/", hdr("X-Forwarded-Method", "GET", "Authorization", "Bearer "+tok), 400, errcode.RequestInvalid, ""},
		{"bad/conflicting families", "GET", "/", with(nginx, "X-Forwarded-Method", "GET", "X-Forwarded-Uri", "/admin", "Authorization", "Bearer "+tok), 400, errcode.RequestInvalid, ""},
		{"bad/uri twice", "GET", "/", with(nginx, "X-Original-URI", "/admin", "Authorization", "Bearer "+tok), 400, errcode.RequestInvalid, ""},
		{"bad/absolute uri", "GET", "/", hdr("X-Original-Method", "GET", "X-Original-URI", "http://evil/orders", "Authorization", "Bearer "+tok), 400, errcode.RequestInvalid, ""},
		{"bad/unparsable uri", "GET", "/", hdr("X-Original-Method", "GET", "X-Original-URI", "/orders/%zz", "Authorization", "Bearer "+tok), 400, errcode.RequestInvalid, ""},
		{"bad/method", "GET", "/", hdr("X-Original-Method", "GE T", "X-Original-URI", "/orders", "Authorization", "Bearer "+tok), 400, errcode.RequestInvalid, ""},
		{"bad/requirement value", "GET", "/", with(nginx, "Authorization", "Bearer "+tok, "X-Authz-Require-Scope", "a\"b"), 400, errcode.RequestInvalid, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := f.ask(t, tt.method, tt.path, tt.header)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status != 200 {
				if r.json.Code != tt.code || r.header.Get("X-Authz-Error-Code") != string(tt.code) {
					t.Fatalf("code %q / header %q, want %s", r.json.Code, r.header.Get("X-Authz-Error-Code"), tt.code)
				}
				var inHeader errcode.Body
				if err := json.Unmarshal([]byte(r.header.Get("X-Authz-Error")), &inHeader); err != nil || inHeader != r.json {
					t.Fatalf("X-Authz-Error %q is not the body %+v", r.header.Get("X-Authz-Error"), r.json)
				}
				if r.header.Get("X-Authz-Subject") != "" || r.header.Get("Authorization") != "" {
					t.Fatalf("a refusal carries identity: %v", r.header)
				}
				if tt.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("401 without a challenge: %v", r.header)
				}
				return
			}
			switch tt.bearer {
			case "":
			case "exchanged":
				got := strings.TrimPrefix(r.header.Get("Authorization"), "Bearer ")
				if got == "" || got == "lk-good" || r.header.Get("X-Authz-Subject") != "p-1" || r.header.Get("X-Authz-Credential") != "legacy_key" {
					t.Fatalf("bridged key answer: %v", r.header)
				}
			default:
				if r.header.Get("Authorization") != "Bearer "+tt.bearer {
					t.Fatalf("Authorization %q", r.header.Get("Authorization"))
				}
			}
			if r.header.Get("X-Authz-Subject") == "" || r.header.Get("X-Authz-Tenant") != "acme" || r.header.Values("X-Authz-Client-Id") == nil || r.header.Values("X-Authz-Scope") == nil {
				t.Fatalf("identity headers: %v", r.header)
			}
		})
	}
	bad, err := testutil.GatherAndCount(f.reg, "authz_gateway_requests_total")
	if err != nil || bad == 0 {
		t.Fatalf("no decision metrics: %v", err)
	}
	if got := testutil.ToFloat64(counter(t, f.reg, "decision", "bad_request")); got != 8 {
		t.Fatalf("bad_request decisions counted %v, want 8", got)
	}
}

// counter sums authz_gateway_requests_total over the series of mode and
// outcome.
func counter(t *testing.T, reg *prometheus.Registry, mode, outcome string) prometheus.Collector {
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
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["mode"] == mode && labels["outcome"] == outcome {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "sum"})
	c.Add(sum)
	return c
}

// With --trusted-proxy, a decision request from any other peer is
// refused 403 whatever it carries: identities are not for everyone.
func TestDecisionUntrustedPeer(t *testing.T) {
	trusted, err := reqmeta.ParseTrustedProxies([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	f := newDecision(t, func(c *gateway.Config) { c.TrustedProxies = trusted })
	tok := f.authz.validToken(t, nil)
	r := f.ask(t, "GET", "/", hdr("X-Original-Method", "GET", "X-Original-URI", "/orders", "Authorization", "Bearer "+tok))
	if r.status != 403 || r.json.Code != errcode.Forbidden || r.header.Get("X-Authz-Subject") != "" || r.header.Get("WWW-Authenticate") != "" {
		t.Fatalf("status %d %+v %v", r.status, r.json, r.header)
	}
	if got := testutil.ToFloat64(counter(t, f.reg, "decision", "untrusted_peer")); got != 1 {
		t.Fatalf("untrusted_peer counted %v", got)
	}
	trusted, _ = reqmeta.ParseTrustedProxies([]string{"127.0.0.0/8", "::1/128"})
	g := newDecision(t, func(c *gateway.Config) { c.TrustedProxies = trusted })
	tok = g.authz.validToken(t, nil)
	if r := g.ask(t, "GET", "/", hdr("X-Original-Method", "GET", "X-Original-URI", "/orders", "Authorization", "Bearer "+tok)); r.status != 200 {
		t.Fatalf("trusted peer: %d %s", r.status, r.body)
	}
}

// The proxy and the decision endpoint decide identically: one Decider.
func TestProxyAndDecisionAgree(t *testing.T) {
	f := newProxy(t, nil)
	d, err := gateway.NewDecider(gateway.Config{
		Verifier: f.verifier, LegacyKeyHeader: "X-API-Key", TokenEndpoint: f.authz.iss.URL + "/oauth2/token",
		ClientID: gatewayClient, ClientSecret: gatewaySecret, ExchangeAudience: audience, Now: f.authz.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	dsrv := httptest.NewServer(d.DecisionHandler())
	t.Cleanup(dsrv.Close)
	f.authz.setKey("lk-good", legacyKey{id: "k1", owner: "p-1"})
	f.authz.setKey("lk-sus", legacyKey{id: "k2", owner: "p-2", code: errcode.OwnerSuspended})
	for _, h := range []map[string]string{
		{},
		{"Authorization": "Bearer " + f.authz.validToken(t, nil)},
		{"Authorization": "Bearer " + f.authz.validToken(t, func(c map[string]any) { c["aud"] = "https://other.example" })},
		{"Authorization": "Bearer not a token"},
		{"Authorization": "Basic dXNlcjpwYXNz"},
		{"X-API-Key": "lk-good"},
		{"X-API-Key": "lk-sus"},
		{"X-API-Key": "unknown"},
	} {
		p := f.do(t, "/orders", h)
		req, _ := http.NewRequest("GET", dsrv.URL+"/orders", nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != p.status || resp.Header.Get("WWW-Authenticate") != p.header.Get("WWW-Authenticate") {
			t.Fatalf("%v: decision %d %q, proxy %d %q", h, resp.StatusCode, resp.Header.Get("WWW-Authenticate"), p.status, p.header.Get("WWW-Authenticate"))
		}
		if p.status != 200 && string(b) != p.body {
			t.Fatalf("%v: decision body %s, proxy body %s", h, b, p.body)
		}
	}
}

func FuzzParseOriginal(f *testing.F) {
	f.Add("GET", "/_authz", "GET", "/orders?x=1", "", "", "api.example")
	f.Add("GET", "/", "", "", "POST", "/a/b", "h")
	f.Add("DELETE", "/orders/1", "", "", "", "", "")
	f.Add("GET", "/", "GET", "/x", "GET", "/y", "")
	f.Add("GET", "/", "G T", "//evil", "", "%zz", "a b")
	f.Fuzz(func(t *testing.T, method, reqURI, om, ou, fm, fu, fh string) {
		h := http.Header{}
		for k, v := range map[string]string{"X-Original-Method": om, "X-Original-Uri": ou, "X-Forwarded-Method": fm, "X-Forwarded-Uri": fu, "X-Forwarded-Host": fh} {
			if v != "" {
				h.Set(k, v)
			}
		}
		o, err := gateway.ParseOriginal(method, reqURI, "gw.internal", h)
		if err != nil {
			return
		}
		if !strings.HasPrefix(o.URI, "/") || strings.HasPrefix(o.URI, "//") || o.Method == "" || strings.ContainsAny(o.URI+o.Method+o.Host, " \r\n\t") {
			t.Fatalf("accepted %+v", o)
		}
		if o.Source == "nginx" && (o.URI != strings.TrimSpace(ou) || o.Method != strings.TrimSpace(om)) {
			t.Fatalf("nginx source %+v from %q %q", o, om, ou)
		}
		if ou != "" && fu != "" && strings.TrimSpace(ou) != strings.TrimSpace(fu) {
			t.Fatalf("conflicting URIs accepted: %q %q -> %+v", ou, fu, o)
		}
	})
}
