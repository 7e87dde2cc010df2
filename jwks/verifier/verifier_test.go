package verifier_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/jwks/verifier"
	"github.com/authz/authz/jwks/verifier/verifiertest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// start is the fixed instant tests begin at; the verifier's clock is a
// verifiertest.Clock, never the wall clock.
var start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const audience = "https://orders.example"

type fixture struct {
	iss   *verifiertest.Issuer
	clock *verifiertest.Clock
	key   *verifiertest.Key
	v     *verifier.Verifier
}

// setup starts a fake issuer with one key for alg and a verifier for it
// (audience checked); mod adjusts the config.
func setup(t *testing.T, alg string, mod func(*verifier.Config)) *fixture {
	t.Helper()
	f := &fixture{iss: verifiertest.NewIssuer(t), clock: verifiertest.NewClock(start)}
	f.key = f.iss.AddKey(t, alg)
	cfg := verifier.Config{Issuer: f.iss.URL, Audience: []string{audience}, Now: f.clock.Now}
	if mod != nil {
		mod(&cfg)
	}
	v, err := verifier.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	f.v = v
	return f
}

func (f *fixture) claims() map[string]any { return f.iss.Claims(f.clock.Now(), audience) }

func (f *fixture) sign(t *testing.T, claims map[string]any, header map[string]any) string {
	t.Helper()
	return f.key.Sign(t, claims, header)
}

// refused asserts that token is refused with reason.
func (f *fixture) refused(t *testing.T, token string, want verifier.Reason) {
	t.Helper()
	c, err := f.v.Verify(context.Background(), token)
	if err == nil {
		t.Fatalf("Verify accepted the token (sub %q), want refusal %q", c.Subject, want)
	}
	var e *verifier.Error
	if !errors.As(err, &e) {
		t.Fatalf("Verify error %v is not a *verifier.Error", err)
	}
	if e.Reason != want {
		t.Fatalf("Verify reason = %q (%v), want %q", e.Reason, err, want)
	}
	if c != nil {
		t.Fatal("Verify returned claims with an error")
	}
}

func (f *fixture) accepted(t *testing.T, token string) *verifier.Claims {
	t.Helper()
	c, err := f.v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return c
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func segment(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

func TestVerifyAcceptsEachAlgorithm(t *testing.T) {
	for _, alg := range verifier.DefaultAlgorithms() {
		t.Run("ok/"+alg, func(t *testing.T) {
			f := setup(t, alg, nil)
			claims := f.claims()
			c := f.accepted(t, f.sign(t, claims, nil))
			if c.Subject != "svc-orders" || c.ClientID != "svc-orders" || c.Tenant != "acme" || c.Issuer != f.iss.URL {
				t.Fatalf("claims = %+v", c)
			}
			if !slices.Equal(c.Audience, []string{audience}) || !slices.Equal(c.Scope, []string{"orders:read", "orders:write"}) ||
				!slices.Equal(c.Roles, []string{"reader"}) {
				t.Fatalf("aud %v scope %v roles %v", c.Audience, c.Scope, c.Roles)
			}
			if !c.ExpiresAt.Equal(start.Add(5*time.Minute)) || !c.IssuedAt.Equal(start) || c.JTI != claims["jti"] {
				t.Fatalf("exp %v iat %v jti %q", c.ExpiresAt, c.IssuedAt, c.JTI)
			}
			raw, err := c.Map()
			if err != nil || raw["tenant"] != "acme" || raw["jti"] != claims["jti"] || c.LegacyKey() || c.Act != nil {
				t.Fatalf("raw %v (%v) legacy %v act %v", raw, err, c.LegacyKey(), c.Act)
			}
		})
	}
}

func TestVerifyExchangedLegacyKeyToken(t *testing.T) {
	f := setup(t, verifier.ES256, nil)
	claims := f.claims()
	claims["sub"] = "principal-42"
	claims["client_id"] = "legacy-key:k_123"
	claims["key_id"] = "k_123"
	claims["act"] = map[string]any{"sub": "gateway-1", "act": map[string]any{"sub": "edge"}}
	c := f.accepted(t, f.sign(t, claims, nil))
	if !c.LegacyKey() || c.KeyID != "k_123" || c.Subject != "principal-42" {
		t.Fatalf("claims = %+v", c)
	}
	if c.Act == nil || c.Act.Subject != "gateway-1" || c.Act.Act == nil || c.Act.Act.Subject != "edge" {
		t.Fatalf("act = %+v", c.Act)
	}
}

func TestVerifyAcceptsTypVariants(t *testing.T) {
	f := setup(t, verifier.ES256, nil)
	for _, typ := range []string{"at+jwt", "AT+JWT", "application/at+jwt"} {
		t.Run("ok/"+typ, func(t *testing.T) {
			f.accepted(t, f.sign(t, f.claims(), map[string]any{"typ": typ}))
		})
	}
}

func TestRefuseAlgNone(t *testing.T) {
	f := setup(t, verifier.ES256, nil)
	for _, alg := range []string{"none", "None", "NONE"} {
		t.Run("fail/"+alg, func(t *testing.T) {
			h := segment(t, map[string]any{"typ": "at+jwt", "alg": alg, "kid": f.key.Kid})
			token := h + "." + segment(t, f.claims()) + "."
			f.refused(t, token, verifier.ReasonAlgorithm)
		})
	}
}

func TestRefuseHS256WithPublicKeyAsSecret(t *testing.T) {
	for _, alg := range verifier.DefaultAlgorithms() {
		t.Run("fail/"+alg+"-key", func(t *testing.T) {
			f := setup(t, alg, nil)
			// The classic algorithm-confusion forgery: HMAC the token with
			// the issuer's public key, in every encoding an attacker might
			// guess the verifier uses as the secret.
			der, err := x509.MarshalPKIXPublicKey(f.key.Public())
			if err != nil {
				t.Fatal(err)
			}
			jwk, _ := json.Marshal(f.key.JWK())
			for _, secret := range [][]byte{der, jwk} {
				input := segment(t, map[string]any{"typ": "at+jwt", "alg": "HS256", "kid": f.key.Kid}) + "." + segment(t, f.claims())
				mac := hmac.New(sha256.New, secret)
				mac.Write([]byte(input))
				f.refused(t, input+"."+b64(mac.Sum(nil)), verifier.ReasonAlgorithm)
			}
		})
	}
}

func TestRefuseAlgorithmNotBoundToKid(t *testing.T) {
	// An RS256 token that names an EC key's kid: the kid fixes the alg.
	f := setup(t, verifier.ES256, nil)
	rsaKey := verifiertest.NewKey(t, verifier.RS256)
	rsaKey.Kid = f.key.Kid
	f.refused(t, rsaKey.Sign(t, f.claims(), nil), verifier.ReasonAlgorithm)
}

func TestRefuseAlgorithmOutsideAllowList(t *testing.T) {
	f := setup(t, verifier.RS256, func(c *verifier.Config) { c.Algorithms = []string{verifier.ES256} })
	f.refused(t, f.sign(t, f.claims(), nil), verifier.ReasonAlgorithm)
}

func TestConfigRefusesUnsafeAlgorithms(t *testing.T) {
	iss := verifiertest.NewIssuer(t)
	iss.AddKey(t, verifier.ES256)
	for _, alg := range []string{"none", "HS256", "HS512", "ES512", "PS256"} {
		t.Run("fail/"+alg, func(t *testing.T) {
			_, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL, Algorithms: []string{verifier.ES256, alg}})
			if err == nil {
				t.Fatalf("New accepted algorithm %q", alg)
			}
		})
	}
}

func TestRefuseUnknownKid(t *testing.T) {
	f := setup(t, verifier.ES256, nil)
	stranger := verifiertest.NewKey(t, verifier.ES256)
	f.refused(t, stranger.Sign(t, f.claims(), nil), verifier.ReasonUnknownKey)
	f.refused(t, f.sign(t, f.claims(), map[string]any{"kid": nil}), verifier.ReasonUnknownKey)
}

func TestRefuseKidFromAnotherIssuersJWKS(t *testing.T) {
	f := setup(t, verifier.ES256, nil)
	other := verifiertest.NewIssuer(t)
	otherKey := other.AddKey(t, verifier.ES256)
	claims := f.claims() // iss and aud of our issuer: a forgery attempt

	t.Run("fail/their kid", func(t *testing.T) {
		f.refused(t, otherKey.Sign(t, claims, nil), verifier.ReasonUnknownKey)
	})
	t.Run("fail/their key under our kid", func(t *testing.T) {
		impostor := *otherKey
		impostor.Kid = f.key.Kid
		f.refused(t, impostor.Sign(t, claims, nil), verifier.ReasonSignature)
	})
	t.Run("fail/their own token", func(t *testing.T) {
		f.refused(t, otherKey.Sign(t, other.Claims(f.clock.Now(), audience), nil), verifier.ReasonUnknownKey)
	})
}

func TestRefuseExpired(t *testing.T) {
	f := setup(t, verifier.ES256, nil)
	claims := f.claims()
	claims["iat"] = start.Add(-10 * time.Minute).Unix()
	tests := []struct {
		name string
		exp  time.Time
		ok   bool
	}{
		{"ok/within leeway", start.Add(-verifier.DefaultLeeway + time.Second), true},
		{"fail/at leeway", start.Add(-verifier.DefaultLeeway), false},
		{"fail/long ago", start.Add(-time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims["exp"] = tt.exp.Unix()
			token := f.sign(t, claims, nil)
			if tt.ok {
				f.accepted(t, token)
			} else {
				f.refused(t, token, verifier.ReasonExpired)
			}
		})
	}
	t.Run("fail/expires while cached", func(t *testing.T) {
		token := f.sign(t, f.claims(), nil)
		f.accepted(t, token)
		f.clock.Advance(5*time.Minute + verifier.DefaultLeeway)
		f.refused(t, token, verifier.ReasonExpired)
	})
}

func TestRefuseNotYetValid(t *testing.T) {
	f := setup(t, verifier.ES256, nil)
	tests := []struct {
		name  string
		claim string
		at    time.Time
		ok    bool
	}{
		{"ok/nbf within leeway", "nbf", start.Add(verifier.DefaultLeeway), true},
		{"fail/nbf beyond leeway", "nbf", start.Add(verifier.DefaultLeeway + time.Second), false},
		{"ok/iat within leeway", "iat", start.Add(verifier.DefaultLeeway), true},
		{"fail/iat in the future", "iat", start.Add(2 * time.Minute), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := f.claims()
			claims[tt.claim] = tt.at.Unix()
			token := f.sign(t, claims, nil)
			if tt.ok {
				f.accepted(t, token)
			} else {
				f.refused(t, token, verifier.ReasonNotYetValid)
			}
		})
	}
}

func TestRefuseWrongIssuer(t *testing.T) {
	f := setup(t, verifier.ES256, nil)
	for _, iss := range []string{"https://evil.example", f.iss.URL + "/", strings.ToUpper(f.iss.URL), ""} {
		t.Run("fail/"+iss, func(t *testing.T) {
			claims := f.claims()
			claims["iss"] = iss
			f.refused(t, f.sign(t, claims, nil), verifier.ReasonIssuer)
		})
	}
	t.Run("fail/missing", func(t *testing.T) {
		claims := f.claims()
		delete(claims, "iss")
		f.refused(t, f.sign(t, claims, nil), verifier.ReasonIssuer)
	})
}

func TestRefuseWrongAudience(t *testing.T) {
	f := setup(t, verifier.ES256, nil)
	tests := []struct {
		name string
		aud  any
		want verifier.Reason
	}{
		{"fail/other service", []string{"https://billing.example"}, verifier.ReasonAudience},
		{"fail/prefix", []string{audience + "/admin"}, verifier.ReasonAudience},
		{"fail/empty list", []string{}, verifier.ReasonAudience},
		{"fail/not a string", []any{42}, verifier.ReasonClaims},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := f.claims()
			claims["aud"] = tt.aud
			f.refused(t, f.sign(t, claims, nil), tt.want)
		})
	}
	t.Run("fail/missing", func(t *testing.T) {
		claims := f.claims()
		delete(claims, "aud")
		f.refused(t, f.sign(t, claims, nil), verifier.ReasonAudience)
	})
	t.Run("ok/one of several", func(t *testing.T) {
		claims := f.claims()
		claims["aud"] = []string{"https://billing.example", audience}
		f.accepted(t, f.sign(t, claims, nil))
	})
	t.Run("ok/single string", func(t *testing.T) {
		claims := f.claims()
		claims["aud"] = audience
		f.accepted(t, f.sign(t, claims, nil))
	})
}

func TestRefuseChangedPayload(t *testing.T) {
	for _, alg := range verifier.DefaultAlgorithms() {
		t.Run("fail/"+alg, func(t *testing.T) {
			f := setup(t, alg, nil)
			token := f.sign(t, f.claims(), nil)
			parts := strings.Split(token, ".")
			claims := f.claims()
			claims["scope"] = "orders:read orders:write admin"
			forged := parts[0] + "." + segment(t, claims) + "." + parts[2]
			f.refused(t, forged, verifier.ReasonSignature)

			// A signature cut short or emptied is no better.
			sig, err := base64.RawURLEncoding.DecodeString(parts[2])
			if err != nil {
				t.Fatal(err)
			}
			f.refused(t, parts[0]+"."+parts[1]+"."+b64(sig[:len(sig)-3]), verifier.ReasonSignature)
			f.refused(t, parts[0]+"."+parts[1]+".", verifier.ReasonSignature)
		})
	}
}

func TestRefuseTypOtherThanATJWT(t *testing.T) {
	f := setup(t, verifier.ES256, nil)
	for _, typ := range []any{"JWT", "jwt", "id_token+jwt", "dpop+jwt", "at+jwt ", "", 1, nil} {
		t.Run(fmt.Sprintf("fail/%v", typ), func(t *testing.T) {
			// A nil typ removes the header parameter.
			f.refused(t, f.sign(t, f.claims(), map[string]any{"typ": typ}), verifier.ReasonType)
		})
	}
}

func TestRefuseOversizedToken(t *testing.T) {
	f := setup(t, verifier.ES256, func(c *verifier.Config) { c.MaxTokenSize = 2048 })
	claims := f.claims()
	claims["pad"] = strings.Repeat("x", 2048)
	before := f.iss.JWKSHits()
	f.refused(t, f.sign(t, claims, nil), verifier.ReasonTooLarge)
	if f.iss.JWKSHits() != before {
		t.Fatal("an oversized token reached the key lookup")
	}
	claims["pad"] = strings.Repeat("x", 1000)
	f.accepted(t, f.sign(t, claims, nil))
}

func TestRefuseGarbage(t *testing.T) {
	f := setup(t, verifier.ES256, nil)
	valid := strings.Split(f.sign(t, f.claims(), nil), ".")
	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"one segment", "abc"},
		{"two segments", "abc.def"},
		{"four segments", strings.Join(append(valid, "x"), ".")},
		{"dots only", ".."},
		{"not base64", "!!!.@@@.###"},
		{"padded base64", valid[0] + "==." + valid[1] + "." + valid[2]},
		{"header not JSON", b64([]byte("not json")) + "." + valid[1] + "." + valid[2]},
		{"header JSON array", b64([]byte(`["at+jwt"]`)) + "." + valid[1] + "." + valid[2]},
		{"payload not JSON", valid[0] + "." + b64([]byte("{")) + "." + valid[2]},
		{"JWE", "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d"},
		{"bearer prefix", "Bearer " + strings.Join(valid, ".")},
		{"control bytes", "\x00\x01\x02.\x03.\x04"},
	}
	for _, tt := range tests {
		t.Run("fail/"+tt.name, func(t *testing.T) {
			_, err := f.v.Verify(context.Background(), tt.token)
			if err == nil {
				t.Fatal("garbage accepted")
			}
			r := verifier.ReasonOf(err)
			if r != verifier.ReasonMalformed && r != verifier.ReasonAlgorithm && r != verifier.ReasonSignature {
				t.Fatalf("reason %q (%v), want malformed", r, err)
			}
		})
	}
}

func TestRefuseCriticalHeader(t *testing.T) {
	f := setup(t, verifier.ES256, nil)
	token := f.sign(t, f.claims(), map[string]any{"crit": []string{"exp"}, "exp": 1})
	f.refused(t, token, verifier.ReasonMalformed)
}

func TestEmbeddedKeyIsIgnored(t *testing.T) {
	// A token that brings its own key (jwk/jku headers) is verified against
	// the issuer's JWKS only.
	f := setup(t, verifier.ES256, nil)
	attacker := verifiertest.NewKey(t, verifier.ES256)
	attacker.Kid = f.key.Kid
	token := attacker.Sign(t, f.claims(), map[string]any{"jwk": attacker.JWK(), "jku": "https://evil.example/jwks"})
	f.refused(t, token, verifier.ReasonSignature)
}

func TestRefuseMissingRequiredClaims(t *testing.T) {
	f := setup(t, verifier.ES256, nil)
	for _, name := range []string{"sub", "jti", "client_id", "exp", "iat"} {
		t.Run("fail/no "+name, func(t *testing.T) {
			claims := f.claims()
			delete(claims, name)
			f.refused(t, f.sign(t, claims, nil), verifier.ReasonClaims)
		})
	}
	for name, v := range map[string]any{"roles": "reader", "scope": []string{"a"}, "act": "gw", "tenant": 7, "exp": "soon"} {
		t.Run("fail/bad "+name, func(t *testing.T) {
			claims := f.claims()
			claims[name] = v
			_, err := f.v.Verify(context.Background(), f.sign(t, claims, nil))
			if r := verifier.ReasonOf(err); r != verifier.ReasonClaims && r != verifier.ReasonMalformed {
				t.Fatalf("reason %q (%v), want claims or malformed", r, err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	for _, size := range []int{0, -1} {
		t.Run(fmt.Sprintf("token cache size %d", size), func(t *testing.T) {
			testRotation(t, size)
		})
	}
}

func testRotation(t *testing.T, cacheSize int) {
	f := setup(t, verifier.ES256, func(c *verifier.Config) { c.TokenCacheSize = cacheSize })
	claims := f.claims()
	claims["exp"] = start.Add(15 * time.Minute).Unix()
	oldToken := f.sign(t, claims, nil)
	f.accepted(t, oldToken)

	// The issuer publishes a new key and starts signing with it; the old
	// key stays published until its tokens have expired.
	f.clock.Advance(time.Minute)
	next := f.iss.AddKey(t, verifier.ES256)
	newToken := next.Sign(t, f.claims(), nil)
	f.accepted(t, newToken) // unknown kid → one refetch
	f.accepted(t, oldToken) // signed before the rotation, still valid
	if hits := f.iss.JWKSHits(); hits != 2 {
		t.Fatalf("JWKS fetched %d times, want 2 (initial + new kid)", hits)
	}

	// The old key is withdrawn. Until the cached set expires, its tokens
	// still verify (the issuer promised max-age); after the refresh they
	// do not.
	f.iss.Withdraw(f.key.Kid)
	f.accepted(t, oldToken)
	f.clock.Advance(5*time.Minute + time.Second) // past max-age=300 of the last fetch, old token not yet expired
	f.refused(t, oldToken, verifier.ReasonUnknownKey)
	f.accepted(t, newToken)
	if hits := f.iss.JWKSHits(); hits != 3 {
		t.Fatalf("JWKS fetched %d times, want 3", hits)
	}
}

func TestUnknownKidRefetchIsRateLimited(t *testing.T) {
	f := setup(t, verifier.ES256, func(c *verifier.Config) { c.MinRefreshInterval = 10 * time.Second })
	if got := f.iss.JWKSHits(); got != 1 {
		t.Fatalf("hits after New = %d, want 1", got)
	}
	flood := func(n int) {
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				k := verifiertest.NewKey(t, verifier.EdDSA)
				_, err := f.v.Verify(context.Background(), k.Sign(t, f.claims(), nil))
				if verifier.ReasonOf(err) != verifier.ReasonUnknownKey {
					t.Errorf("reason %v, want unknown_key", err)
				}
			})
		}
		wg.Wait()
	}
	flood(50) // within the interval of the initial fetch: no refetch at all
	if got := f.iss.JWKSHits(); got != 1 {
		t.Fatalf("hits = %d, want 1", got)
	}
	f.clock.Advance(10 * time.Second)
	flood(50) // one refetch for the whole flood
	if got := f.iss.JWKSHits(); got != 2 {
		t.Fatalf("hits = %d, want 2", got)
	}
	f.clock.Advance(9 * time.Second)
	flood(50)
	if got := f.iss.JWKSHits(); got != 2 {
		t.Fatalf("hits = %d, want 2", got)
	}
	f.clock.Advance(time.Second)
	flood(1)
	if got := f.iss.JWKSHits(); got != 3 {
		t.Fatalf("hits = %d, want 3", got)
	}
}

// TestNewKidNotRefusedOnAnOldFetch: a token of a key published while a
// JWKS fetch was in flight, that fetch having begun a full refetch
// interval before the token arrives, is not refused on that fetch's
// answer (the key missing from it): the verifier may refetch, so it does.
// (The withdrawal refetch of TestStatusListWithdrawsKeys, still in flight
// on a loaded machine when the clock moved on, made it flaky.)
func TestNewKidNotRefusedOnAnOldFetch(t *testing.T) {
	hold := &holdingTransport{held: make(chan struct{}), release: make(chan struct{})}
	f := setup(t, verifier.ES256, func(c *verifier.Config) {
		c.HTTPClient = &http.Client{Transport: hold}
	})
	hold.arm()
	refreshed := make(chan error, 1)
	go func() { refreshed <- f.v.Refresh(context.Background()) }()
	<-hold.held // that fetch has its answer, without the next key

	next := f.iss.AddKey(t, verifier.ES256)
	f.clock.Advance(verifier.DefaultMinRefreshInterval + time.Second)
	tok := next.Sign(t, f.claims(), nil)
	verified := make(chan error, 1)
	go func() {
		_, err := f.v.Verify(context.Background(), tok)
		verified <- err
	}()
	waitForStack(t, "(*remoteKeySet).lookup") // Verify waits for the held fetch
	close(hold.release)
	if err := <-verified; err != nil {
		t.Fatalf("Verify of the new key's token: %v", err)
	}
	if err := <-refreshed; err != nil {
		t.Fatal(err)
	}
	if got := f.iss.JWKSHits(); got != 3 {
		t.Fatalf("JWKS fetched %d times, want 3 (initial, held, refetch for the new kid)", got)
	}
}

// holdingTransport, once armed, holds the next response it receives
// (body read, so the server has answered) until release is closed.
type holdingTransport struct {
	mu            sync.Mutex
	armed         bool
	held, release chan struct{}
}

func (h *holdingTransport) arm() {
	h.mu.Lock()
	h.armed = true
	h.mu.Unlock()
}

func (h *holdingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	h.mu.Lock()
	armed := h.armed
	h.armed = false
	h.mu.Unlock()
	if armed {
		close(h.held)
		<-h.release
	}
	return resp, nil
}

// waitForStack waits until a goroutine is blocked in a select inside fn.
func waitForStack(t *testing.T, fn string) {
	t.Helper()
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "[select") && strings.Contains(g, fn) {
				return
			}
		}
	}
	t.Fatalf("no goroutine waiting in %s", fn)
}

func TestCacheControlIsHonoured(t *testing.T) {
	tests := []struct {
		name         string
		cacheControl string
		fresh        time.Duration // no refetch before this
	}{
		{"max-age", "public, max-age=120", 120 * time.Second},
		{"no header: default", "", verifier.DefaultCacheTTL},
		{"no-cache: minimum interval", "no-cache", verifier.DefaultMinRefreshInterval},
		{"max-age=0: minimum interval", "max-age=0", verifier.DefaultMinRefreshInterval},
		{"huge max-age: capped at a day", "max-age=99999999", 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			iss := verifiertest.NewIssuer(t)
			key := iss.AddKey(t, verifier.ES256)
			iss.SetCacheControl(tt.cacheControl)
			clock := verifiertest.NewClock(start)
			v, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL, Now: clock.Now})
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			verify := func() {
				t.Helper()
				claims := iss.Claims(clock.Now())
				claims["exp"] = clock.Now().Add(time.Minute).Unix()
				if _, err := v.Verify(context.Background(), key.Sign(t, claims, nil)); err != nil {
					t.Fatal(err)
				}
			}
			clock.Advance(tt.fresh)
			verify()
			if got := iss.JWKSHits(); got != 1 {
				t.Fatalf("refetched at the end of the freshness lifetime: hits = %d", got)
			}
			clock.Advance(time.Second)
			verify()
			if got := iss.JWKSHits(); got != 2 {
				t.Fatalf("no refetch after the freshness lifetime: hits = %d", got)
			}
		})
	}
}

func TestJWKSWithPrivateMembersIsRefused(t *testing.T) {
	for _, member := range []string{"d", "p", "k"} {
		t.Run("fail/"+member, func(t *testing.T) {
			iss := verifiertest.NewIssuer(t)
			k := verifiertest.NewKey(t, verifier.ES256)
			jwk := k.JWK()
			jwk[member] = "AAAA"
			iss.PublishRaw(jwk)
			_, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL})
			if err == nil || !strings.Contains(err.Error(), "private member") {
				t.Fatalf("New err = %v, want a refusal of the private key set", err)
			}
		})
	}
	t.Run("fail/on refresh: the cached set is kept", func(t *testing.T) {
		f := setup(t, verifier.ES256, nil)
		token := f.sign(t, f.claims(), nil)
		leaked := f.key.JWK()
		leaked["kid"] = "leaked"
		leaked["d"] = "AAAA"
		f.iss.PublishRaw(leaked)
		f.clock.Advance(5*time.Minute - time.Second)
		if err := f.v.Refresh(context.Background()); err == nil {
			t.Fatal("Refresh accepted a key set with private members")
		}
		f.accepted(t, token)
	})
}

func TestInvalidKeysAreRefused(t *testing.T) {
	tests := []struct {
		name string
		jwk  map[string]any
	}{
		{"EC point off the curve", map[string]any{"kty": "EC", "crv": "P-256", "kid": "a", "x": b64(make([]byte, 32)), "y": b64(make([]byte, 32))}},
		{"short RSA modulus", map[string]any{"kty": "RSA", "kid": "b", "n": b64(make([]byte, 128)), "e": "AQAB"}},
		{"alg does not fit", map[string]any{"kty": "OKP", "crv": "Ed25519", "kid": "c", "alg": "ES256", "x": b64(make([]byte, 32))}},
	}
	for _, tt := range tests {
		t.Run("fail/"+tt.name, func(t *testing.T) {
			iss := verifiertest.NewIssuer(t)
			iss.AddKey(t, verifier.ES256)
			iss.PublishRaw(tt.jwk)
			if _, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL}); err == nil {
				t.Fatal("New accepted an invalid key")
			}
		})
	}
	t.Run("ok/encryption and unknown keys are skipped", func(t *testing.T) {
		iss := verifiertest.NewIssuer(t)
		k := iss.AddKey(t, verifier.ES256)
		enc := verifiertest.NewKey(t, verifier.ES256).JWK()
		enc["use"] = "enc"
		iss.PublishRaw(enc)
		iss.PublishRaw(map[string]any{"kty": "EC", "crv": "P-521", "kid": "p521", "x": "AA", "y": "AA"})
		v, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		if _, err := v.Verify(context.Background(), k.Sign(t, iss.Claims(time.Now()), nil)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestStaleKeySetWhileJWKSIsDown(t *testing.T) {
	f := setup(t, verifier.ES256, func(c *verifier.Config) { c.MaxStale = 10 * time.Minute })
	f.iss.SetJWKSStatus(http.StatusServiceUnavailable)

	f.clock.Advance(5*time.Minute + time.Second) // set expired, refresh fails
	f.accepted(t, f.sign(t, f.claims(), nil))
	if hits := f.iss.JWKSHits(); hits != 2 {
		t.Fatalf("hits = %d, want 2 (one failed refresh)", hits)
	}
	f.accepted(t, f.sign(t, f.claims(), nil)) // no retry within the interval
	if hits := f.iss.JWKSHits(); hits != 2 {
		t.Fatalf("hits = %d, want 2", hits)
	}
	if !f.v.Ready() {
		t.Fatal("not ready while serving a stale set")
	}

	f.clock.Advance(10 * time.Minute) // beyond max-stale: refuse to decide
	f.refused(t, f.sign(t, f.claims(), nil), verifier.ReasonUnavailable)
	if f.v.Ready() {
		t.Fatal("ready without a usable key set")
	}

	f.iss.SetJWKSStatus(http.StatusOK)
	f.clock.Advance(verifier.DefaultMinRefreshInterval)
	f.accepted(t, f.sign(t, f.claims(), nil))
}

func TestDiscovery(t *testing.T) {
	t.Run("fail/issuer mismatch", func(t *testing.T) {
		iss := verifiertest.NewIssuer(t)
		iss.AddKey(t, verifier.ES256)
		if _, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL + "/"}); err == nil {
			t.Fatal("New accepted metadata naming another issuer")
		}
	})
	t.Run("fail/no issuer", func(t *testing.T) {
		if _, err := verifier.New(t.Context(), verifier.Config{JWKSURL: "http://127.0.0.1:1/jwks"}); err == nil {
			t.Fatal("New without Issuer and without InsecureSkipIssuerCheck")
		}
	})
	t.Run("ok/metadata", func(t *testing.T) {
		f := setup(t, verifier.ES256, nil)
		md := f.v.Metadata()
		if md == nil || md.TokenEndpoint != f.iss.URL+"/oauth2/token" || md.JWKSURI != f.iss.URL+"/.well-known/jwks.json" {
			t.Fatalf("metadata = %+v", md)
		}
	})
	t.Run("ok/jwks override without issuer check", func(t *testing.T) {
		iss := verifiertest.NewIssuer(t)
		k := iss.AddKey(t, verifier.ES256)
		v, err := verifier.New(t.Context(), verifier.Config{JWKSURL: iss.URL + "/.well-known/jwks.json", InsecureSkipIssuerCheck: true})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		claims := iss.Claims(time.Now())
		claims["iss"] = "https://anyone.example"
		if _, err := v.Verify(context.Background(), k.Sign(t, claims, nil)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRequire(t *testing.T) {
	f := setup(t, verifier.ES256, nil)
	c := f.accepted(t, f.sign(t, f.claims(), nil))
	tests := []struct {
		name string
		req  verifier.Require
		want verifier.Reason
	}{
		{"ok/nothing", verifier.Require{}, ""},
		{"ok/scopes", verifier.Require{Scopes: []string{"orders:write", "orders:read"}}, ""},
		{"ok/any role", verifier.Require{Roles: []string{"admin", "reader"}}, ""},
		{"ok/tenant", verifier.Require{Tenant: "acme"}, ""},
		{"fail/missing scope", verifier.Require{Scopes: []string{"orders:read", "orders:delete"}}, verifier.ReasonScope},
		{"fail/scope prefix", verifier.Require{Scopes: []string{"orders"}}, verifier.ReasonScope},
		{"fail/role", verifier.Require{Roles: []string{"admin"}}, verifier.ReasonRole},
		{"fail/tenant", verifier.Require{Tenant: "globex"}, verifier.ReasonTenant},
		{"ok/one of the tenants", verifier.Require{Tenants: []string{"globex", "acme"}}, ""},
		{"fail/none of the tenants", verifier.Require{Tenants: []string{"globex", "initech"}}, verifier.ReasonTenant},
		// Another tenant's token is told its tenant is wrong, not which
		// scopes the resource requires.
		{"fail/tenant before scope", verifier.Require{Tenants: []string{"globex"}, Scopes: []string{"orders:delete"}}, verifier.ReasonTenant},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Check(c)
			if got := verifier.ReasonOf(err); got != tt.want {
				t.Fatalf("Check = %v, want %q", err, tt.want)
			}
			if err != nil {
				var e *verifier.Error
				if !errors.As(err, &e) || !e.Forbidden() {
					t.Fatalf("%v is not a forbidden *Error", err)
				}
			}
		})
	}
}

type revokedJTIs map[string]bool

func (r revokedJTIs) CheckStatus(_ context.Context, c *verifier.Claims) error {
	if r[c.JTI] {
		return errors.New("listed as revoked")
	}
	return nil
}

func TestStatusCheckerSeam(t *testing.T) {
	revoked := revokedJTIs{}
	f := setup(t, verifier.ES256, func(c *verifier.Config) { c.StatusChecker = revoked })
	claims := f.claims()
	token := f.sign(t, claims, nil)
	f.accepted(t, token)
	revoked[claims["jti"].(string)] = true
	f.refused(t, token, verifier.ReasonStatus)

	// The checker is only consulted for tokens that passed everything else.
	expired := f.claims()
	expired["exp"] = start.Add(-time.Hour).Unix()
	revoked[expired["jti"].(string)] = true
	f.refused(t, f.sign(t, expired, nil), verifier.ReasonExpired)
}

func TestErrorsIs(t *testing.T) {
	f := setup(t, verifier.ES256, nil)
	claims := f.claims()
	claims["exp"] = start.Add(-time.Hour).Unix()
	_, err := f.v.Verify(context.Background(), f.sign(t, claims, nil))
	if !errors.Is(err, verifier.ErrExpired) || errors.Is(err, verifier.ErrSignature) {
		t.Fatalf("errors.Is does not match on reason: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := setup(t, verifier.ES256, func(c *verifier.Config) { c.Registerer = reg })
	f.accepted(t, f.sign(t, f.claims(), nil))
	f.refused(t, f.sign(t, f.claims(), map[string]any{"typ": "JWT"}), verifier.ReasonType)
	want := `
# HELP authz_verifier_jwks_keys Usable keys in the cached JWKS.
# TYPE authz_verifier_jwks_keys gauge
authz_verifier_jwks_keys 1
# HELP authz_verifier_verifications_total Access tokens verified, by result: valid or the refusal reason.
# TYPE authz_verifier_verifications_total counter
authz_verifier_verifications_total{result="type"} 1
authz_verifier_verifications_total{result="valid"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "authz_verifier_verifications_total", "authz_verifier_jwks_keys"); err != nil {
		t.Fatal(err)
	}
}

func TestVerifiedTokenCache(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := setup(t, verifier.ES256, func(c *verifier.Config) { c.Registerer = reg })
	token := f.sign(t, f.claims(), nil)
	for range 3 {
		c := f.accepted(t, token)
		c.Subject = "mutated by a caller" // must not leak into later answers
	}
	if c := f.accepted(t, token); c.Subject != "svc-orders" {
		t.Fatalf("cached claims were shared: sub %q", c.Subject)
	}

	// A refresh that publishes the same key keeps the entry; the same kid
	// with other key material does not.
	f.clock.Advance(5*time.Minute - time.Second)
	if err := f.v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.accepted(t, token)
	f.iss.Withdraw(f.key.Kid)
	impostor := verifiertest.NewKey(t, verifier.ES256)
	impostor.Kid = f.key.Kid
	f.iss.Publish(impostor)
	if err := f.v.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.refused(t, token, verifier.ReasonSignature)

	want := `
# HELP authz_verifier_token_cache_total Lookups in the cache of verified tokens, by result (hit or miss).
# TYPE authz_verifier_token_cache_total counter
authz_verifier_token_cache_total{result="hit"} 4
authz_verifier_token_cache_total{result="miss"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "authz_verifier_token_cache_total"); err != nil {
		t.Fatal(err)
	}
}
