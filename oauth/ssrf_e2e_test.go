package oauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/authz/authz/server"
	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// hostOn serves h on addr (like "127.0.0.2:0") until the test ends,
// counting requests.
func hostOn(t *testing.T, addr string, hits *atomic.Int32, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// TestJWKSURIServerSideRequestForgery (issue 18 §2): a private_key_jwt
// client's jwks_uri cannot make authz reach an address the outbound rules
// refuse, directly or through a redirect, and a fetch that fails is
// answered exactly like a signature that does not verify. An operator's
// --outbound-allow-cidr lets a named network through.
func TestJWKSURIServerSideRequestForgery(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}}
	var insideHits, outsideHits atomic.Int32
	// The "internal service" on 127.0.0.2 happens to serve the right keys:
	// only the address rules can stop the fetch.
	inside := hostOn(t, "127.0.0.2:0", &insideHits, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(set)
	}))
	redirect := hostOn(t, "127.0.0.1:0", &outsideHits, http.RedirectHandler(inside+"/jwks", http.StatusFound))

	allowOnly := func(cidrs ...string) servertest.Option {
		return func(c *server.Config) { c.OutboundAllowCIDRs = cidrs }
	}
	run := func(t *testing.T, opt servertest.Option, jwksURI string) servertest.Response {
		e := servertest.Start(t, storetest.SQLiteURL(t), opt)
		f := e.Standard("acme")
		c, _ := e.MkClient(f.Owner, func(c *store.Client) {
			c.AuthMethod, c.Secrets, c.JWKSURI = store.AuthPrivateKeyJWT, nil, jwksURI
		})
		now := e.Clock.Now()
		a := assertion(t, key, jose.ES256, "k1", josejwt.Claims{Issuer: c.ID, Subject: c.ID, Audience: josejwt.Audience{e.Issuer + "/oauth2/token"},
			ID: "jti-" + c.ID, IssuedAt: josejwt.NewNumericDate(now), Expiry: josejwt.NewNumericDate(now.Add(time.Minute))})
		return e.Post("/oauth2/token", url.Values{
			"grant_type":            {"client_credentials"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion":      {a},
		}, "", "")
	}

	// What a caller sees when the keys were fetched but do not verify.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var wrongHits atomic.Int32
	wrongKeys := hostOn(t, "127.0.0.1:0", &wrongHits, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &other.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	}))
	badSignature := run(t, allowOnly("127.0.0.1/32"), wrongKeys)
	servertest.WantError(t, badSignature, 401, "invalid_client", "client_invalid")
	if wrongHits.Load() == 0 {
		t.Fatal("the reference jwks_uri was never fetched")
	}

	for _, tc := range []struct {
		name, uri string
		allow     []string
	}{
		{"direct private address", inside + "/jwks", []string{"127.0.0.1/32"}},
		{"redirect to 127.0.0.2", redirect + "/jwks", []string{"127.0.0.1/32"}},
		{"redirect even where the target is allowed", redirect + "/jwks", []string{"127.0.0.0/8"}},
		{"loopback with no allow list", inside + "/jwks", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := insideHits.Load()
			r := run(t, allowOnly(tc.allow...), tc.uri)
			servertest.WantError(t, r, 401, "invalid_client", "client_invalid")
			if insideHits.Load() != before {
				t.Fatal("authz fetched from the refused address")
			}
			if r.Str("error_description") != badSignature.Str("error_description") {
				t.Fatalf("a failed fetch is told apart from a bad signature:\n fetch:     %q\n signature: %q",
					r.Str("error_description"), badSignature.Str("error_description"))
			}
		})
	}
	t.Run("allowed CIDR works", func(t *testing.T) {
		if r := run(t, allowOnly("127.0.0.2/32"), inside+"/jwks"); r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Raw)
		}
	})
}
