package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/gateway"
	"github.com/authz/authz/jwks/verifier"
)

func TestProxyForwardsValidToken(t *testing.T) {
	f := newProxy(t, nil)
	tok := f.authz.validToken(t, nil)
	r := f.do(t, "/orders/42?x=1", map[string]string{
		"Authorization": "Bearer " + tok,
		"X-API-Key":     "leftover-key",
		"X-Request-Id":  "req-123",
	})
	if r.status != 200 || r.body != "hello from upstream" || r.header.Get("X-Upstream") != "yes" {
		t.Fatalf("status %d body %q", r.status, r.body)
	}
	if got := r.header.Values("X-Request-Id"); len(got) != 1 || got[0] != "req-123" {
		t.Fatalf("response X-Request-Id = %v", got)
	}
	seen := f.upstream.requests()
	if len(seen) != 1 {
		t.Fatalf("upstream saw %d requests", len(seen))
	}
	h := seen[0]
	if h.Get("Authorization") != "Bearer "+tok || h.Get("X-API-Key") != "" || h.Get("X-Request-Id") != "req-123" ||
		h.Get("X-Forwarded-For") == "" {
		t.Fatalf("upstream headers = %v", h)
	}
	if f.upstream.paths[0] != "/orders/42?x=1" {
		t.Fatalf("upstream path = %q", f.upstream.paths[0])
	}
	if f.authz.exchanges.Load() != 0 {
		t.Fatal("a token request triggered a key exchange")
	}
}

func TestProxyRefusals(t *testing.T) {
	f := newProxy(t, func(c *gateway.Config) { c.Require = verifier.Require{Scopes: []string{"orders:read"}} })
	tests := []struct {
		name   string
		header map[string]string
		status int
		code   errcode.Code
	}{
		{"fail/no credentials", nil, 401, errcode.TokenInvalid},
		{"fail/bad token", map[string]string{"Authorization": "Bearer x.y.z"}, 401, errcode.TokenInvalid},
		{"fail/wrong audience", map[string]string{"Authorization": "Bearer " + f.authz.validToken(t, func(c map[string]any) {
			c["aud"] = []string{"https://billing.example"}
		})}, 401, errcode.TokenInvalid},
		{"fail/scope", map[string]string{"Authorization": "Bearer " + f.authz.validToken(t, func(c map[string]any) {
			c["scope"] = "orders:write"
		})}, 403, errcode.Forbidden},
		{"fail/empty key header", map[string]string{"X-API-Key": " "}, 400, errcode.RequestInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, "/orders", tt.header)
			if r.status != tt.status || r.json.Code != tt.code {
				t.Fatalf("status %d body %s, want %d %s", r.status, r.body, tt.status, tt.code)
			}
		})
	}
	if n := len(f.upstream.requests()); n != 0 {
		t.Fatalf("upstream reached %d times by refused requests", n)
	}
}

func TestProxyLegacyKeyReachesUpstream(t *testing.T) {
	f := newProxy(t, nil)
	f.authz.setKey("lk_live_abc", legacyKey{id: "k_1", owner: "principal-7", scope: "orders:read"})
	r := f.do(t, "/orders", map[string]string{
		"X-API-Key":     "lk_live_abc",
		"Authorization": "Basic dXNlcjpwYXNz", // not a bearer token: the key is the credential
		"X-Request-Id":  "req-9",
	})
	if r.status != 200 || r.body != "hello from upstream" {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	seen := f.upstream.requests()
	if len(seen) != 1 {
		t.Fatalf("upstream saw %d requests", len(seen))
	}
	h := seen[0]
	if h.Get("X-API-Key") != "" {
		t.Fatal("upstream saw the legacy key header")
	}
	for name, values := range h {
		for _, v := range values {
			if strings.Contains(v, "lk_live_abc") {
				t.Fatalf("upstream saw the key in %s", name)
			}
		}
	}
	auth, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
	if !ok {
		t.Fatalf("upstream Authorization = %q", h.Get("Authorization"))
	}
	c, err := f.authz.verifier(t).Verify(context.Background(), auth)
	if err != nil {
		t.Fatalf("the forwarded token does not verify: %v", err)
	}
	if c.KeyID != "k_1" || c.Subject != "principal-7" || c.Act == nil || c.Act.Subject != gatewayClient {
		t.Fatalf("forwarded token claims = %+v act %+v", c, c.Act)
	}

	ex := f.authz.lastExchange()
	if ex.user != gatewayClient || ex.pass != gatewaySecret {
		t.Fatalf("gateway authenticated as %q", ex.user)
	}
	if ex.form.Get("subject_token") != "lk_live_abc" || ex.form.Get("audience") != audience ||
		ex.form.Get("subject_token_type") != "urn:authz:token-type:api-key" || ex.requestID != "req-9" {
		t.Fatalf("exchange form %v, request id %q", ex.form, ex.requestID)
	}
}

func TestProxySuspendedOwnerKey(t *testing.T) {
	f := newProxy(t, nil)
	f.authz.setKey("lk_suspended", legacyKey{id: "k_2", code: errcode.OwnerSuspended})
	r := f.do(t, "/orders", map[string]string{"X-API-Key": "lk_suspended"})
	if r.status != 401 || r.json.Code != errcode.OwnerSuspended || r.json.Error != "invalid_request" ||
		r.json.Description != errcode.Lookup(errcode.OwnerSuspended).Remedy {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	if r.header.Get("Cache-Control") != "no-store" || r.header.Get("WWW-Authenticate") != `Bearer realm="authz"` {
		t.Fatalf("headers %v", r.header)
	}
	if strings.Contains(r.body, "lk_suspended") {
		t.Fatal("the key was echoed")
	}
	if n := len(f.upstream.requests()); n != 0 {
		t.Fatalf("upstream reached %d times", n)
	}
}

func TestProxyExchangeOutcomes(t *testing.T) {
	tests := []struct {
		name       string
		key        legacyKey
		status     int
		code       errcode.Code
		retryAfter string
	}{
		{"fail/revoked", legacyKey{code: errcode.KeyRevoked}, 401, errcode.KeyRevoked, ""},
		{"fail/owner deleted", legacyKey{code: errcode.OwnerDeleted}, 401, errcode.OwnerDeleted, ""},
		{"fail/tenant suspended", legacyKey{code: errcode.TenantSuspended}, 401, errcode.TenantSuspended, ""},
		{"fail/sunset", legacyKey{code: errcode.KeySunset}, 401, errcode.KeySunset, ""},
		{"fail/rate limited passes Retry-After", legacyKey{code: errcode.RateLimited, retryAfter: "7"}, 429, errcode.RateLimited, "7"},
		{"fail/authz storage down", legacyKey{code: errcode.Unavailable}, 503, errcode.Unavailable, "1"},
		{"fail/authz 500", legacyKey{code: errcode.Internal}, 503, errcode.Unavailable, "1"},
		{"fail/gateway client suspended is not the caller's fault", legacyKey{code: errcode.ClientSuspended}, 503, errcode.Unavailable, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newProxy(t, nil)
			f.authz.setKey("lk", tt.key)
			r := f.do(t, "/orders", map[string]string{"X-API-Key": "lk"})
			if r.status != tt.status || r.json.Code != tt.code {
				t.Fatalf("status %d body %s, want %d %s", r.status, r.body, tt.status, tt.code)
			}
			if r.header.Get("Retry-After") != tt.retryAfter {
				t.Fatalf("Retry-After = %q, want %q", r.header.Get("Retry-After"), tt.retryAfter)
			}
		})
	}
	t.Run("fail/unknown key", func(t *testing.T) {
		f := newProxy(t, nil)
		r := f.do(t, "/orders", map[string]string{"X-API-Key": "nope"})
		if r.status != 401 || r.json.Code != errcode.KeyUnknown {
			t.Fatalf("status %d body %s", r.status, r.body)
		}
	})
	t.Run("fail/wrong gateway credentials", func(t *testing.T) {
		f := newProxy(t, func(c *gateway.Config) { c.ClientSecret = "wrong" })
		f.authz.setKey("lk", legacyKey{id: "k", owner: "p"})
		r := f.do(t, "/orders", map[string]string{"X-API-Key": "lk"})
		if r.status != 503 || r.json.Code != errcode.Unavailable {
			t.Fatalf("status %d body %s", r.status, r.body)
		}
	})
	t.Run("fail/token endpoint unreachable", func(t *testing.T) {
		f := newProxy(t, func(c *gateway.Config) { c.TokenEndpoint = "http://127.0.0.1:1/oauth2/token" })
		r := f.do(t, "/orders", map[string]string{"X-API-Key": "lk"})
		if r.status != 503 || r.json.Code != errcode.Unavailable || r.json.Error != "temporarily_unavailable" {
			t.Fatalf("status %d body %s", r.status, r.body)
		}
	})
}

func TestProxyTokenCache(t *testing.T) {
	f := newProxy(t, nil)
	f.authz.setKey("lk_a", legacyKey{id: "a", owner: "p"})
	f.authz.setKey("lk_b", legacyKey{id: "b", owner: "p"})
	get := func(key string) {
		t.Helper()
		if r := f.do(t, "/orders", map[string]string{"X-API-Key": key}); r.status != 200 {
			t.Fatalf("status %d body %s", r.status, r.body)
		}
	}
	get("lk_a")
	get("lk_a")
	if n := f.authz.exchanges.Load(); n != 1 {
		t.Fatalf("exchanges = %d after a cache hit, want 1", n)
	}
	get("lk_b")
	if n := f.authz.exchanges.Load(); n != 2 {
		t.Fatalf("exchanges = %d, want 2", n)
	}
	// Tokens live 5 minutes; the cache lets them go 30 s before.
	f.authz.clock.Advance(4*time.Minute + 29*time.Second)
	get("lk_a")
	if n := f.authz.exchanges.Load(); n != 2 {
		t.Fatalf("exchanges = %d, want 2 (still cached)", n)
	}
	f.authz.clock.Advance(2 * time.Second)
	get("lk_a")
	if n := f.authz.exchanges.Load(); n != 3 {
		t.Fatalf("exchanges = %d, want 3 (refreshed before expiry)", n)
	}
	// Every upstream request carried a token that was valid when sent.
	for i, h := range f.upstream.requests() {
		if !strings.HasPrefix(h.Get("Authorization"), "Bearer ") {
			t.Fatalf("request %d: %q", i, h.Get("Authorization"))
		}
	}
}

func TestProxyReexchangesWhenCachedTokenStopsVerifying(t *testing.T) {
	f := newProxy(t, nil)
	f.authz.setKey("lk", legacyKey{id: "k", owner: "p"})
	if r := f.do(t, "/", map[string]string{"X-API-Key": "lk"}); r.status != 200 {
		t.Fatalf("status %d", r.status)
	}
	// The key that signed the cached token is withdrawn (compromise) and
	// the gateway's verifier has seen the new key set.
	f.authz.rotate(t)
	if err := f.verifier.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := f.do(t, "/", map[string]string{"X-API-Key": "lk"}); r.status != 200 {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
	if n := f.authz.exchanges.Load(); n != 2 {
		t.Fatalf("exchanges = %d, want 2 (the stale token replaced)", n)
	}
	seen := f.upstream.requests()
	tok, _ := strings.CutPrefix(seen[len(seen)-1].Get("Authorization"), "Bearer ")
	if _, err := f.verifier.Verify(context.Background(), tok); err != nil {
		t.Fatalf("upstream got a token that does not verify: %v", err)
	}
}

func TestProxyTokenCacheIsBounded(t *testing.T) {
	f := newProxy(t, func(c *gateway.Config) { c.CacheSize = 2 })
	for i := range 3 {
		f.authz.setKey(fmt.Sprint("lk_", i), legacyKey{id: fmt.Sprint(i), owner: "p"})
	}
	for _, k := range []string{"lk_0", "lk_1", "lk_2", "lk_0"} { // lk_0 was evicted by lk_2
		if r := f.do(t, "/", map[string]string{"X-API-Key": k}); r.status != 200 {
			t.Fatalf("%s: status %d", k, r.status)
		}
	}
	if n := f.authz.exchanges.Load(); n != 4 {
		t.Fatalf("exchanges = %d, want 4", n)
	}
	if n := gateway.CachedKeys(f.proxy); n != 2 {
		t.Fatalf("cache holds %d keys, want 2", n)
	}
}

func TestProxyConcurrentRequestsShareOneExchange(t *testing.T) {
	const n = 20
	f := newProxy(t, nil)
	f.authz.setKey("lk_busy", legacyKey{id: "busy", owner: "p"})
	gate := make(chan struct{})
	f.authz.mu.Lock()
	f.authz.gate = gate
	f.authz.mu.Unlock()
	// Release the token endpoint only once every request has missed the
	// cache and is about to ask for the same key: without coalescing,
	// each would then call the token endpoint.
	var arrived sync.WaitGroup
	arrived.Add(n)
	gateway.SetBeforeFlight(f.proxy, arrived.Done)
	go func() {
		arrived.Wait()
		close(gate)
	}()

	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/orders", nil)
			req.Header.Set("X-API-Key", "lk_busy")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Fatalf("request %d: status %d", i, s)
		}
	}
	if got := f.authz.exchanges.Load(); got != 1 {
		t.Fatalf("exchanges = %d for %d concurrent requests, want 1", got, n)
	}
}

func TestProxyRefusedKeyIsCachedBriefly(t *testing.T) {
	f := newProxy(t, nil)
	f.authz.setKey("lk_fixme", legacyKey{id: "fixme", code: errcode.OwnerSuspended})
	for range 5 {
		if r := f.do(t, "/", map[string]string{"X-API-Key": "lk_fixme"}); r.json.Code != errcode.OwnerSuspended {
			t.Fatalf("status %d body %s", r.status, r.body)
		}
	}
	if n := f.authz.exchanges.Load(); n != 1 {
		t.Fatalf("exchanges = %d for a flood of one refused key, want 1", n)
	}
	// An administrator resumes the owner; within the negative TTL the
	// refusal stands, after it the key works.
	f.authz.setKey("lk_fixme", legacyKey{id: "fixme", owner: "p"})
	f.authz.clock.Advance(gateway.DefaultNegativeTTL - time.Second)
	if r := f.do(t, "/", map[string]string{"X-API-Key": "lk_fixme"}); r.status != 401 {
		t.Fatalf("status %d within the negative TTL", r.status)
	}
	f.authz.clock.Advance(time.Second)
	if r := f.do(t, "/", map[string]string{"X-API-Key": "lk_fixme"}); r.status != 200 {
		t.Fatalf("status %d body %s after the negative TTL", r.status, r.body)
	}
	if n := f.authz.exchanges.Load(); n != 2 {
		t.Fatalf("exchanges = %d, want 2", n)
	}
}

func TestProxyUnavailableIsNotCached(t *testing.T) {
	f := newProxy(t, nil)
	f.authz.setKey("lk", legacyKey{id: "k", code: errcode.Unavailable})
	for range 3 {
		if r := f.do(t, "/", map[string]string{"X-API-Key": "lk"}); r.status != 503 {
			t.Fatalf("status %d", r.status)
		}
	}
	if n := f.authz.exchanges.Load(); n != 3 {
		t.Fatalf("exchanges = %d, want 3: an outage must not stick to the key", n)
	}
	f.authz.setKey("lk", legacyKey{id: "k", owner: "p"})
	if r := f.do(t, "/", map[string]string{"X-API-Key": "lk"}); r.status != 200 {
		t.Fatalf("status %d after recovery", r.status)
	}
}

func TestProxyRequireAppliesToExchangedTokens(t *testing.T) {
	f := newProxy(t, func(c *gateway.Config) { c.Require = verifier.Require{Scopes: []string{"orders:write"}} })
	f.authz.setKey("lk_ro", legacyKey{id: "ro", owner: "p", scope: "orders:read"})
	r := f.do(t, "/", map[string]string{"X-API-Key": "lk_ro"})
	if r.status != 403 || r.json.Code != errcode.Forbidden {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
}

func TestProxyUpstreamDown(t *testing.T) {
	f := newProxy(t, func(c *gateway.Config) { c.Upstream, _ = url.Parse("http://127.0.0.1:1") })
	r := f.do(t, "/", map[string]string{"Authorization": "Bearer " + f.authz.validToken(t, nil)})
	if r.status != 502 || r.json.Code != errcode.Unavailable {
		t.Fatalf("status %d body %s", r.status, r.body)
	}
}

func TestProxyMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newProxy(t, func(c *gateway.Config) { c.Registerer = reg })
	f.authz.setKey("lk_ok", legacyKey{id: "ok", owner: "p"})
	f.authz.setKey("lk_revoked", legacyKey{id: "rv", code: errcode.KeyRevoked})
	tok := f.authz.validToken(t, nil)

	f.do(t, "/orders/1", map[string]string{"Authorization": "Bearer " + tok})
	f.do(t, "/orders/2", map[string]string{"X-API-Key": "lk_ok"})
	f.do(t, "/orders/3", map[string]string{"X-API-Key": "lk_ok"})
	f.do(t, "/orders/4", map[string]string{"X-API-Key": "lk_revoked"})
	f.do(t, "/random-123", nil)               // unauthenticated: cannot create a label
	f.do(t, "/orders/5", map[string]string{}) // known label, refused

	want := `
# HELP authz_gateway_requests_total Requests through the gateway, by mode (proxy, decision, grpc), route, credential kind (token, legacy_key, none) and outcome.
# TYPE authz_gateway_requests_total counter
authz_gateway_requests_total{credential="legacy_key",mode="proxy",outcome="forwarded",route="/orders"} 2
authz_gateway_requests_total{credential="legacy_key",mode="proxy",outcome="unauthorized",route="/orders"} 1
authz_gateway_requests_total{credential="none",mode="proxy",outcome="unauthorized",route="/orders"} 1
authz_gateway_requests_total{credential="none",mode="proxy",outcome="unauthorized",route="other"} 1
authz_gateway_requests_total{credential="token",mode="proxy",outcome="forwarded",route="/orders"} 1
# HELP authz_gateway_exchanges_total Legacy key exchanges at the token endpoint, by outcome (issued, refused, error) and error_code.
# TYPE authz_gateway_exchanges_total counter
authz_gateway_exchanges_total{error_code="",outcome="issued"} 1
authz_gateway_exchanges_total{error_code="key_revoked",outcome="refused"} 1
# HELP authz_gateway_token_cache_total Legacy key token cache lookups, by result (hit, negative_hit, miss, coalesced).
# TYPE authz_gateway_token_cache_total counter
authz_gateway_token_cache_total{result="hit"} 1
authz_gateway_token_cache_total{result="miss"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"authz_gateway_requests_total", "authz_gateway_exchanges_total", "authz_gateway_token_cache_total"); err != nil {
		t.Fatal(err)
	}
}

func TestProxyConfiguredRoutes(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newProxy(t, func(c *gateway.Config) {
		c.Registerer = reg
		c.Routes = []string{"/v1/orders", "/v1"}
	})
	tok := f.authz.validToken(t, nil)
	for _, p := range []string{"/v1/orders/7", "/v1/ordersx", "/v1", "/v2/x"} {
		f.do(t, p, map[string]string{"Authorization": "Bearer " + tok})
	}
	want := `
# HELP authz_gateway_requests_total Requests through the gateway, by mode (proxy, decision, grpc), route, credential kind (token, legacy_key, none) and outcome.
# TYPE authz_gateway_requests_total counter
authz_gateway_requests_total{credential="token",mode="proxy",outcome="forwarded",route="/v1"} 2
authz_gateway_requests_total{credential="token",mode="proxy",outcome="forwarded",route="/v1/orders"} 1
authz_gateway_requests_total{credential="token",mode="proxy",outcome="forwarded",route="other"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "authz_gateway_requests_total"); err != nil {
		t.Fatal(err)
	}
}

func TestProxyLearnedRoutesAreBounded(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newProxy(t, func(c *gateway.Config) { c.Registerer = reg })
	tok := f.authz.validToken(t, nil)
	for i := range 150 {
		f.do(t, fmt.Sprintf("/r%d/x", i), map[string]string{"Authorization": "Bearer " + tok})
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]bool{}
	for _, mf := range mfs {
		if mf.GetName() != "authz_gateway_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" {
					labels[l.GetValue()] = true
				}
			}
		}
	}
	if len(labels) != 101 || !labels["other"] || !labels["/r0"] {
		t.Fatalf("%d route labels, want 100 learned + other", len(labels))
	}
}

func TestNewProxyValidates(t *testing.T) {
	a := newFakeAuthz(t)
	v := a.verifier(t)
	up, _ := url.Parse("http://127.0.0.1:9")
	tests := []struct {
		name string
		cfg  gateway.Config
	}{
		{"fail/no upstream", gateway.Config{Verifier: v}},
		{"fail/no verifier", gateway.Config{Upstream: up}},
		{"fail/bridge without endpoint", gateway.Config{Upstream: up, Verifier: v, LegacyKeyHeader: "X-API-Key", ClientID: "a", ClientSecret: "b"}},
		{"fail/bridge without credentials", gateway.Config{Upstream: up, Verifier: v, LegacyKeyHeader: "X-API-Key", TokenEndpoint: a.iss.URL}},
		{"fail/key in Authorization", gateway.Config{Upstream: up, Verifier: v, LegacyKeyHeader: "authorization", TokenEndpoint: a.iss.URL, ClientID: "a", ClientSecret: "b"}},
		{"fail/bad header name", gateway.Config{Upstream: up, Verifier: v, LegacyKeyHeader: "X API Key", TokenEndpoint: a.iss.URL, ClientID: "a", ClientSecret: "b"}},
		{"fail/relative route", gateway.Config{Upstream: up, Verifier: v, Routes: []string{"orders"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := gateway.NewProxy(tt.cfg); err == nil {
				t.Fatal("NewProxy accepted an invalid config")
			}
		})
	}
}
