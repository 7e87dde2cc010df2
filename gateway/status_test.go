package gateway_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/jwks/verifier/verifiertest"
	"github.com/authz/authz/statuslist"
)

// A bearer token whose status list entry is not VALID is refused as
// invalid_token naming the status; a status that cannot be known is 503,
// never a pass.
func TestProxyStatusOfBearerToken(t *testing.T) {
	f := newProxy(t, nil)
	f.authz.iss.SetStatus(1, statuslist.Suspended)
	f.authz.iss.SetStatus(2, statuslist.Invalid)
	token := func(idx int64) string {
		return f.authz.validToken(t, func(c map[string]any) { c["status"] = f.authz.iss.StatusClaim(idx) })
	}
	for _, tt := range []struct {
		name   string
		idx    int64
		status int
		desc   string
	}{
		{"ok/valid", 0, http.StatusOK, ""},
		{"fail/suspended", 1, http.StatusUnauthorized, "token status is suspended"},
		{"fail/invalid", 2, http.StatusUnauthorized, "token status is invalid"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := f.do(t, "/orders", map[string]string{"Authorization": "Bearer " + token(tt.idx)})
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			if tt.status == http.StatusOK {
				return
			}
			if r.json.Error != "invalid_token" || r.json.Code != errcode.TokenInvalid || !strings.Contains(r.json.Description, tt.desc) {
				t.Fatalf("body %+v", r.json)
			}
			if ch := r.header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) || !strings.Contains(ch, tt.desc) {
				t.Fatalf("WWW-Authenticate %q", ch)
			}
		})
	}

	t.Run("fail/list unavailable", func(t *testing.T) {
		g := newProxy(t, nil)
		g.authz.iss.UpdateStatusList(func(l *verifiertest.StatusList) { l.HTTPStatus = http.StatusServiceUnavailable })
		tok := g.authz.validToken(t, func(c map[string]any) { c["status"] = g.authz.iss.StatusClaim(0) })
		r := g.do(t, "/orders", map[string]string{"Authorization": "Bearer " + tok})
		if r.status != http.StatusServiceUnavailable || r.json.Code != errcode.Unavailable || r.header.Get("Retry-After") == "" {
			t.Fatalf("status %d %+v, want 503 unavailable with Retry-After", r.status, r.json)
		}
		if len(g.upstream.requests()) != 0 {
			t.Fatal("a token of unknown status reached the upstream")
		}
	})
}

// A bridged legacy key: the exchanged token the gateway caches is refused
// once the status list says so, and the caller gets the exact cause from
// a new exchange (the token endpoint's error_code), not a generic
// invalid_token.
func TestProxyStatusReexchangeGivesTheExactCause(t *testing.T) {
	for _, tt := range []struct {
		code   errcode.Code
		status statuslist.Status
	}{
		{errcode.OwnerSuspended, statuslist.Suspended},
		{errcode.TenantSuspended, statuslist.Suspended},
		{errcode.KeyRevoked, statuslist.Invalid},
	} {
		t.Run(string(tt.code), func(t *testing.T) {
			f := newProxy(t, nil)
			k := legacyKey{id: "k1", owner: "p", listed: true, listIdx: 5}
			f.authz.setKey("lk", k)
			key := map[string]string{"X-API-Key": "lk"}
			if r := f.do(t, "/orders", key); r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			k.code = tt.code
			f.authz.setKey("lk", k)
			f.authz.iss.SetStatus(5, tt.status)
			// Within the list's ttl the cached token still passes: that
			// is the bound the ttl sets.
			if r := f.do(t, "/orders", key); r.status != http.StatusOK {
				t.Fatalf("within the ttl: status %d", r.status)
			}
			f.authz.clock.Advance(30 * time.Second)
			r := f.do(t, "/orders", key)
			if r.status != http.StatusUnauthorized || r.json.Code != tt.code {
				t.Fatalf("status %d %+v, want 401 %s", r.status, r.json, tt.code)
			}
			if n := f.authz.exchanges.Load(); n != 2 {
				t.Fatalf("exchanges = %d, want 2 (the refused token re-exchanged once)", n)
			}
			if n := len(f.upstream.requests()); n != 2 {
				t.Fatalf("upstream saw %d requests, want 2", n)
			}
		})
	}
}

// Right after a resumption the token endpoint issues again while the
// gateway's list still says SUSPENDED: the caller is told the status, and
// the key is tried again a second later rather than after the negative
// TTL.
func TestProxyStatusListBehindTheTokenEndpoint(t *testing.T) {
	f := newProxy(t, nil) // negative TTL: the default 5 s
	f.authz.setKey("lk", legacyKey{id: "k1", owner: "p", listed: true, listIdx: 3})
	f.authz.iss.UpdateStatusList(func(l *verifiertest.StatusList) { l.TTL = 2 * time.Second })
	f.authz.iss.SetStatus(3, statuslist.Suspended)
	key := map[string]string{"X-API-Key": "lk"}
	r := f.do(t, "/orders", key)
	if r.status != http.StatusUnauthorized || r.json.Code != errcode.TokenInvalid || !strings.Contains(r.json.Description, "suspended") {
		t.Fatalf("status %d %+v", r.status, r.json)
	}
	f.authz.iss.SetStatus(3, statuslist.Valid)
	f.authz.clock.Advance(2 * time.Second) // the list's ttl, within the negative TTL
	if r := f.do(t, "/orders", key); r.status != http.StatusOK {
		t.Fatalf("after the list caught up: status %d %+v", r.status, r.json)
	}
	if n := f.authz.exchanges.Load(); n != 2 {
		t.Fatalf("exchanges = %d, want 2", n)
	}
}
