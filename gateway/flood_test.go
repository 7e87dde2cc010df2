package gateway_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/gateway"
)

// A flood of refused keys evicts only other refusals: the token of a key
// exchanged before stays cached, however small the cache.
func TestRefusalsNeverEvictTokens(t *testing.T) {
	f := newProxy(t, func(c *gateway.Config) { c.CacheSize, c.ExchangeRate = 4, -1 })
	f.authz.setKey("lk_live_abc", legacyKey{id: "k_1", owner: "principal-7", scope: "orders:read"})
	if r := f.do(t, "/orders", map[string]string{"X-API-Key": "lk_live_abc"}); r.status != 200 {
		t.Fatalf("valid key: %d %s", r.status, r.body)
	}
	for i := range 20 {
		if r := f.do(t, "/orders", map[string]string{"X-API-Key": "lk_flood_" + strconv.Itoa(i)}); r.status != 401 {
			t.Fatalf("unknown key %d: %d %s", i, r.status, r.body)
		}
	}
	before := f.authz.exchanges.Load()
	if r := f.do(t, "/orders", map[string]string{"X-API-Key": "lk_live_abc"}); r.status != 200 {
		t.Fatalf("valid key after the flood: %d %s", r.status, r.body)
	}
	if n := f.authz.exchanges.Load() - before; n != 0 {
		t.Fatalf("the flood evicted the cached token: %d new exchange(s)", n)
	}
}

// Exchanges that reach authz are limited per caller address, with the
// gateway's own 429; cached keys are not limited; authz is told the
// caller's address.
func TestExchangesLimitedPerCallerAddress(t *testing.T) {
	f := newProxy(t, func(c *gateway.Config) { c.ExchangeRate, c.ExchangeBurst = 1, 3 })
	f.authz.setKey("lk_live_abc", legacyKey{id: "k_1", owner: "principal-7", scope: "orders:read"})
	if r := f.do(t, "/orders", map[string]string{"X-API-Key": "lk_live_abc"}); r.status != 200 {
		t.Fatalf("valid key: %d %s", r.status, r.body)
	}
	if got := f.authz.lastExchange().forwarded; got != "127.0.0.1" {
		t.Fatalf("authz was told the caller is %q, want 127.0.0.1", got)
	}
	for i := range 2 {
		if r := f.do(t, "/orders", map[string]string{"X-API-Key": "lk_flood_" + strconv.Itoa(i)}); r.status != 401 {
			t.Fatalf("unknown key %d within the burst: %d %s", i, r.status, r.body)
		}
	}
	before := f.authz.exchanges.Load()
	r := f.do(t, "/orders", map[string]string{"X-API-Key": "lk_flood_x"})
	if r.status != http.StatusTooManyRequests || r.json.Code != errcode.RateLimited || r.header.Get("Retry-After") == "" {
		t.Fatalf("over the burst: %d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
	}
	if n := f.authz.exchanges.Load() - before; n != 0 {
		t.Fatalf("a limited key reached authz (%d exchanges)", n)
	}
	// The clock does not move: the cached key is still served.
	if r := f.do(t, "/orders", map[string]string{"X-API-Key": "lk_live_abc"}); r.status != 200 {
		t.Fatalf("cached key while the caller is limited: %d %s", r.status, r.body)
	}
	// A refused key in the negative cache is answered without a token.
	if r := f.do(t, "/orders", map[string]string{"X-API-Key": "lk_flood_0"}); r.status != 401 {
		t.Fatalf("negatively cached key while limited: %d %s", r.status, r.body)
	}
}
