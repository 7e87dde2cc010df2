package jwks_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/authz/authz/jwks"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/store"
)

// TestJWKSPublicOnly: for every algorithm the document carries the public
// members a verifier needs and never a private one; each kid is the key's
// RFC 7638 thumbprint.
func TestJWKSPublicOnly(t *testing.T) {
	want := map[string]struct{ kty, crv string }{
		jwks.ES256: {"EC", "P-256"},
		jwks.EdDSA: {"OKP", "Ed25519"},
		jwks.RS256: {"RSA", ""},
	}
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			m := newManager(t, sqliteStore(t), masterkey.Generate(), testConfig(newClock(t0), alg))
			published, raw := fetchJWKS(t, m)
			if len(raw) != 2 {
				t.Fatalf("%d keys published, want current and next", len(raw))
			}
			for _, k := range raw {
				for _, member := range []string{"d", "p", "q", "dp", "dq", "qi", "k", "oth"} {
					if _, ok := k[member]; ok {
						t.Fatalf("private member %q published: %v", member, k)
					}
				}
			}
			for kid, k := range published {
				w := want[alg]
				if k.Kty != w.kty || k.Crv != w.crv || k.Use != "sig" || k.Alg != alg {
					t.Fatalf("key %s: kty %s crv %s use %s alg %s", kid, k.Kty, k.Crv, k.Use, k.Alg)
				}
				if k.thumbprint() != kid {
					t.Fatalf("kid %s is not the RFC 7638 thumbprint %s", kid, k.thumbprint())
				}
				k.publicKey(t) // parses with the standard library
			}
			// The current key comes first, for clients that take the first.
			if raw[0]["kid"] != one(t, m, store.SigningCurrent) {
				t.Fatalf("first key %v is not the current key", raw[0]["kid"])
			}
		})
	}
}

func TestJWKSHTTP(t *testing.T) {
	ctx := context.Background()
	c := newClock(t0)
	m := newManager(t, sqliteStore(t), masterkey.Generate(), testConfig(c, jwks.ES256))
	get := func(method, inm string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "/.well-known/jwks.json", nil)
		if inm != "" {
			r.Header.Set("If-None-Match", inm)
		}
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, r)
		return rec
	}
	first := get(http.MethodGet, "")
	etag := first.Header().Get("ETag")
	if first.Code != 200 || etag == "" || !strings.HasPrefix(etag, `"`) {
		t.Fatalf("GET: %d ETag %q", first.Code, etag)
	}
	if got := first.Header().Get("Cache-Control"); got != "public, max-age=300" {
		t.Fatalf("Cache-Control %q, want public, max-age=300", got)
	}
	if got := first.Header().Get("Content-Type"); got != "application/json" {
		t.Fatalf("Content-Type %q", got)
	}

	tests := []struct {
		name, method, inm string
		status            int
		body              bool
	}{
		{"ok/same etag", http.MethodGet, etag, http.StatusNotModified, false},
		{"ok/weak etag", http.MethodGet, "W/" + etag, http.StatusNotModified, false},
		{"ok/etag in a list", http.MethodGet, `"other", ` + etag, http.StatusNotModified, false},
		{"ok/star", http.MethodGet, "*", http.StatusNotModified, false},
		{"ok/other etag", http.MethodGet, `"other"`, http.StatusOK, true},
		{"ok/HEAD", http.MethodHead, "", http.StatusOK, false},
		{"fail/POST", http.MethodPost, "", http.StatusMethodNotAllowed, true},
		{"fail/DELETE", http.MethodDelete, "", http.StatusMethodNotAllowed, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := get(tt.method, tt.inm)
			if rec.Code != tt.status || (rec.Body.Len() > 0) != tt.body {
				t.Fatalf("%s: %d with %d body bytes", tt.method, rec.Code, rec.Body.Len())
			}
			switch tt.status {
			case http.StatusMethodNotAllowed:
				if rec.Header().Get("Allow") != "GET, HEAD" {
					t.Fatalf("Allow %q", rec.Header().Get("Allow"))
				}
			default:
				if rec.Header().Get("ETag") != etag || rec.Header().Get("Cache-Control") != "public, max-age=300" {
					t.Fatalf("ETag %q Cache-Control %q", rec.Header().Get("ETag"), rec.Header().Get("Cache-Control"))
				}
			}
			if tt.method == http.MethodHead && rec.Header().Get("Content-Length") != first.Header().Get("Content-Length") {
				t.Fatalf("HEAD Content-Length %q, GET %q", rec.Header().Get("Content-Length"), first.Header().Get("Content-Length"))
			}
		})
	}

	c.Advance(publishAhead)
	if _, err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if rec := get(http.MethodGet, etag); rec.Code != http.StatusOK || rec.Header().Get("ETag") == etag {
		t.Fatalf("after a rotation: %d ETag %q; a changed key set must not be 304", rec.Code, rec.Header().Get("ETag"))
	}
}

func TestJWKSNotReady(t *testing.T) {
	m, err := jwks.NewManager(sqliteStore(t), masterkey.Generate(), jwks.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("before Init: %d, want 503", rec.Code)
	}
	if _, err := m.Sign(context.Background(), map[string]any{}, jwks.TypeAccessToken); err == nil {
		t.Fatal("signs before Init")
	}
}

func TestMetrics(t *testing.T) {
	ctx := context.Background()
	c := newClock(t0)
	reg := prometheus.NewPedanticRegistry()
	cfg := testConfig(c, jwks.ES256)
	cfg.Registerer = reg
	m := newManager(t, sqliteStore(t), masterkey.Generate(), cfg)
	c.Advance(time.Hour)

	want := `
# HELP authz_signing_key_age_seconds Seconds since the current signing key started signing.
# TYPE authz_signing_key_age_seconds gauge
authz_signing_key_age_seconds 3600
# HELP authz_signing_key_rotation_due_seconds Seconds until the next automatic signing-key rotation (negative when overdue); absent when automatic rotation is off.
# TYPE authz_signing_key_rotation_due_seconds gauge
authz_signing_key_rotation_due_seconds 82800
# HELP authz_signing_keys Published signing keys by state.
# TYPE authz_signing_keys gauge
authz_signing_keys{state="current"} 1
authz_signing_keys{state="next"} 1
authz_signing_keys{state="retired"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, metric := range mf.GetMetric() {
			switch {
			case mf.GetName() == "authz_signing_key_age_seconds" && metric.GetGauge().GetValue() != 0,
				mf.GetName() == "authz_signing_keys" && metric.GetLabel()[0].GetValue() == "retired" && metric.GetGauge().GetValue() != 1:
				t.Fatalf("after rotation: %s %v = %v", mf.GetName(), metric.GetLabel(), metric.GetGauge().GetValue())
			}
		}
	}
}
