package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/server"
	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/backends"
	"github.com/authz/authz/store/storetest"
)

// TestStartupErrors: each bad configuration stops the start with one
// line that names the problem and the accepted forms.
func TestStartupErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.db")
	garbage := bytes.Repeat([]byte("this is not an sqlite database "), 200)
	if err := os.WriteFile(corrupt, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	key := masterkey.Generate().String()
	// A schema of its own: the shared database's public schema may hold
	// anything, even a newer schema that would be refused first.
	pg := storetest.PostgresURL(t)
	tests := []struct {
		name string
		cfg  func(*server.Config)
		want string
	}{
		{"unknown database scheme", func(c *server.Config) { c.Database = "mysql://db/authz" }, "sqlite:PATH"},
		{"unreachable PostgreSQL", func(c *server.Config) {
			c.Database, c.MasterKey = "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2", key
		}, "cannot reach PostgreSQL"},
		{"PostgreSQL without a master key", func(c *server.Config) { c.Database = pg }, "AUTHZ_MASTER_KEY is required"},
		{"corrupt SQLite file", func(c *server.Config) { c.Database = "sqlite:" + corrupt }, corrupt},
		{"master key of the wrong length", func(c *server.Config) { c.MasterKey = "abcd" }, "64 hex characters"},
		{"bootstrap secret too short", func(c *server.Config) { c.BootstrapClientID, c.BootstrapClientSecret = "cli_x", "short" }, "at least 32 characters"},
		{"bootstrap id without secret", func(c *server.Config) { c.BootstrapClientID = "cli_x" }, "set both"},
		{"bootstrap id with a control character", func(c *server.Config) {
			c.BootstrapClientID, c.BootstrapClientSecret = "cli\x1b[2Jx", strings.Repeat("s", 40)
		}, "AUTHZ_BOOTSTRAP_CLIENT_ID must be"},
		{"same listener twice", func(c *server.Config) { c.AdminAddr = c.Addr }, "--admin-addr must differ"},
		{"bad issuer", func(c *server.Config) { c.Issuer = "ftp://x" }, "--issuer"},
		{"bad signing alg", func(c *server.Config) { c.SigningAlg = "HS256" }, "--signing-alg"},
		{"bad trusted proxy", func(c *server.Config) { c.TrustedProxies = []string{"proxy.example"} }, "--trusted-proxy"},
		{"bad new-network action", func(c *server.Config) { c.AlertNewNetworkAction = "block" }, "--alert-new-network-action"},
		{"OIDC issuer not a URL", func(c *server.Config) {
			c.ConsoleOIDCIssuer, c.ConsoleOIDCClientID = "login.example.com", "console"
		}, "--console-oidc-issuer"},
		{"OIDC issuer without client id", func(c *server.Config) { c.ConsoleOIDCIssuer = "https://login.example.com" }, "--console-oidc-client-id"},
		{"OIDC client id without issuer", func(c *server.Config) { c.ConsoleOIDCClientID = "console" }, "need --console-oidc-issuer"},
		{"OIDC without the console", func(c *server.Config) {
			c.ConsoleAddr, c.ConsoleOIDCIssuer, c.ConsoleOIDCClientID = "", "https://login.example.com", "console"
		}, "needs the console"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := server.Defaults()
			cfg.Database = "sqlite:" + filepath.Join(t.TempDir(), "authz.db")
			cfg.Out = io.Discard
			tt.cfg(&cfg)
			srv, err := server.New(context.Background(), cfg, nil)
			if err == nil {
				srv.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line containing %q", err, tt.want)
			}
		})
	}
	if b, _ := os.ReadFile(corrupt); !bytes.Equal(b, garbage) {
		t.Fatal("the corrupt file was modified")
	}
}

// proxy is a TCP proxy in front of PostgreSQL that a test can cut and
// restore, as a network partition would.
type proxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	p := &proxy{t: t, target: target}
	p.listen("127.0.0.1:0")
	t.Cleanup(p.cut)
	return p
}

func (p *proxy) listen(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
}

// cut closes the listener and every connection: the database is gone.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// restore listens again on the same address: the database is back.
func (p *proxy) restore() { p.listen(p.addr) }

// TestStorageOutage cuts PostgreSQL away under a running server: token
// requests fail with 503 unavailable and nothing is issued, /readyz turns
// false, and both recover by themselves when PostgreSQL returns.
func TestStorageOutage(t *testing.T) {
	dsn := storetest.PostgresURL(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	px := newProxy(t, u.Host)
	u.Host = px.addr
	e := servertest.Start(t, u.String())
	f := e.Standard("acme")
	cc := url.Values{"grant_type": {"client_credentials"}}
	ready := func() int {
		resp, err := http.Get(e.Issuer + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if r := e.Post("/oauth2/token", cc, f.Client.ID, f.Secret); r.Status != 200 || ready() != 200 {
		t.Fatalf("before the outage: token %d, readyz %d", r.Status, ready())
	}

	px.cut()
	for i := range 5 {
		r := e.Post("/oauth2/token", cc, f.Client.ID, f.Secret)
		if r.Status == 200 {
			t.Fatalf("request %d issued a token while the database was down", i)
		}
		servertest.WantError(t, r, 503, "temporarily_unavailable", "unavailable")
		if r.Header.Get("Retry-After") == "" {
			t.Fatal("503 without Retry-After")
		}
	}
	if got := ready(); got != 503 {
		t.Fatalf("readyz during the outage = %d", got)
	}

	px.restore()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := e.Post("/oauth2/token", cc, f.Client.ID, f.Secret)
		if r.Status == 200 && ready() == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after PostgreSQL returned: %d %s", r.Status, r.Raw)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestShutdownKeepsEveryIssuedTokenAudited stops the server while clients
// hammer it: every token a client received has its audit event.
func TestShutdownKeepsEveryIssuedTokenAudited(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.New(t, db)
		pub, _ := net.Listen("tcp", "127.0.0.1:0")
		adm, _ := net.Listen("tcp", "127.0.0.1:0")
		cfg := server.Defaults()
		cfg.Addr, cfg.AdminAddr, cfg.Issuer = pub.Addr().String(), adm.Addr().String(), "http://"+pub.Addr().String()
		cfg.Database, cfg.MasterKey, cfg.Out = db, e.MasterKey, io.Discard
		cfg.RateLimitAddr, cfg.RateLimitClient = 0, 0
		ctx, cancel := context.WithCancel(context.Background())
		srv, err := server.New(ctx, cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		e.Srv, e.Issuer = srv, cfg.Issuer
		f := e.Standard("acme")
		done := make(chan error, 1)
		go func() { done <- srv.Run(ctx, pub, adm) }()

		var mu sync.Mutex
		var issued []string
		var wg sync.WaitGroup
		client := &http.Client{Timeout: 10 * time.Second}
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					req, _ := http.NewRequest("POST", cfg.Issuer+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(f.Client.ID, f.Secret)
					resp, err := client.Do(req)
					if err != nil {
						return // the server is gone
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 {
						mu.Lock()
						issued = append(issued, string(body))
						mu.Unlock()
					}
				}
			}()
		}
		for {
			mu.Lock()
			n := len(issued)
			mu.Unlock()
			if n >= 100 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		wg.Wait()

		st, err := backends.Open(context.Background(), db, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		audited := map[string]bool{}
		for page := (store.Page{Limit: store.MaxLimit}); ; {
			evs, next, err := st.ListAudit(context.Background(), store.AuditFilter{Action: "token.issue"}, page)
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range evs {
				var d struct{ JTI string }
				if err := json.Unmarshal(ev.Details, &d); err != nil {
					t.Fatal(err)
				}
				audited[d.JTI] = true
			}
			if next == "" {
				break
			}
			page.After = next
		}
		for _, body := range issued {
			if jti := jtiOf(t, between(body, `"access_token":"`, `"`)); !audited[jti] {
				t.Fatalf("token %s was returned but has no audit event", jti)
			}
		}
		t.Logf("%d tokens issued before shutdown, each audited", len(issued))
	})
}

// TestLogsNeverContainSecrets runs the main flows, failures included, with
// debug logging captured, and looks for every secret in the log.
func TestLogsNeverContainSecrets(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	e := servertest.New(t, storetest.SQLiteURL(t))
	e.Logs = lockedWriter{&mu, &logs}
	e.Run()
	f := e.Standard("acme")
	secrets := []string{f.Secret, servertest.AdminSecret, e.MasterKey}
	tok := e.Token(f, "")
	secrets = append(secrets, tok)
	e.Post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, f.Client.ID, "azs_wrong-secret-guess-xyz")
	e.Post("/oauth2/introspect", url.Values{"token": {tok}}, f.Client.ID, f.Secret)
	h := e.Holder("globex", "service")
	k := e.IssueKey(h.Owner.ID, nil, 0)
	secrets = append(secrets, k.Key)
	r := e.Exchange(k.Key, nil, "", "")
	secrets = append(secrets, r.Str("access_token"))
	malformed := "azk_thisisnotavalidkeyatall_zzzzzz"
	e.Exchange(malformed, nil, "", "")
	secrets = append(secrets, malformed)
	e.Post("/oauth2/revoke", url.Values{"token": {tok}}, f.Client.ID, f.Secret)
	if _, err := e.Admin().SuspendPrincipal(e.Ctx(), h.Owner.ID); err != nil {
		t.Fatal(err)
	}
	e.Exchange(k.Key, nil, "", "")

	mu.Lock()
	defer mu.Unlock()
	if logs.Len() == 0 {
		t.Fatal("nothing was logged; the test proves nothing")
	}
	for _, s := range secrets {
		if s != "" && bytes.Contains(logs.Bytes(), []byte(s)) {
			t.Fatalf("a secret or token appears in the log: %.12s…", s)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestMetricsAreExposed(t *testing.T) {
	e := servertest.Start(t, storetest.SQLiteURL(t))
	f := e.Standard("acme")
	e.Token(f, "")
	e.Post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, f.Client.ID, "azs_wrong")
	h := e.Holder("globex", "service")
	e.Exchange(e.IssueKey(h.Owner.ID, nil, 0).Key, nil, "", "")
	resp, err := http.Get(e.MetricsURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("metrics listener /metrics: %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{
		// (the admin client's own tokens count too, so no exact number here)
		`authz_token_requests_total{error_code="",grant="client_credentials",outcome="issued"}`,
		`authz_token_requests_total{error_code="client_invalid",grant="client_credentials",outcome="refused"} 1`,
		`authz_legacy_exchanges_total{outcome="issued",tenant="` + h.Tenant.ID + `"} 1`,
		`authz_token_request_duration_seconds_bucket`,
		`authz_http_requests_total{code="200",listener="public",route="/oauth2/token"}`,
		`authz_signing_key_age_seconds`,
		`authz_signing_key_rotation_due_seconds`,
		`authz_audit_queue_depth`,
		`authz_webhook_queue_depth`,
		`authz_db_connections_open`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestMetricsAreNotPublic (issue 18 §5): the public listener does not
// serve /metrics, which names tenants and counts their traffic; it answers
// 404 in the API's JSON. The metrics listener serves nothing else.
func TestMetricsAreNotPublic(t *testing.T) {
	e := servertest.Start(t, storetest.SQLiteURL(t))
	f := e.Standard("acme")
	e.Token(f, "")
	for _, tc := range []struct {
		name, url string
		status    int
		code      string
	}{
		{"public /metrics", e.Issuer + "/metrics", 404, "not_found"},
		{"admin /metrics", e.AdminURL + "/metrics", 401, "token_invalid"},
		{"metrics listener, other path", e.MetricsURL + "/oauth2/token", 404, "not_found"},
		{"metrics listener /metrics", e.MetricsURL + "/metrics", 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, tc.url, nil)
			r := e.Do(req)
			if r.Status != tc.status {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			if tc.code != "" && r.Str("error_code") != tc.code {
				t.Fatalf("error_code %q, want %q: %s", r.Str("error_code"), tc.code, r.Raw)
			}
			if tc.status != 200 && strings.Contains(string(r.Raw), f.Tenant.ID) {
				t.Fatal("the answer names a tenant")
			}
			if tc.status == 200 && !strings.Contains(string(r.Raw), "authz_token_requests_total") {
				t.Fatalf("no token metrics: %.300s", r.Raw)
			}
		})
	}
}

func TestMetricsAddrValidation(t *testing.T) {
	for _, tc := range []struct {
		name, addr, want string
	}{
		{"not host:port", "9464", "--metrics-addr"},
		{"same as --addr", "127.0.0.1:8080", "must differ"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := server.Defaults()
			cfg.MetricsAddr = tc.addr
			cfg.Database = storetest.SQLiteURL(t)
			_, err := server.New(context.Background(), cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestRateLimitAndRetryAfter(t *testing.T) {
	e := servertest.Start(t, storetest.SQLiteURL(t), func(c *server.Config) {
		c.RateLimitClient, c.RateLimitBurst = 1, 2
	})
	f := e.Standard("acme")
	cc := url.Values{"grant_type": {"client_credentials"}}
	for i := range 2 {
		if r := e.Post("/oauth2/token", cc, f.Client.ID, f.Secret); r.Status != 200 {
			t.Fatalf("request %d within the burst: %d %s", i, r.Status, r.Raw)
		}
	}
	r := e.Post("/oauth2/token", cc, f.Client.ID, f.Secret)
	servertest.WantError(t, r, 429, "slow_down", "rate_limited")
	wait, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || wait < 1 {
		t.Fatalf("Retry-After = %q", r.Header.Get("Retry-After"))
	}
	e.Clock.Advance(time.Duration(wait) * time.Second)
	if r := e.Post("/oauth2/token", cc, f.Client.ID, f.Secret); r.Status != 200 {
		t.Fatalf("after Retry-After: %d %s", r.Status, r.Raw)
	}
}

func TestLockoutAfterRepeatedFailures(t *testing.T) {
	e := servertest.Start(t, storetest.SQLiteURL(t), func(c *server.Config) {
		c.LockoutThreshold, c.LockoutWindow, c.LockoutDuration = 3, time.Minute, 5*time.Minute
	})
	f := e.Standard("acme")
	cc := url.Values{"grant_type": {"client_credentials"}}
	for range 3 {
		servertest.WantError(t, e.Post("/oauth2/token", cc, f.Client.ID, "azs_wrong"), 401, "invalid_client", "client_invalid")
	}
	// Locked: even the right secret is refused, and says for how long.
	r := e.Post("/oauth2/token", cc, f.Client.ID, f.Secret)
	servertest.WantError(t, r, 429, "slow_down", "rate_limited")
	if !strings.Contains(r.Str("error_description"), "Locked") {
		t.Fatalf("description %q", r.Str("error_description"))
	}
	evs, _, err := e.Srv.Store.ListAudit(e.Ctx(), store.AuditFilter{Action: "client.lockout", Target: "client:" + f.Client.ID}, store.Page{})
	if err != nil || len(evs) != 1 {
		t.Fatalf("lockout audit: %v %+v", err, evs)
	}
	e.Clock.Advance(5 * time.Minute)
	if r := e.Post("/oauth2/token", cc, f.Client.ID, f.Secret); r.Status != 200 {
		t.Fatalf("after the lockout: %d %s", r.Status, r.Raw)
	}

	// Legacy keys lock by key id, and the lockout shows in diagnose.
	h := e.Holder("globex", "service")
	k := e.IssueKey(h.Owner.ID, nil, 0)
	wrong := legacykeys.Format(k.ID, strings.Repeat("x", 43))
	for range 3 {
		servertest.WantError(t, e.Exchange(wrong, nil, "", ""), 400, "invalid_request", "key_unknown")
	}
	servertest.WantError(t, e.Exchange(k.Key, nil, "", ""), 429, "slow_down", "rate_limited")
	d, err := e.Admin().DiagnoseKey(e.Ctx(), k.ID)
	if err != nil || d.Lockout == nil {
		t.Fatalf("diagnose shows no lockout: %v %+v", err, d)
	}
}

func between(s, start, end string) string {
	_, rest, _ := strings.Cut(s, start)
	v, _, _ := strings.Cut(rest, end)
	return v
}

// jtiOf reads a token's jti without verifying it.
func jtiOf(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ JTI string }
	if err := json.Unmarshal(raw, &c); err != nil || c.JTI == "" {
		t.Fatalf("claims %s: %v", raw, err)
	}
	return c.JTI
}
