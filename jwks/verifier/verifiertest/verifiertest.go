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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authz/authz/statuslist"
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
	return k.signTyped("at+jwt", claims, header)
}

func (k *Key) signTyped(typ string, claims map[string]any, header map[string]any) (string, error) {
	h := map[string]any{"typ": typ, "alg": k.Alg, "kid": k.Kid}
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

	statusList StatusList
	// listToken caches the signed list until the list changes (ECDSA
	// signatures differ on every signing; ETags must not).
	listToken string
	listHits  atomic.Int64
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
	i.Mux.HandleFunc("GET "+StatusListPath, i.serveStatusList)
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

// StatusListPath is where an Issuer serves its Token Status List.
const StatusListPath = "/statuslists/1"

// StatusList is the Token Status List an Issuer serves at StatusListPath,
// as a Status List Token signed with one of its keys. The zero value
// serves a list of 1024 VALID entries (2 bits each) with ttl 300 s, valid
// for an hour, Cache-Control max-age equal to the ttl, signed with the
// first published key.
type StatusList struct {
	// Statuses holds the entries that are not VALID.
	Statuses map[int64]statuslist.Status
	// Size is the number of entries (default 1024); Bits their width
	// (default 2).
	Size int64
	Bits int
	// TTL is the ttl claim (default 300 s; negative omits it).
	TTL time.Duration
	// Validity is exp - iat (default 1 h; negative omits exp).
	Validity time.Duration
	// CacheControl is the response's header (default "public,
	// max-age=<ttl>"; "-" omits it).
	CacheControl string
	// HTTPStatus, when not 0 or 200, is answered instead of the list.
	HTTPStatus int
	// Header entries are merged over the JWS header {typ: statuslist+jwt,
	// alg, kid}; a nil value removes one.
	Header map[string]any
	// Signer signs the list (default: the first published key).
	Signer *Key
	// Subject and Issuer replace sub (default: the list's URI) and iss
	// (default: the issuer's URL).
	Subject, Issuer string
	// Tamper changes one entry in the signed payload, so that the
	// signature no longer matches.
	Tamper bool
	// Now is the clock for iat and exp (default time.Now).
	Now func() time.Time
	// Gate, when set, holds every request until it is closed (or the
	// client goes away).
	Gate <-chan struct{}
	// JWKSKids, when not nil, is the jwks_kids claim: the kids the issuer
	// says it publishes (statuslist.Token.JWKSKids).
	JWKSKids []string
}

// StatusListURI is the uri of the issuer's status list.
func (i *Issuer) StatusListURI() string { return i.URL + StatusListPath }

// StatusClaim is the status claim of a token whose status is entry idx of
// the issuer's list.
func (i *Issuer) StatusClaim(idx int64) map[string]any {
	return map[string]any{"status_list": map[string]any{"idx": idx, "uri": i.StatusListURI()}}
}

// SetStatusList replaces the served list.
func (i *Issuer) SetStatusList(l StatusList) {
	i.UpdateStatusList(func(cur *StatusList) { *cur = l })
}

// UpdateStatusList changes the served list in place; the next request
// gets a freshly signed token.
func (i *Issuer) UpdateStatusList(f func(*StatusList)) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.statusList.Statuses == nil {
		i.statusList.Statuses = map[int64]statuslist.Status{}
	}
	f(&i.statusList)
	i.listToken = ""
}

// SetStatus sets entry idx of the served list.
func (i *Issuer) SetStatus(idx int64, s statuslist.Status) {
	i.UpdateStatusList(func(l *StatusList) { l.Statuses[idx] = s })
}

// StatusListHits is how many times the status list was requested (304s
// included).
func (i *Issuer) StatusListHits() int { return int(i.listHits.Load()) }

func (i *Issuer) serveStatusList(w http.ResponseWriter, r *http.Request) {
	i.listHits.Add(1)
	i.mu.Lock()
	gate := i.statusList.Gate
	i.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	i.mu.Lock()
	l := i.statusList
	if l.HTTPStatus != 0 && l.HTTPStatus != http.StatusOK {
		i.mu.Unlock()
		http.Error(w, "unavailable", l.HTTPStatus)
		return
	}
	tok := i.listToken
	if tok == "" {
		var err error
		if tok, err = i.signStatusList(l); err != nil {
			i.mu.Unlock()
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		i.listToken = tok
	}
	i.mu.Unlock()
	ttl := l.TTL
	if ttl == 0 {
		ttl = 300 * time.Second
	}
	switch cc := l.CacheControl; {
	case cc == "" && ttl > 0:
		w.Header().Set("Cache-Control", "public, max-age="+strconv.Itoa(int(ttl.Seconds())))
	case cc != "" && cc != "-":
		w.Header().Set("Cache-Control", cc)
	}
	sum := sha256.Sum256([]byte(tok))
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", statuslist.MediaType)
	_, _ = w.Write([]byte(tok))
}

func (i *Issuer) signStatusList(l StatusList) (string, error) {
	signer := l.Signer
	if signer == nil {
		if len(i.keys) == 0 {
			return "", fmt.Errorf("verifiertest: no key to sign the status list")
		}
		signer = i.keys[0]
	}
	size, bits := l.Size, l.Bits
	if size == 0 {
		size = 1024
	}
	if bits == 0 {
		bits = 2
	}
	list, err := statuslist.New(bits, size)
	if err != nil {
		return "", err
	}
	for idx, s := range l.Statuses {
		if err := list.Set(idx, s); err != nil {
			return "", err
		}
	}
	lst, err := list.Encode()
	if err != nil {
		return "", err
	}
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	iat := now()
	claims := map[string]any{
		"iss": i.URL, "sub": i.StatusListURI(), "iat": iat.Unix(),
		"status_list": map[string]any{"bits": bits, "lst": lst},
	}
	if l.Issuer != "" {
		claims["iss"] = l.Issuer
	}
	if l.Subject != "" {
		claims["sub"] = l.Subject
	}
	if l.JWKSKids != nil {
		claims["jwks_kids"] = l.JWKSKids
	}
	switch {
	case l.TTL == 0:
		claims["ttl"] = 300
	case l.TTL > 0:
		claims["ttl"] = int64(l.TTL.Seconds())
	}
	switch {
	case l.Validity == 0:
		claims["exp"] = iat.Add(time.Hour).Unix()
	case l.Validity > 0:
		claims["exp"] = iat.Add(l.Validity).Unix()
	}
	tok, err := signer.signTyped(statuslist.TokenType, claims, l.Header)
	if err != nil || !l.Tamper {
		return tok, err
	}
	// Flip entry 0 in the payload and keep the header and signature.
	if s, _ := list.Get(0); s == statuslist.Valid {
		err = list.Set(0, statuslist.Invalid)
	} else {
		err = list.Set(0, statuslist.Valid)
	}
	if err != nil {
		return "", err
	}
	if lst, err = list.Encode(); err != nil {
		return "", err
	}
	claims["status_list"] = map[string]any{"bits": bits, "lst": lst}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	return tok[:strings.IndexByte(tok, '.')] + "." + b64(cb) + tok[strings.LastIndexByte(tok, '.'):], nil
}
