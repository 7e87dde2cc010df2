package oauth_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/adminclient"
	"github.com/authz/authz/audit"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/server"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// clock is a settable clock shared by the server under test and the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a running authz (the real server package, both listeners, all
// background tasks) on one backend, with helpers to create fixtures.
type env struct {
	t         *testing.T
	srv       *server.Server
	issuer    string
	adminURL  string
	clock     *clock
	masterKey string
	dbURL     string
}

// backends lists the database URLs the end-to-end tests run on.
// PostgreSQL follows storetest's rule: skipped with a message unless CI=true.
func eachBackend(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.SQLiteURL(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.PostgresURL(t)) })
}

type envOption func(*server.Config)

func startEnv(t *testing.T, dbURL string, opts ...envOption) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{t: time.Now().UTC().Truncate(time.Second)}, masterKey: masterkey.Generate().String(), dbURL: dbURL}
	e.start(opts...)
	return e
}

func (e *env) start(opts ...envOption) {
	t := e.t
	t.Helper()
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adm, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.issuer = "http://" + pub.Addr().String()
	e.adminURL = "http://" + adm.Addr().String()
	cfg := server.Defaults()
	cfg.Addr, cfg.AdminAddr = pub.Addr().String(), adm.Addr().String()
	cfg.Issuer = e.issuer
	cfg.Database = e.dbURL
	cfg.MasterKey = e.masterKey
	cfg.Out = io.Discard
	cfg.Now = e.clock.Now
	cfg.RateLimitAddr, cfg.RateLimitClient, cfg.RateLimitKey = 0, 0, 0
	cfg.BootstrapClientID, cfg.BootstrapClientSecret = adminID, adminSecret
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, nil)
	if err != nil {
		cancel()
		t.Fatalf("server.New: %v", err)
	}
	e.srv = srv
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, pub, adm) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server.Run: %v", err)
		}
	})
}

func (e *env) ctx() context.Context { return context.Background() }

// The bootstrap admin client of every test server.
const (
	adminID     = "cli_testadmin"
	adminSecret = "test-admin-secret-of-at-least-32-characters"
)

// admin returns a client of the admin API, authenticated as the bootstrap
// admin, exactly as the CLI uses it.
func (e *env) admin() *adminclient.Client {
	return adminclient.New(e.adminURL, adminID, adminSecret, adminclient.WithIssuer(e.issuer), adminclient.WithClock(e.clock.Now))
}

// fixture names a tenant with an owner principal, a role and a client.
type fixture struct {
	tenant    store.Tenant
	owner     store.Principal
	role      store.Role
	client    store.Client
	secret    string
	clientURL string
}

func (e *env) mkTenant(name string) store.Tenant {
	e.t.Helper()
	now := e.clock.Now()
	tn := store.Tenant{ID: store.NewID(store.PrefixTenant), Name: name, Status: store.StatusActive, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now}
	if err := e.srv.Store.CreateTenant(e.ctx(), tn); err != nil {
		e.t.Fatal(err)
	}
	return tn
}

func (e *env) mkPrincipal(tenant, name string, kind store.PrincipalKind) store.Principal {
	e.t.Helper()
	now := e.clock.Now()
	p := store.Principal{ID: store.NewID(store.PrefixPrincipal), TenantID: tenant, Kind: kind, DisplayName: name, ExternalID: name, Status: store.StatusActive, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now}
	if err := e.srv.Store.CreatePrincipal(e.ctx(), p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) mkRole(tenant, name string, perms ...string) store.Role {
	e.t.Helper()
	now := e.clock.Now()
	r := store.Role{ID: store.NewID(store.PrefixRole), TenantID: tenant, Name: name, Permissions: perms, CreatedAt: now, UpdatedAt: now}
	if err := e.srv.Store.CreateRole(e.ctx(), r); err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *env) bind(p store.Principal, r store.Role) {
	e.t.Helper()
	if err := e.srv.Store.CreateBinding(e.ctx(), store.Binding{PrincipalID: p.ID, RoleID: r.ID, TenantID: p.TenantID, CreatedAt: e.clock.Now()}); err != nil {
		e.t.Fatal(err)
	}
}

// mkClient creates a secret client owned by owner; mutate adjusts it.
func (e *env) mkClient(owner store.Principal, mutate func(*store.Client)) (store.Client, string) {
	e.t.Helper()
	now := e.clock.Now()
	secret, s := e.srv.Secrets.New(now)
	c := store.Client{
		ID: store.NewID(store.PrefixClient), TenantID: owner.TenantID, OwnerID: owner.ID, Name: "test",
		AuthMethod: store.AuthSecretBasic, Secrets: []store.ClientSecret{s},
		GrantTypes: []string{store.GrantClientCredentials}, Status: store.StatusActive,
		CreatedAt: now, UpdatedAt: now, StatusChangedAt: now,
	}
	if mutate != nil {
		mutate(&c)
	}
	if err := e.srv.Store.CreateClient(e.ctx(), c); err != nil {
		e.t.Fatal(err)
	}
	return c, secret
}

// standard builds a tenant whose service principal holds a role granting
// orders:read and orders:write, and a client allowed orders:read only.
func (e *env) standard(name string) fixture {
	e.t.Helper()
	var f fixture
	f.tenant = e.mkTenant(name)
	f.owner = e.mkPrincipal(f.tenant.ID, name+"-svc", store.KindService)
	f.role = e.mkRole(f.tenant.ID, "orders", "orders:read", "orders:write")
	e.bind(f.owner, f.role)
	f.client, f.secret = e.mkClient(f.owner, func(c *store.Client) {
		c.Scopes = []string{"orders:read", "stock:read"}
		c.Audiences = []string{"https://api.example.com"}
		c.GrantTypes = []string{store.GrantClientCredentials, store.GrantTokenExchange}
	})
	return f
}

// suspend changes an entity's status through the store, with the audit
// event the admin API would write, as an admin would.
func (e *env) suspendPrincipal(id string) {
	e.t.Helper()
	err := e.srv.Store.Tx(e.ctx(), func(tx store.Tx) error {
		if _, err := tx.UpdatePrincipal(e.ctx(), id, func(p store.Principal) (store.Principal, error) {
			p.Status, p.StatusChangedAt, p.StatusChangedBy = store.StatusSuspended, e.clock.Now(), "admin:ops"
			return p, nil
		}); err != nil {
			return err
		}
		return audit.Append(e.ctx(), tx, store.AuditEvent{Actor: "admin:ops", Action: "principal.suspend", Target: "principal:" + id, Outcome: "success"})
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r response) str(k string) string { s, _ := r.body[k].(string); return s }

// post sends a form to a public endpoint with optional Basic credentials.
func (e *env) post(path string, form url.Values, user, pass string) response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) response {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			e.t.Fatalf("response is not JSON: %v: %s", err, raw)
		}
	}
	return r
}

// token gets a client-credentials token or fails the test.
func (e *env) token(f fixture, scope string) string {
	e.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	r := e.post("/oauth2/token", form, f.client.ID, f.secret)
	if r.status != http.StatusOK {
		e.t.Fatalf("token request: %d %s", r.status, r.raw)
	}
	return r.str("access_token")
}

// wantError asserts an RFC 6749 §5.2 error response with its error_code.
func wantError(t *testing.T, r response, status int, oauthErr, code string) {
	t.Helper()
	if r.status != status || r.str("error") != oauthErr || r.str("error_code") != code {
		t.Fatalf("got %d %s, want %d error=%s error_code=%s", r.status, r.raw, status, oauthErr, code)
	}
	if r.str("error_description") == "" {
		t.Fatalf("no error_description: %s", r.raw)
	}
	if got := r.header.Get("Cache-Control"); got != "no-store" {
		t.Fatalf("Cache-Control = %q, want no-store", got)
	}
	if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("Content-Type = %q", r.header.Get("Content-Type"))
	}
}
