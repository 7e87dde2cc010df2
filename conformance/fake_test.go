package conformance_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/golang-jwt/jwt/v5"
)

// breakage is one way a fake issuer departs from the RFCs; the zero value
// is a conformant issuer.
type breakage struct {
	metadataIssuer       string // issuer claimed by the metadata, if set
	omitCacheControl     bool
	tokenNoExpiresIn     bool
	wrongSecretStatus    int // status for a wrong secret, if set
	unknownClientError   string
	missingGrantError    string
	unsupportedGrantErr  string
	acceptDuplicates     bool
	acceptGET            bool
	unknownScopeError    string
	jwksPrivate          bool // publish the private key's d
	jwksNoUseOrAlg       bool
	jwksDuplicateKid     bool
	typ                  string // token typ header, if set
	omitJTI              bool
	expBeforeIat         bool
	signWithOtherKey     bool
	noReplayProtection   bool
	acceptExpired        bool
	ignoreAudience       bool
	garbageIsActive      bool
	revocationNoop       bool
	revokeGarbageStatus  int
	exchangeNoIssuedType bool
	exchangeInvalidError string
	// acceptUnknownResource issues tokens for any RFC 8707 resource.
	acceptUnknownResource bool
	// postOnly advertises and accepts client_secret_post only.
	postOnly bool
	// advertiseOnly drops optional features from the metadata (and the
	// server), leaving client credentials and the JWKS.
	advertiseOnly bool
}

// fakeIssuer is a small, conformant authorization server with switches
// to break it: client credentials (basic, post, private_key_jwt), an
// ES256 JWKS, at+jwt tokens, introspection, revocation and token exchange.
// Its issuer has a path, so that the suite's RFC 8414 §3.1 URL
// construction is exercised.
type fakeIssuer struct {
	t      *testing.T
	b      breakage
	srv    *httptest.Server
	issuer string
	key    *ecdsa.PrivateKey
	other  *ecdsa.PrivateKey

	clientID, secret  string
	assertionClientID string
	assertionKey      *ecdsa.PrivateKey
	apiKey            string

	mu       sync.Mutex
	revoked  map[string]bool
	usedJTIs map[string]bool
}

const fakeSubjectType = "urn:fake:api-key"

func newFakeIssuer(t *testing.T, b breakage) *fakeIssuer {
	t.Helper()
	gen := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	f := &fakeIssuer{
		t: t, b: b, key: gen(), other: gen(), assertionKey: gen(),
		clientID: "client-1", secret: "secret-1-of-enough-length", assertionClientID: "client-jwt", apiKey: "ak_fake_key",
		revoked: map[string]bool{}, usedJTIs: map[string]bool{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/oauth-authorization-server/tenant-a", f.metadata)
	mux.HandleFunc("/tenant-a/jwks", f.jwks)
	mux.HandleFunc("/tenant-a/token", f.token)
	if !b.advertiseOnly {
		mux.HandleFunc("/tenant-a/introspect", f.introspect)
		mux.HandleFunc("/tenant-a/revoke", f.revoke)
	}
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.issuer = f.srv.URL + "/tenant-a"
	return f
}

func (f *fakeIssuer) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (f *fakeIssuer) oauthError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Cache-Control", "no-store")
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
	}
	f.writeJSON(w, status, map[string]string{"error": code, "error_description": "fake says " + code})
}

func (f *fakeIssuer) metadata(w http.ResponseWriter, r *http.Request) {
	iss := f.issuer
	if f.b.metadataIssuer != "" {
		iss = f.b.metadataIssuer
	}
	md := map[string]any{
		"issuer":                                    iss,
		"token_endpoint":                            f.issuer + "/token",
		"jwks_uri":                                  f.issuer + "/jwks",
		"response_types_supported":                  []string{},
		"grant_types_supported":                     []string{"client_credentials", "urn:ietf:params:oauth:grant-type:token-exchange"},
		"token_endpoint_auth_methods_supported":     []string{"client_secret_basic", "client_secret_post", "private_key_jwt"},
		"introspection_endpoint":                    f.issuer + "/introspect",
		"revocation_endpoint":                       f.issuer + "/revoke",
		"access_token_signing_alg_values_supported": []string{"ES256"},
		"subject_token_types_supported":             []string{fakeSubjectType},
	}
	if f.b.postOnly {
		md["token_endpoint_auth_methods_supported"] = []string{"client_secret_post", "private_key_jwt"}
	}
	if f.b.advertiseOnly {
		for _, k := range []string{"introspection_endpoint", "revocation_endpoint", "subject_token_types_supported"} {
			delete(md, k)
		}
		md["grant_types_supported"] = []string{"client_credentials"}
		md["token_endpoint_auth_methods_supported"] = []string{"client_secret_basic"}
	}
	f.writeJSON(w, http.StatusOK, md)
}

func (f *fakeIssuer) jwks(w http.ResponseWriter, r *http.Request) {
	pub, err := json.Marshal(jose.JSONWebKey{Key: &f.key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"})
	if err != nil {
		f.t.Error(err)
	}
	var k map[string]any
	_ = json.Unmarshal(pub, &k)
	if f.b.jwksPrivate {
		k["d"] = base64.RawURLEncoding.EncodeToString(f.key.D.FillBytes(make([]byte, 32)))
	}
	if f.b.jwksNoUseOrAlg {
		delete(k, "use")
		delete(k, "alg")
	}
	keys := []any{k}
	if f.b.jwksDuplicateKid {
		dup, _ := json.Marshal(jose.JSONWebKey{Key: &f.other.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"})
		keys = append(keys, json.RawMessage(dup))
	}
	w.Header().Set("Cache-Control", "max-age=300")
	f.writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// sign issues an access token.
func (f *fakeIssuer) sign(clientID, sub string) (string, int) {
	now := time.Now()
	claims := jwt.MapClaims{
		"iss": f.issuer, "sub": sub, "aud": "https://api.example", "client_id": clientID,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": fmt.Sprint("jti-", now.UnixNano()), "scope": "read",
	}
	if f.b.omitJTI {
		delete(claims, "jti")
	}
	if f.b.expBeforeIat {
		claims["exp"] = now.Add(-time.Minute).Unix()
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = "k1"
	tok.Header["typ"] = "at+jwt"
	if f.b.typ != "" {
		tok.Header["typ"] = f.b.typ
	}
	key := f.key
	if f.b.signWithOtherKey {
		key = f.other
	}
	s, err := tok.SignedString(key)
	if err != nil {
		f.t.Error(err)
	}
	return s, 300
}

// parse returns the claims of one of its own tokens, signature checked.
func (f *fakeIssuer) parse(tok string) (jwt.MapClaims, bool) {
	// The fake knows both its keys, published or not, as a server that
	// signs with an unpublished key would.
	for _, k := range []*ecdsa.PrivateKey{f.key, f.other} {
		claims := jwt.MapClaims{}
		_, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return &k.PublicKey, nil },
			jwt.WithValidMethods([]string{"ES256"}), jwt.WithoutClaimsValidation())
		if err == nil {
			return claims, true
		}
	}
	return jwt.MapClaims{}, false
}

// form reads the POST body only, and whether a parameter repeats.
func (f *fakeIssuer) form(r *http.Request) (url.Values, bool) {
	if err := r.ParseForm(); err != nil {
		return nil, false
	}
	for _, v := range r.PostForm {
		if len(v) > 1 {
			return r.PostForm, true
		}
	}
	return r.PostForm, false
}

// authenticate returns the client id, or writes the refusal.
func (f *fakeIssuer) authenticate(w http.ResponseWriter, r *http.Request, form url.Values) (string, bool) {
	if form.Get("client_assertion_type") != "" {
		return f.checkAssertion(w, form)
	}
	id, secret, basic := r.BasicAuth()
	if basic && f.b.postOnly {
		f.oauthError(w, http.StatusUnauthorized, "invalid_client")
		return "", false
	}
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == f.clientID && subtle.ConstantTimeCompare([]byte(secret), []byte(f.secret)) == 1 {
		return id, true
	}
	switch {
	case id == f.clientID && f.b.wrongSecretStatus != 0:
		f.oauthError(w, f.b.wrongSecretStatus, "invalid_client")
	case id != f.clientID && f.b.unknownClientError != "":
		f.oauthError(w, http.StatusBadRequest, f.b.unknownClientError)
	default:
		f.oauthError(w, http.StatusUnauthorized, "invalid_client")
	}
	return "", false
}

func (f *fakeIssuer) checkAssertion(w http.ResponseWriter, form url.Values) (string, bool) {
	refuse := func() (string, bool) { f.oauthError(w, http.StatusUnauthorized, "invalid_client"); return "", false }
	tok, err := josejwt.ParseSigned(form.Get("client_assertion"), []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return refuse()
	}
	var c josejwt.Claims
	if err := tok.Claims(&f.assertionKey.PublicKey, &c); err != nil {
		return refuse()
	}
	if c.Issuer != f.assertionClientID || c.Subject != f.assertionClientID || c.ID == "" || c.Expiry == nil {
		return refuse()
	}
	if !f.b.acceptExpired && time.Now().After(c.Expiry.Time()) {
		return refuse()
	}
	if !f.b.ignoreAudience && !c.Audience.Contains(f.issuer+"/token") {
		return refuse()
	}
	f.mu.Lock()
	used := f.usedJTIs[c.ID]
	f.usedJTIs[c.ID] = true
	f.mu.Unlock()
	if used && !f.b.noReplayProtection {
		return refuse()
	}
	return c.Subject, true
}

func (f *fakeIssuer) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost && !f.b.acceptGET {
		w.Header().Set("Allow", "POST")
		f.oauthError(w, http.StatusMethodNotAllowed, "invalid_request")
		return
	}
	form, dup := f.form(r)
	if r.Method == http.MethodGet {
		form = r.URL.Query()
	}
	if dup && !f.b.acceptDuplicates {
		f.oauthError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	switch form.Get("grant_type") {
	case "":
		code := "invalid_request"
		if f.b.missingGrantError != "" {
			code = f.b.missingGrantError
		}
		f.oauthError(w, http.StatusBadRequest, code)
	case "client_credentials":
		id, ok := f.authenticate(w, r, form)
		if !ok {
			return
		}
		if sc := form.Get("scope"); sc != "" && sc != "read" {
			code := "invalid_scope"
			if f.b.unknownScopeError != "" {
				code = f.b.unknownScopeError
			}
			f.oauthError(w, http.StatusBadRequest, code)
			return
		}
		if res := form.Get("resource"); res != "" && !f.b.acceptUnknownResource {
			f.oauthError(w, http.StatusBadRequest, "invalid_target")
			return
		}
		tok, exp := f.sign(id, id)
		resp := map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": exp, "scope": "read"}
		if f.b.tokenNoExpiresIn {
			delete(resp, "expires_in")
		}
		if !f.b.omitCacheControl {
			w.Header().Set("Cache-Control", "no-store")
		}
		f.writeJSON(w, http.StatusOK, resp)
	case "urn:ietf:params:oauth:grant-type:token-exchange":
		if f.b.advertiseOnly {
			f.oauthError(w, http.StatusBadRequest, "unsupported_grant_type")
			return
		}
		if form.Get("subject_token_type") != fakeSubjectType || form.Get("subject_token") != f.apiKey {
			code := "invalid_request"
			if f.b.exchangeInvalidError != "" {
				code = f.b.exchangeInvalidError
			}
			f.oauthError(w, http.StatusBadRequest, code)
			return
		}
		tok, exp := f.sign("legacy-key:1", "owner-1")
		resp := map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": exp,
			"issued_token_type": "urn:ietf:params:oauth:token-type:access_token"}
		if f.b.exchangeNoIssuedType {
			delete(resp, "issued_token_type")
		}
		w.Header().Set("Cache-Control", "no-store")
		f.writeJSON(w, http.StatusOK, resp)
	default:
		code := "unsupported_grant_type"
		if f.b.unsupportedGrantErr != "" {
			code = f.b.unsupportedGrantErr
		}
		f.oauthError(w, http.StatusBadRequest, code)
	}
}

func (f *fakeIssuer) introspect(w http.ResponseWriter, r *http.Request) {
	form, _ := f.form(r)
	if _, ok := f.authenticate(w, r, form); !ok {
		return
	}
	claims, ok := f.parse(form.Get("token"))
	jti, _ := claims["jti"].(string)
	f.mu.Lock()
	revoked := f.revoked[jti]
	f.mu.Unlock()
	if revoked || (!ok && !f.b.garbageIsActive) {
		f.writeJSON(w, http.StatusOK, map[string]any{"active": false})
		return
	}
	claims["active"] = true
	f.writeJSON(w, http.StatusOK, claims)
}

func (f *fakeIssuer) revoke(w http.ResponseWriter, r *http.Request) {
	form, _ := f.form(r)
	if _, ok := f.authenticate(w, r, form); !ok {
		return
	}
	claims, ok := f.parse(form.Get("token"))
	if !ok {
		if f.b.revokeGarbageStatus != 0 {
			f.oauthError(w, f.b.revokeGarbageStatus, "invalid_request")
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if !f.b.revocationNoop {
		jti, _ := claims["jti"].(string)
		f.mu.Lock()
		f.revoked[jti] = true
		f.mu.Unlock()
	}
	w.WriteHeader(http.StatusOK)
}

// assertionJWK is the private key of the fake's private_key_jwt client.
func (f *fakeIssuer) assertionJWK() *jose.JSONWebKey {
	return &jose.JSONWebKey{Key: f.assertionKey, Algorithm: "ES256"}
}
