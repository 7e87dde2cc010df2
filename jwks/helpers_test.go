package jwks_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/jwks"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/store"
)

var algs = []string{jwks.ES256, jwks.EdDSA, jwks.RS256}

// clock is an injected time source that only moves when a test says so.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t.UTC().Truncate(time.Second)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// t0 is a fixed start well away from the wall clock, so that nothing in
// these tests can pass by accident of the real time.
var t0 = time.Date(2031, 3, 14, 9, 0, 0, 0, time.UTC)

// testConfig is the lifecycle used throughout: 5 min JWKS max-age, 1 min
// skew (so a next key may sign 6 min after publication), 10 min tokens (a
// retired key stays 16 min), daily rotation.
func testConfig(c *clock, alg string) jwks.Config {
	return jwks.Config{
		Alg:              alg,
		RotationPeriod:   24 * time.Hour,
		CacheMaxAge:      5 * time.Minute,
		ClockSkew:        time.Minute,
		MaxTokenLifetime: 10 * time.Minute,
		ReloadInterval:   10 * time.Millisecond,
		Audit: func(ctx context.Context, tx store.Tx, ev store.AuditEvent) error {
			return audit.Append(ctx, tx, ev)
		},
		Now: c.Now,
	}
}

const publishAhead = 6 * time.Minute
const retention = 16 * time.Minute

func newManager(t testing.TB, st store.Store, mk masterkey.Key, cfg jwks.Config) *jwks.Manager {
	t.Helper()
	m, err := jwks.NewManager(st, mk, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return m
}

// keysByState lists the stored keys as state → kids.
func keysByState(t testing.TB, m *jwks.Manager) map[store.SigningKeyState][]string {
	t.Helper()
	infos, err := m.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[store.SigningKeyState][]string{}
	for _, k := range infos {
		out[k.State] = append(out[k.State], k.KID)
	}
	return out
}

func one(t testing.TB, m *jwks.Manager, state store.SigningKeyState) string {
	t.Helper()
	ks := keysByState(t, m)[state]
	if len(ks) != 1 {
		t.Fatalf("%d %s keys, want 1: %v", len(ks), state, keysByState(t, m))
	}
	return ks[0]
}

// jwk is a published key as a verifier reads it.
type jwk struct {
	Kty, Kid, Use, Alg, Crv, X, Y, N, E string
	D, P, Q, DP, DQ, QI                 string
}

func fetchJWKS(t testing.TB, h http.Handler) (map[string]jwk, []map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET jwks: %d %s", rec.Code, rec.Body)
	}
	var raw struct{ Keys []map[string]any }
	if err := json.Unmarshal(rec.Body.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	var doc struct{ Keys []jwk }
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]jwk{}
	for _, k := range doc.Keys {
		out[k.Kid] = k
	}
	return out, raw.Keys
}

func b64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("base64url %q: %v", s, err)
	}
	return b
}

// publicKey turns a published JWK into a standard-library key, without
// go-jose, so that the verification it enables is independent of ours.
func (k jwk) publicKey(t testing.TB) any {
	t.Helper()
	switch k.Kty {
	case "EC":
		if k.Crv != "P-256" {
			t.Fatalf("crv %q", k.Crv)
		}
		return &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(b64(t, k.X)), Y: new(big.Int).SetBytes(b64(t, k.Y))}
	case "OKP":
		if k.Crv != "Ed25519" {
			t.Fatalf("crv %q", k.Crv)
		}
		return ed25519.PublicKey(b64(t, k.X))
	case "RSA":
		return &rsa.PublicKey{N: new(big.Int).SetBytes(b64(t, k.N)), E: int(new(big.Int).SetBytes(b64(t, k.E)).Int64())}
	}
	t.Fatalf("kty %q", k.Kty)
	return nil
}

// thumbprint computes the RFC 7638 thumbprint from the required members in
// lexicographic order, independently of go-jose.
func (k jwk) thumbprint() string {
	var in string
	switch k.Kty {
	case "EC":
		in = fmt.Sprintf(`{"crv":%q,"kty":"EC","x":%q,"y":%q}`, k.Crv, k.X, k.Y)
	case "OKP":
		in = fmt.Sprintf(`{"crv":%q,"kty":"OKP","x":%q}`, k.Crv, k.X)
	case "RSA":
		in = fmt.Sprintf(`{"e":%q,"kty":"RSA","n":%q}`, k.E, k.N)
	}
	sum := sha256.Sum256([]byte(in))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// header decodes a token's JOSE header without verifying anything.
func header(t testing.TB, token string) map[string]any {
	t.Helper()
	var h map[string]any
	seg := token[:indexDot(token)]
	if err := json.Unmarshal(b64(t, seg), &h); err != nil {
		t.Fatal(err)
	}
	return h
}

func indexDot(s string) int {
	for i := range s {
		if s[i] == '.' {
			return i
		}
	}
	return len(s)
}

// auditActions returns the audit log as "action target actor" lines.
func auditActions(t testing.TB, st store.Store) []string {
	t.Helper()
	evs, _, err := st.ListAudit(context.Background(), store.AuditFilter{}, store.Page{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Action+" "+ev.Target+" "+ev.Actor)
	}
	return out
}
