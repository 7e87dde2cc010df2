package loadgen

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// fakeClock only moves when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeIssuer is a minimal issuer: RFC 8414 metadata, a JWKS with one
// ES256 key, and a token endpoint whose answer to the n-th request (from
// 0) is decided by token.
type fakeIssuer struct {
	srv      *httptest.Server
	key      *ecdsa.PrivateKey
	requests atomic.Int64
	jwksHits atomic.Int64
	conns    atomic.Int64
	// typ is the typ header of the tokens it signs.
	typ string
}

func newFakeIssuer(t *testing.T, token func(f *fakeIssuer, n int64, r *http.Request, w http.ResponseWriter)) *fakeIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeIssuer{key: key, typ: "at+jwt"}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{
			"issuer": f.srv.URL, "token_endpoint": f.srv.URL + "/token", "jwks_uri": f.srv.URL + "/jwks",
			"subject_token_types_supported":             []string{"urn:test:api-key"},
			"access_token_signing_alg_values_supported": []string{"ES256"},
		})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		f.jwksHits.Add(1)
		writeJSON(w, 200, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		n := f.requests.Add(1) - 1
		token(f, n, r, w)
	})
	f.srv = httptest.NewUnstartedServer(mux)
	f.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			f.conns.Add(1)
		}
	}
	f.srv.Start()
	t.Cleanup(f.srv.Close)
	return f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// sign issues an access token signed by f's key.
func (f *fakeIssuer) sign(t testing.TB, key *ecdsa.PrivateKey, now time.Time) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": f.srv.URL, "sub": "svc", "aud": "api", "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": fmt.Sprint(now.UnixNano()),
	})
	tok.Header["kid"] = "k1"
	tok.Header["typ"] = f.typ
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func issueToken(f *fakeIssuer, _ int64, _ *http.Request, w http.ResponseWriter) {
	writeJSON(w, 200, map[string]any{"access_token": "x.y.z", "token_type": "Bearer", "expires_in": 300})
}

func TestRunStopsAtRequestCount(t *testing.T) {
	f := newFakeIssuer(t, issueToken)
	for _, conc := range []int{1, 4, 16} {
		t.Run(fmt.Sprint("concurrency ", conc), func(t *testing.T) {
			before := f.requests.Load()
			res, err := Run(context.Background(), Config{
				Issuer: f.srv.URL, ClientID: "c", ClientSecret: "s", Mode: ClientCredentials,
				Concurrency: conc, Requests: 37,
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := f.requests.Load() - before; got != 37 {
				t.Errorf("server saw %d requests, want 37", got)
			}
			if res.Requests != 37 || res.Failed != 0 {
				t.Errorf("result: %d requests, %d failed; want 37 and 0", res.Requests, res.Failed)
			}
		})
	}
}

func TestRunStopsAtDuration(t *testing.T) {
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	// Every request takes 10 ms of the run's clock.
	f := newFakeIssuer(t, func(f *fakeIssuer, n int64, r *http.Request, w http.ResponseWriter) {
		clock.Advance(10 * time.Millisecond)
		issueToken(f, n, r, w)
	})
	res, err := Run(context.Background(), Config{
		Issuer: f.srv.URL, ClientID: "c", ClientSecret: "s", Mode: ClientCredentials,
		Concurrency: 1, Duration: time.Second, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 100 || f.requests.Load() != 100 {
		t.Fatalf("%d requests (server saw %d), want 100: one second of 10 ms requests", res.Requests, f.requests.Load())
	}
	if res.Elapsed != time.Second {
		t.Errorf("Elapsed = %v, want 1s", res.Elapsed)
	}
	s := res.Summary()
	if s.RequestsPerSecond != 100 {
		t.Errorf("requests_per_second = %v, want 100", s.RequestsPerSecond)
	}
	for name, got := range map[string]float64{"p50": s.P50ms, "p99": s.P99ms, "max": s.MaxMs} {
		if got < 9.9 || got > 10.1 {
			t.Errorf("%s = %v ms, want 10 ms", name, got)
		}
	}

	// With several workers, in-flight requests finish but none starts
	// after the deadline: at most concurrency-1 beyond the 100.
	f.requests.Store(0)
	res, err = Run(context.Background(), Config{
		Issuer: f.srv.URL, ClientID: "c", ClientSecret: "s", Mode: ClientCredentials,
		Concurrency: 4, Duration: time.Second, Now: clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 100 || res.Requests > 103 || res.Requests != f.requests.Load() {
		t.Errorf("concurrency 4: %d requests (server saw %d), want 100..103", res.Requests, f.requests.Load())
	}
}

func TestRunBothBoundsFirstWins(t *testing.T) {
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	f := newFakeIssuer(t, func(f *fakeIssuer, n int64, r *http.Request, w http.ResponseWriter) {
		clock.Advance(10 * time.Millisecond)
		issueToken(f, n, r, w)
	})
	for _, tt := range []struct {
		name     string
		duration time.Duration
		requests int64
		want     int64
	}{
		{"count first", time.Hour, 25, 25},
		{"duration first", 200 * time.Millisecond, 1000, 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Run(context.Background(), Config{
				Issuer: f.srv.URL, ClientID: "c", ClientSecret: "s", Mode: ClientCredentials,
				Concurrency: 1, Duration: tt.duration, Requests: tt.requests, Now: clock.Now,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests != tt.want {
				t.Errorf("%d requests, want %d", res.Requests, tt.want)
			}
		})
	}
}

func TestRunCountsErrorsByCode(t *testing.T) {
	f := newFakeIssuer(t, func(f *fakeIssuer, n int64, r *http.Request, w http.ResponseWriter) {
		switch n % 5 {
		case 0:
			w.Header().Set("Retry-After", "1")
			writeJSON(w, 429, map[string]string{"error": "slow_down", "error_code": "rate_limited"})
		case 1:
			writeJSON(w, 401, map[string]string{"error": "invalid_client", "error_code": "client_invalid"})
		case 2:
			issueToken(f, n, r, w)
		case 3:
			// A server without error_code: the RFC 6749 error names it.
			writeJSON(w, 400, map[string]string{"error": "invalid_scope"})
		case 4:
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>proxy error</html>"))
		}
	})
	res, err := Run(context.Background(), Config{
		Issuer: f.srv.URL, ClientID: "c", ClientSecret: "s", Mode: ClientCredentials, Concurrency: 3, Requests: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"rate_limited": 10, "client_invalid": 10, "invalid_scope": 10, "http_502": 10}
	if len(res.Errors) != len(want) {
		t.Errorf("errors = %v, want %v", res.Errors, want)
	}
	for code, n := range want {
		if res.Errors[code] != n {
			t.Errorf("errors[%s] = %d, want %d (all: %v)", code, res.Errors[code], n, res.Errors)
		}
	}
	if res.Requests != 50 || res.Failed != 40 {
		t.Errorf("requests %d failed %d, want 50 and 40", res.Requests, res.Failed)
	}
}

func TestRunReusesConnections(t *testing.T) {
	f := newFakeIssuer(t, issueToken)
	res, err := Run(context.Background(), Config{
		Issuer: f.srv.URL, ClientID: "c", ClientSecret: "s", Mode: ClientCredentials, Concurrency: 8, Requests: 400,
	})
	if err != nil {
		t.Fatal(err)
	}
	// About one connection per worker (plus discovery; the transport may
	// race a spare dial or two at start-up): the default transport would
	// keep only 2 idle and dial again and again, hundreds of times.
	if c := f.conns.Load(); c > 2*8+1 {
		t.Errorf("%d connections for %d requests at concurrency 8: keep-alive is not working", c, res.Requests)
	}
}

func TestRunSendsTheGrant(t *testing.T) {
	var mu sync.Mutex
	var seen []*http.Request
	var forms []string
	f := newFakeIssuer(t, func(f *fakeIssuer, n int64, r *http.Request, w http.ResponseWriter) {
		var b bytes.Buffer
		_, _ = b.ReadFrom(r.Body)
		mu.Lock()
		seen, forms = append(seen, r), append(forms, b.String())
		mu.Unlock()
		issueToken(f, n, r, w)
	})
	for _, tt := range []struct {
		cfg      Config
		wantForm string
		wantAuth bool
	}{
		{Config{ClientID: "cli a", ClientSecret: "s:1", Mode: ClientCredentials, Scope: "orders:read"}, "grant_type=client_credentials&scope=orders%3Aread", true},
		{Config{APIKey: "ak_123", Mode: Exchange}, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&subject_token=ak_123&subject_token_type=urn%3Atest%3Aapi-key", false},
	} {
		t.Run(string(tt.cfg.Mode), func(t *testing.T) {
			seen, forms = nil, nil
			tt.cfg.Issuer, tt.cfg.Concurrency, tt.cfg.Requests = f.srv.URL, 1, 1
			res, err := Run(context.Background(), tt.cfg)
			if err != nil || res.Failed != 0 {
				t.Fatalf("Run: %v, %+v", err, res)
			}
			r := seen[0]
			if forms[0] != tt.wantForm {
				t.Errorf("form %q, want %q", forms[0], tt.wantForm)
			}
			if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
				t.Errorf("Content-Type %q", ct)
			}
			user, pass, ok := r.BasicAuth()
			if ok != tt.wantAuth {
				t.Fatalf("Basic auth present = %v, want %v", ok, tt.wantAuth)
			}
			// RFC 6749 §2.3.1: form-encoded before Basic.
			if ok && (user != "cli+a" || pass != "s%3A1") {
				t.Errorf("Basic credentials %q:%q, want form-encoded cli+a:s%%3A1", user, pass)
			}
		})
	}
}

func TestVerifyMode(t *testing.T) {
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name      string
		typ       string
		foreign   bool // signed by a key not in the JWKS
		wantError string
	}{
		{name: "valid tokens verify", typ: "at+jwt"},
		{name: "typ JWT refused", typ: "JWT", wantError: "invalid_token"},
		{name: "unknown key refused", typ: "at+jwt", foreign: true, wantError: "invalid_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeIssuer(t, func(f *fakeIssuer, n int64, r *http.Request, w http.ResponseWriter) {
				key := f.key
				if tt.foreign {
					key = other
				}
				writeJSON(w, 200, map[string]any{"access_token": f.sign(t, key, time.Now()), "token_type": "Bearer", "expires_in": 300})
			})
			f.typ = tt.typ
			res, err := Run(context.Background(), Config{
				Issuer: f.srv.URL, ClientID: "c", ClientSecret: "s", Mode: Verify, Concurrency: 4, Requests: 200,
			})
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests != 200 {
				t.Fatalf("%d verifications, want 200", res.Requests)
			}
			if tt.wantError == "" && res.Failed != 0 {
				t.Fatalf("errors %v, want none", res.Errors)
			}
			if tt.wantError != "" && res.Errors[tt.wantError] != 200 {
				t.Fatalf("errors %v, want 200 %s", res.Errors, tt.wantError)
			}
			// The JWKS is fetched once and one token per worker is
			// obtained: verification itself makes no request.
			if f.jwksHits.Load() != 1 || f.requests.Load() != 4 {
				t.Errorf("JWKS fetched %d times, %d token requests; want 1 and 4", f.jwksHits.Load(), f.requests.Load())
			}
		})
	}
}

func TestVerifyModeRenewsExpiringTokens(t *testing.T) {
	clock := &fakeClock{t: time.Now()}
	f := newFakeIssuer(t, func(f *fakeIssuer, n int64, r *http.Request, w http.ResponseWriter) {
		writeJSON(w, 200, map[string]any{"access_token": f.sign(t, f.key, clock.Now()), "token_type": "Bearer", "expires_in": 300})
	})
	// A tick of the clock per verification: 100 verifications span
	// 10 minutes, two token lifetimes.
	ticking := func() time.Time { clock.Advance(3 * time.Second); return clock.Now() }
	res, err := Run(context.Background(), Config{
		Issuer: f.srv.URL, ClientID: "c", ClientSecret: "s", Mode: Verify, Concurrency: 1, Requests: 100, Now: ticking,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed != 0 {
		t.Fatalf("errors %v: expired tokens were verified instead of renewed", res.Errors)
	}
	if n := f.requests.Load(); n < 3 {
		t.Errorf("%d token requests over two token lifetimes, want at least 3", n)
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no issuer", Config{ClientID: "c", ClientSecret: "s", Mode: ClientCredentials, Concurrency: 1, Requests: 1}, "issuer"},
		{"bad mode", Config{Issuer: "http://x", Mode: "password", Concurrency: 1, Requests: 1}, "mode"},
		{"zero concurrency", Config{Issuer: "http://x", ClientID: "c", ClientSecret: "s", Mode: ClientCredentials, Requests: 1}, "concurrency"},
		{"unbounded", Config{Issuer: "http://x", ClientID: "c", ClientSecret: "s", Mode: ClientCredentials, Concurrency: 1}, "must end"},
		{"cc without secret", Config{Issuer: "http://x", ClientID: "c", Mode: ClientCredentials, Concurrency: 1, Requests: 1}, "client id and secret"},
		{"exchange without key", Config{Issuer: "http://x", Mode: Exchange, Concurrency: 1, Requests: 1}, "API key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestSummaryJSON(t *testing.T) {
	h := NewHistogram()
	h.Record(2 * time.Millisecond)
	res := &Result{Mode: ClientCredentials, Concurrency: 2, Requests: 1, Elapsed: time.Second, Latency: h}
	var b bytes.Buffer
	if err := res.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"requests_per_second", "p50_ms", "p95_ms", "p99_ms", "max_ms", "errors"} {
		if _, ok := got[k]; !ok {
			t.Errorf("-o json lacks %q: %s", k, b.Bytes())
		}
	}
	if got["p50_ms"] != 2.0 || got["requests_per_second"] != 1.0 {
		t.Errorf("p50_ms %v requests_per_second %v, want 2 and 1", got["p50_ms"], got["requests_per_second"])
	}
	if e, ok := got["errors"].(map[string]any); !ok || len(e) != 0 {
		t.Errorf("errors = %v, want an empty object", got["errors"])
	}
}

// syncBuffer is a bytes.Buffer safe for the progress goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRunWritesAndErasesAProgressLine(t *testing.T) {
	var progress syncBuffer
	// The server holds each request until a progress line is out, so the
	// run cannot end before one is written, however slow the machine.
	f := newFakeIssuer(t, func(f *fakeIssuer, n int64, r *http.Request, w http.ResponseWriter) {
		for !strings.Contains(progress.String(), "requests") {
			time.Sleep(time.Millisecond)
		}
		issueToken(f, n, r, w)
	})
	_, err := Run(context.Background(), Config{
		Issuer: f.srv.URL, ClientID: "c", ClientSecret: "s", Mode: ClientCredentials, Concurrency: 1, Requests: 3,
		Progress: &progress, progressEvery: 5 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := progress.String()
	if !strings.HasPrefix(out, "\r") || !strings.Contains(out, "req/s") || !strings.HasSuffix(out, "\r\x1b[K") {
		t.Fatalf("progress output %q: want \\r-rewritten lines, erased at the end", out)
	}
}
