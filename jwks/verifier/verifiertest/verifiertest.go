// Package verifiertest is a fake authz issuer for tests of code that
// verifies authz access tokens: RFC 8414 metadata, a JWKS whose keys and
// Cache-Control the test controls and whose hits it counts, a token
// signer for every supported algorithm, and a settable clock. It signs with
// the standard library only, so tests can forge exactly the header and
// payload they need (alg none, wrong typ, HS256 with the public key...).
package verifiertest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Clock is a settable clock for Config.Now.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Key is a signing key with its kid and alg.
type Key struct {
	Kid     string
	Alg     string
	Private crypto.Signer
}

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.Private.Public() }

// JWK returns the key's public JWK.
func (k *Key) JWK() map[string]any {
	m := map[string]any{"kid": k.Kid, "alg": k.Alg, "use": "sig"}
	switch pub := k.Public().(type) {
	case *ecdsa.PublicKey:
		b, _ := pub.Bytes() // 0x04 || X || Y
		m["kty"], m["crv"] = "EC", "P-256"
		m["x"], m["y"] = b64(b[1:33]), b64(b[33:65])
	case ed25519.PublicKey:
		m["kty"], m["crv"], m["x"] = "OKP", "Ed25519", b64(pub)
	case *rsa.PublicKey:
		m["kty"], m["n"] = "RSA", b64(pub.N.Bytes())
		m["e"] = b64(big.NewInt(int64(pub.E)).Bytes())
	}
	return m
}

// NewKey generates a key for alg ("ES256", "EdDSA" or "RS256") with a
// random kid.
func NewKey(tb testing.TB, alg string) *Key {
	tb.Helper()
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case "ES256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "RS256":
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		tb.Fatalf("verifiertest: unsupported alg %q", alg)
	}
	if err != nil {
		tb.Fatal(err)
	}
	return &Key{Kid: randomID(), Alg: alg, Private: priv}
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Sign signs claims with k under an RFC 9068 header (typ at+jwt, alg and
// kid of k). header entries are merged over that default; a nil value
// removes an entry.
func (k *Key) Sign(tb testing.TB, claims map[string]any, header map[string]any) string {
	tb.Helper()
	tok, err := k.SignToken(claims, header)
	if err != nil {
		tb.Fatal(err)
	}
	return tok
}

// SignToken is Sign for code outside a test goroutine (a fake token
// endpoint's handler, say).
func (k *Key) SignToken(claims map[string]any, header map[string]any) (string, error) {
	h := map[string]any{"typ": "at+jwt", "alg": k.Alg, "kid": k.Kid}
	for name, v := range header {
		if v == nil {
			delete(h, name)
		} else {
			h[name] = v
		}
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return "", err
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	input := b64(hb) + "." + b64(cb)
	sig, err := k.signBytes([]byte(input))
	if err != nil {
		return "", err
	}
	return input + "." + b64(sig), nil
}

// SignBytes signs a JWS signing input with k's algorithm.
func (k *Key) SignBytes(tb testing.TB, input []byte) []byte {
	tb.Helper()
	sig, err := k.signBytes(input)
	if err != nil {
		tb.Fatal(err)
	}
	return sig
}

func (k *Key) signBytes(input []byte) ([]byte, error) {
	digest := sha256.Sum256(input)
	switch priv := k.Private.(type) {
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, priv, digest[:])
		if err != nil {
			return nil, err
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return sig, nil
	case ed25519.PrivateKey:
		return ed25519.Sign(priv, input), nil
	case *rsa.PrivateKey:
		return rsa.SignPKCS1v15(rand.Reader, priv, crypto.SHA256, digest[:])
	}
	return nil, fmt.Errorf("verifiertest: unsupported key %T", k.Private)
}

// Issuer is a fake authz issuer on an httptest server.
type Issuer struct {
	URL    string
	Server *httptest.Server
	// Mux serves the metadata and the JWKS; tests add a token endpoint.
	Mux *http.ServeMux

	mu           sync.Mutex
	keys         []*Key
	extra        []map[string]any
	cacheControl string
	jwksStatus   int
	jwksHits     atomic.Int64
}

// NewIssuer starts an issuer that publishes its metadata and an empty JWKS
// with Cache-Control: public, max-age=300. It stops when the test ends.
func NewIssuer(tb testing.TB) *Issuer {
	tb.Helper()
	i := &Issuer{Mux: http.NewServeMux(), cacheControl: "public, max-age=300", jwksStatus: http.StatusOK}
	i.Server = httptest.NewServer(i.Mux)
	tb.Cleanup(i.Server.Close)
	i.URL = i.Server.URL
	meta := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"issuer":         i.URL,
			"jwks_uri":       i.URL + "/.well-known/jwks.json",
			"token_endpoint": i.URL + "/oauth2/token",
			"grant_types_supported": []string{
				"client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange",
			},
		})
	}
	i.Mux.HandleFunc("GET /.well-known/oauth-authorization-server", meta)
	i.Mux.HandleFunc("GET /.well-known/openid-configuration", meta)
	i.Mux.HandleFunc("GET /.well-known/jwks.json", i.serveJWKS)
	return i
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	i.jwksHits.Add(1)
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.jwksStatus != http.StatusOK {
		http.Error(w, "unavailable", i.jwksStatus)
		return
	}
	keys := make([]map[string]any, 0, len(i.keys)+len(i.extra))
	for _, k := range i.keys {
		keys = append(keys, k.JWK())
	}
	keys = append(keys, i.extra...)
	w.Header().Set("Content-Type", "application/jwk-set+json")
	if i.cacheControl != "" {
		w.Header().Set("Cache-Control", i.cacheControl)
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"keys": keys})
}

// AddKey generates a key for alg, publishes it and returns it.
func (i *Issuer) AddKey(tb testing.TB, alg string) *Key {
	tb.Helper()
	k := NewKey(tb, alg)
	i.Publish(k)
	return k
}

// Publish adds k to the JWKS.
func (i *Issuer) Publish(k *Key) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.keys = append(i.keys, k)
}

// PublishRaw adds a JWK exactly as given (for malformed or private keys).
func (i *Issuer) PublishRaw(jwk map[string]any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.extra = append(i.extra, jwk)
}

// Withdraw removes the key with kid from the JWKS.
func (i *Issuer) Withdraw(kid string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	kept := i.keys[:0]
	for _, k := range i.keys {
		if k.Kid != kid {
			kept = append(kept, k)
		}
	}
	i.keys = kept
}

// SetCacheControl sets the JWKS Cache-Control header ("" for none).
func (i *Issuer) SetCacheControl(v string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.cacheControl = v
}

// SetJWKSStatus makes the JWKS endpoint answer with status (200 restores it).
func (i *Issuer) SetJWKSStatus(status int) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.jwksStatus = status
}

// JWKSHits is how many times the JWKS was requested.
func (i *Issuer) JWKSHits() int { return int(i.jwksHits.Load()) }

// Claims returns the claims of a valid client-credentials token from this
// issuer for aud, issued at now and valid for five minutes.
func (i *Issuer) Claims(now time.Time, aud ...string) map[string]any {
	if aud == nil {
		aud = []string{}
	}
	return map[string]any{
		"iss":       i.URL,
		"sub":       "svc-orders",
		"aud":       aud,
		"exp":       now.Add(5 * time.Minute).Unix(),
		"iat":       now.Unix(),
		"jti":       randomID(),
		"client_id": "svc-orders",
		"scope":     "orders:read orders:write",
		"tenant":    "acme",
		"roles":     []string{"reader"},
	}
}
