package gateway_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/gateway"
	"github.com/authz/authz/jwks/verifier"
	"github.com/authz/authz/jwks/verifier/verifiertest"
)

var start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

const (
	audience      = "https://orders.example"
	gatewayClient = "gw-orders"
	gatewaySecret = "gw-secret-with-at-least-32-characters!"
)

// fakeAuthz is an issuer with a token endpoint that exchanges legacy keys
// the way SPEC §3 describes: client_secret_basic for the gateway, RFC 8693
// form, RFC 8693 §2.2.1 answer with act, RFC 6749 errors with error_code.
type fakeAuthz struct {
	iss   *verifiertest.Issuer
	key   *verifiertest.Key
	clock *verifiertest.Clock

	mu       sync.Mutex
	keys     map[string]legacyKey
	lifetime time.Duration
	gate     chan struct{} // when set, exchanges wait for it to close
	last     exchangeSeen

	exchanges atomic.Int64
}

// legacyKey is what the token endpoint does with one key: refuse it with
// code (and status, default 400), or issue a token for owner.
type legacyKey struct {
	id         string
	owner      string
	scope      string
	code       errcode.Code
	status     int
	retryAfter string
	// listed tokens carry a status claim naming entry listIdx of the
	// issuer's status list.
	listed  bool
	listIdx int64
}

type exchangeSeen struct {
	form      url.Values
	user      string
	pass      string
	requestID string
	forwarded string // X-Forwarded-For
}

func newFakeAuthz(t testing.TB) *fakeAuthz {
	t.Helper()
	a := &fakeAuthz{
		iss:      verifiertest.NewIssuer(t),
		clock:    verifiertest.NewClock(start),
		keys:     map[string]legacyKey{},
		lifetime: 5 * time.Minute,
	}
	a.key = a.iss.AddKey(t, verifier.ES256)
	a.iss.SetStatusList(verifiertest.StatusList{Now: a.clock.Now, TTL: 30 * time.Second})
	a.iss.Mux.HandleFunc("POST /oauth2/token", a.token)
	return a
}

func (a *fakeAuthz) setKey(secret string, k legacyKey) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys[secret] = k
}

// rotate makes a new key sign from now on and withdraws the old one.
func (a *fakeAuthz) rotate(t testing.TB) {
	next := a.iss.AddKey(t, verifier.ES256)
	a.mu.Lock()
	old := a.key
	a.key = next
	a.mu.Unlock()
	a.iss.Withdraw(old.Kid)
}

func (a *fakeAuthz) lastExchange() exchangeSeen {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.last
}

func writeOAuthError(w http.ResponseWriter, status int, code errcode.Code, retryAfter string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(errcode.Body{Error: errcode.Lookup(code).OAuth, Code: code, Description: errcode.Lookup(code).Remedy})
}

func (a *fakeAuthz) token(w http.ResponseWriter, r *http.Request) {
	a.exchanges.Add(1)
	a.mu.Lock()
	gate := a.gate
	a.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, 400, errcode.RequestInvalid, "")
		return
	}
	user, pass, _ := r.BasicAuth()
	user, _ = url.QueryUnescape(user)
	pass, _ = url.QueryUnescape(pass)
	a.mu.Lock()
	a.last = exchangeSeen{form: r.PostForm, user: user, pass: pass, requestID: r.Header.Get("X-Request-Id"), forwarded: r.Header.Get("X-Forwarded-For")}
	k, known := a.keys[r.PostForm.Get("subject_token")]
	lifetime, signer := a.lifetime, a.key
	a.mu.Unlock()

	switch {
	case user != gatewayClient || pass != gatewaySecret:
		writeOAuthError(w, 401, errcode.ClientInvalid, "")
		return
	case r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" ||
		r.PostForm.Get("subject_token_type") != "urn:authz:token-type:api-key":
		writeOAuthError(w, 400, errcode.RequestInvalid, "")
		return
	case !known:
		writeOAuthError(w, 400, errcode.KeyUnknown, "")
		return
	case k.code != "":
		status := k.status
		if status == 0 {
			status = errcode.Lookup(k.code).Status
		}
		writeOAuthError(w, status, k.code, k.retryAfter)
		return
	}
	now := a.clock.Now()
	aud := []string{}
	if v := r.PostForm.Get("audience"); v != "" {
		aud = []string{v}
	}
	claims := map[string]any{
		"iss": a.iss.URL, "sub": k.owner, "aud": aud,
		"exp": now.Add(lifetime).Unix(), "iat": now.Unix(), "jti": k.id + "-" + now.Format("150405.000"),
		"client_id": "legacy-key:" + k.id, "key_id": k.id, "scope": k.scope,
		"tenant": "acme", "roles": []string{"reader"}, "act": map[string]any{"sub": user},
	}
	if k.listed {
		claims["status"] = a.iss.StatusClaim(k.listIdx)
	}
	tok, err := signer.SignToken(claims, nil)
	if err != nil {
		writeOAuthError(w, 500, errcode.Internal, "")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token":      tok,
		"issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
		"token_type":        "Bearer",
		"expires_in":        int(lifetime.Seconds()),
		"scope":             k.scope,
	})
}

// validToken is a client-credentials token for the gateway's audience.
func (a *fakeAuthz) validToken(t testing.TB, mod func(map[string]any)) string {
	t.Helper()
	claims := a.iss.Claims(a.clock.Now(), audience)
	if mod != nil {
		mod(claims)
	}
	return a.key.Sign(t, claims, nil)
}

func (a *fakeAuthz) verifier(t testing.TB) *verifier.Verifier {
	t.Helper()
	v, err := verifier.New(t.Context(), verifier.Config{Issuer: a.iss.URL, Audience: []string{audience}, Now: a.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

// upstream records what reaches it.
type upstream struct {
	srv   *httptest.Server
	mu    sync.Mutex
	seen  []http.Header
	paths []string
}

func newUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Header.Clone())
		u.paths = append(u.paths, r.URL.RequestURI())
		u.mu.Unlock()
		w.Header().Set("X-Upstream", "yes")
		_, _ = io.WriteString(w, "hello from upstream")
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) requests() []http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]http.Header(nil), u.seen...)
}

type proxyFixture struct {
	authz    *fakeAuthz
	verifier *verifier.Verifier
	upstream *upstream
	proxy    *gateway.Proxy
	srv      *httptest.Server
}

// newProxy starts authz, an upstream and a proxy with the legacy-key
// bridge on X-API-Key; mod adjusts the proxy config.
func newProxy(t testing.TB, mod func(*gateway.Config)) *proxyFixture {
	t.Helper()
	f := &proxyFixture{authz: newFakeAuthz(t), upstream: newUpstream(t)}
	up, _ := url.Parse(f.upstream.srv.URL)
	f.verifier = f.authz.verifier(t)
	cfg := gateway.Config{
		Upstream:         up,
		Verifier:         f.verifier,
		LegacyKeyHeader:  "X-API-Key",
		TokenEndpoint:    f.authz.iss.URL + "/oauth2/token",
		ClientID:         gatewayClient,
		ClientSecret:     gatewaySecret,
		ExchangeAudience: audience,
		Now:              f.authz.clock.Now,
	}
	if mod != nil {
		mod(&cfg)
	}
	p, err := gateway.NewProxy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.proxy = p
	f.srv = httptest.NewServer(p)
	t.Cleanup(f.srv.Close)
	return f
}

type response struct {
	status int
	header http.Header
	body   string
	json   errcode.Body
}

func (f *proxyFixture) do(t *testing.T, path string, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &r.json); err != nil {
			t.Fatalf("error body %q: %v", b, err)
		}
	}
	return r
}
