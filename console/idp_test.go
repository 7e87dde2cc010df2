package console_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// testIdP is a small OpenID Connect provider run inside the test: discovery,
// an authorization endpoint that approves at once (the person is already
// signed in there), a token endpoint that checks the client's secret, the
// code, its redirect URI and the PKCE verifier (S256), and a JWKS. Its
// user, extra claims and a fault to inject are set by the test.
type testIdP struct {
	t        *testing.T
	srv      *httptest.Server
	key      *ecdsa.PrivateKey
	other    *ecdsa.PrivateKey // signs the tokens of fault "sig"
	clientID string
	secret   string
	now      func() time.Time

	mu     sync.Mutex
	sub    string
	claims map[string]any
	fault  string // "", "nonce", "state", "aud", "iss", "exp", "sig", "denied"
	codes  map[string]idpGrant
	// pkceChecked counts token requests whose verifier matched an S256
	// challenge: the console's PKCE, seen from the provider.
	pkceChecked int
}

type idpGrant struct {
	challenge, nonce, redirect, sub string
	claims                          map[string]any
}

func newTestIdP(t *testing.T, now func() time.Time) *testIdP {
	gen := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	p := &testIdP{t: t, key: gen(), other: gen(), clientID: "authz-console", secret: "idp-client-secret", now: now, codes: map[string]idpGrant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /jwks", p.jwks)
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

// as makes the next sign-ins those of sub, with extra claims and a fault.
func (p *testIdP) as(sub string, claims map[string]any, fault string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sub, p.claims, p.fault = sub, claims, fault
}

func (p *testIdP) checked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pkceChecked
}

func (p *testIdP) discovery(w http.ResponseWriter, r *http.Request) {
	u := p.srv.URL
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer": u, "authorization_endpoint": u + "/authorize", "token_endpoint": u + "/token", "jwks_uri": u + "/jwks",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"ES256"}, "code_challenge_methods_supported": []string{"S256"},
	})
}

func (p *testIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case err != nil || q.Get("client_id") != p.clientID || q.Get("response_type") != "code":
		http.Error(w, "bad client, redirect_uri or response_type", http.StatusBadRequest)
		return
	case q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "":
		http.Error(w, "PKCE with S256 is required", http.StatusBadRequest)
		return
	case q.Get("state") == "" || q.Get("nonce") == "" || !strings.Contains(" "+q.Get("scope")+" ", " openid "):
		http.Error(w, "state, nonce and scope openid are required", http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	back := url.Values{"state": {q.Get("state")}}
	switch p.fault {
	case "denied":
		back.Set("error", "access_denied")
		back.Set("error_description", "the user said no")
	case "state":
		back.Set("state", "forged-"+q.Get("state"))
		fallthrough
	default:
		code := rand.Text()
		p.codes[code] = idpGrant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirect: redirect.String(), sub: p.sub, claims: p.claims}
		back.Set("code", code)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (p *testIdP) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id != p.clientID || secret != p.secret {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client"})
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	g, ok := p.codes[r.PostFormValue("code")]
	delete(p.codes, r.PostFormValue("code")) // a code works once
	sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
	if !ok || r.PostFormValue("grant_type") != "authorization_code" || r.PostFormValue("redirect_uri") != g.redirect ||
		base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant"})
		return
	}
	p.pkceChecked++
	now := p.now()
	claims := map[string]any{
		"iss": p.srv.URL, "sub": g.sub, "aud": p.clientID, "nonce": g.nonce,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	}
	for k, v := range g.claims {
		claims[k] = v
	}
	key := p.key
	switch p.fault {
	case "nonce":
		claims["nonce"] = "a-nonce-of-another-sign-in"
	case "aud":
		claims["aud"] = "another-client"
	case "iss":
		claims["iss"] = "https://idp.evil.example"
	case "exp":
		claims["exp"] = now.Add(-time.Minute).Unix()
	case "sig":
		key = p.other
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "k1"))
	if err != nil {
		p.t.Error(err)
		return
	}
	raw, err := jwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		p.t.Error(err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"access_token": rand.Text(), "token_type": "Bearer", "expires_in": 300, "id_token": raw})
}

func (p *testIdP) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
