package servertest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
	"github.com/authz/authz/audit"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/server"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// The bootstrap admin client of every test server.
const (
	AdminID     = "cli_testadmin"
	AdminSecret = "test-admin-secret-of-at-least-32-characters"
)

// APIKeyType is the RFC 8693 subject_token_type of legacy keys.
const APIKeyType = "urn:authz:token-type:api-key"

// Clock is a settable clock shared by the server under test and the test.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Env is a running authz on one backend.
type Env struct {
	T         testing.TB
	Srv       *server.Server
	Issuer    string // public base URL
	AdminURL  string // admin API base URL
	Clock     *Clock
	MasterKey string
	DBURL     string
	// Logs receives the server's log lines if set before Start.
	Logs io.Writer
	// client sends the requests of Post and Do (nil: http.DefaultClient).
	client *http.Client

	// MetricsURL is the base URL of the metrics listener (/metrics).
	MetricsURL string
}

// EachBackend runs fn on SQLite and on PostgreSQL (which follows
// storetest's rule: skipped with a message unless CI=true).
func EachBackend(t *testing.T, fn func(t *testing.T, dbURL string)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, storetest.SQLiteURL(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, storetest.PostgresURL(t)) })
}

// Option adjusts the server configuration before start.
type Option func(*server.Config)

// New prepares an Env on dbURL with a fresh master key and a clock at the
// current time; Run starts it.
func New(t testing.TB, dbURL string) *Env {
	return &Env{T: t, Clock: &Clock{t: time.Now().UTC().Truncate(time.Second)}, MasterKey: masterkey.Generate().String(), DBURL: dbURL}
}

// Start runs a server on dbURL until the test ends.
func Start(t testing.TB, dbURL string, opts ...Option) *Env {
	t.Helper()
	e := New(t, dbURL)
	e.Run(opts...)
	return e
}

// Replica starts a second server on the same database, master key and
// clock: another replica.
func (e *Env) Replica(opts ...Option) *Env {
	r := &Env{T: e.T, Clock: e.Clock, MasterKey: e.MasterKey, DBURL: e.DBURL}
	r.Run(opts...)
	return r
}

// Run starts the server of e. Rate limits are off unless an option sets
// them; the bootstrap admin client is AdminID / AdminSecret.
func (e *Env) Run(opts ...Option) {
	t := e.T
	t.Helper()
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adm, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	met, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.Issuer = "http://" + pub.Addr().String()
	e.AdminURL = "http://" + adm.Addr().String()
	e.MetricsURL = "http://" + met.Addr().String()
	cfg := server.Defaults()
	cfg.Addr, cfg.AdminAddr, cfg.MetricsAddr = pub.Addr().String(), adm.Addr().String(), met.Addr().String()
	cfg.Issuer = e.Issuer
	cfg.Database = e.DBURL
	cfg.MasterKey = e.MasterKey
	cfg.Out = io.Discard
	cfg.Now = e.Clock.Now
	cfg.RateLimitAddr, cfg.RateLimitClient, cfg.RateLimitKey = 0, 0, 0
	cfg.BootstrapClientID, cfg.BootstrapClientSecret = AdminID, AdminSecret
	// Test receivers and jwks_uri servers listen on loopback, which the
	// outbound rules refuse unless allowed (an option may narrow this).
	cfg.OutboundAllowCIDRs = []string{"127.0.0.0/8", "::1/128"}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, logger(e.Logs))
	if err != nil {
		cancel()
		t.Fatalf("server.New: %v", err)
	}
	e.Srv = srv
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, pub, adm, met) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server.Run: %v", err)
		}
	})
}

// Ctx is the context fixtures are created with.
func (e *Env) Ctx() context.Context { return context.Background() }

// Admin returns a client of the admin API authenticated as the bootstrap
// admin, exactly as the CLI uses it.
func (e *Env) Admin() *adminclient.Client {
	return adminclient.New(e.AdminURL, AdminID, AdminSecret, adminclient.WithIssuer(e.Issuer), adminclient.WithClock(e.Clock.Now))
}

// Fixture is a tenant with a service principal, a role bound to it and a
// client it owns.
type Fixture struct {
	Tenant store.Tenant
	Owner  store.Principal
	Role   store.Role
	Client store.Client
	Secret string
}

// MkTenant creates an active tenant through the store.
func (e *Env) MkTenant(name string) store.Tenant {
	e.T.Helper()
	now := e.Clock.Now()
	tn := store.Tenant{ID: store.NewID(store.PrefixTenant), Name: name, Status: store.StatusActive, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now}
	if err := e.Srv.Store.CreateTenant(e.Ctx(), tn); err != nil {
		e.T.Fatal(err)
	}
	return tn
}

// MkPrincipal creates an active principal (external id = name).
func (e *Env) MkPrincipal(tenant, name string, kind store.PrincipalKind) store.Principal {
	e.T.Helper()
	now := e.Clock.Now()
	p := store.Principal{ID: store.NewID(store.PrefixPrincipal), TenantID: tenant, Kind: kind, DisplayName: name, ExternalID: name, Status: store.StatusActive, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now}
	if err := e.Srv.Store.CreatePrincipal(e.Ctx(), p); err != nil {
		e.T.Fatal(err)
	}
	return p
}

// MkRole creates a role with permissions.
func (e *Env) MkRole(tenant, name string, perms ...string) store.Role {
	e.T.Helper()
	now := e.Clock.Now()
	r := store.Role{ID: store.NewID(store.PrefixRole), TenantID: tenant, Name: name, Permissions: perms, CreatedAt: now, UpdatedAt: now}
	if err := e.Srv.Store.CreateRole(e.Ctx(), r); err != nil {
		e.T.Fatal(err)
	}
	return r
}

// Bind binds a role to a principal.
func (e *Env) Bind(p store.Principal, r store.Role) {
	e.T.Helper()
	if err := e.Srv.Store.CreateBinding(e.Ctx(), store.Binding{PrincipalID: p.ID, RoleID: r.ID, TenantID: p.TenantID, CreatedAt: e.Clock.Now()}); err != nil {
		e.T.Fatal(err)
	}
}

// MkClient creates a client_secret_basic client owned by owner; mutate
// adjusts it before it is stored. It returns the client and its secret.
func (e *Env) MkClient(owner store.Principal, mutate func(*store.Client)) (store.Client, string) {
	e.T.Helper()
	now := e.Clock.Now()
	secret, s := e.Srv.Secrets.New(now)
	c := store.Client{
		ID: store.NewID(store.PrefixClient), TenantID: owner.TenantID, OwnerID: owner.ID, Name: "test",
		AuthMethod: store.AuthSecretBasic, Secrets: []store.ClientSecret{s},
		GrantTypes: []string{store.GrantClientCredentials}, Status: store.StatusActive,
		CreatedAt: now, UpdatedAt: now, StatusChangedAt: now,
	}
	if mutate != nil {
		mutate(&c)
	}
	if err := e.Srv.Store.CreateClient(e.Ctx(), c); err != nil {
		e.T.Fatal(err)
	}
	return c, secret
}

// StandardAudience is the audience of Standard's clients: registered by
// the first tenant Standard builds and shared with the others.
const StandardAudience = "https://api.example.com"

// MkAudience registers an audience owned by tenant, shared with others.
func (e *Env) MkAudience(tenant, identifier string, sharedWith ...string) store.Audience {
	e.T.Helper()
	now := e.Clock.Now()
	a := store.Audience{ID: store.NewID(store.PrefixAudience), Identifier: identifier, TenantID: tenant, SharedWith: sharedWith, CreatedAt: now, UpdatedAt: now}
	if err := e.Srv.Store.CreateAudience(e.Ctx(), a); err != nil {
		e.T.Fatal(err)
	}
	return a
}

// ShareAudience makes identifier requestable by tenant: it registers it
// for tenant if nobody has, and otherwise shares it with tenant.
func (e *Env) ShareAudience(identifier, tenant string) {
	e.T.Helper()
	a, err := e.Srv.Store.GetAudienceByIdentifier(e.Ctx(), identifier)
	if errors.Is(err, store.ErrNotFound) {
		e.MkAudience(tenant, identifier)
		return
	}
	if err == nil && !a.Requestable(tenant) {
		_, err = e.Srv.Store.UpdateAudience(e.Ctx(), a.ID, func(a store.Audience) (store.Audience, error) {
			a.SharedWith = append(a.SharedWith, tenant)
			return a, nil
		})
	}
	if err != nil {
		e.T.Fatal(err)
	}
}

// Standard builds a tenant whose service principal holds a role granting
// orders:read and orders:write, and a client allowed orders:read and
// stock:read, the audience StandardAudience and both grants.
func (e *Env) Standard(name string) Fixture {
	e.T.Helper()
	var f Fixture
	f.Tenant = e.MkTenant(name)
	f.Owner = e.MkPrincipal(f.Tenant.ID, name+"-svc", store.KindService)
	f.Role = e.MkRole(f.Tenant.ID, "orders", "orders:read", "orders:write")
	e.Bind(f.Owner, f.Role)
	e.ShareAudience(StandardAudience, f.Tenant.ID)
	f.Client, f.Secret = e.MkClient(f.Owner, func(c *store.Client) {
		c.Scopes = []string{"orders:read", "stock:read"}
		c.Audiences = []string{StandardAudience}
		c.GrantTypes = []string{store.GrantClientCredentials, store.GrantTokenExchange}
	})
	return f
}

// SuspendPrincipal suspends through the store, with the audit event the
// admin API writes, as admin:ops.
func (e *Env) SuspendPrincipal(id string) {
	e.T.Helper()
	err := e.Srv.Store.Tx(e.Ctx(), func(tx store.Tx) error {
		if _, err := tx.UpdatePrincipal(e.Ctx(), id, func(p store.Principal) (store.Principal, error) {
			p.Status, p.StatusChangedAt, p.StatusChangedBy = store.StatusSuspended, e.Clock.Now(), "admin:ops"
			return p, nil
		}); err != nil {
			return err
		}
		return audit.Append(e.Ctx(), tx, store.AuditEvent{Actor: "admin:ops", Action: "principal.suspend", Target: "principal:" + id, Outcome: "success"})
	})
	if err != nil {
		e.T.Fatal(err)
	}
}

// Response is a decoded HTTP answer.
type Response struct {
	Status int
	Header http.Header
	Body   map[string]any // the JSON object, if the answer is JSON
	Raw    []byte
}

// Str returns a string member of the JSON body ("" if absent).
func (r Response) Str(k string) string { s, _ := r.Body[k].(string); return s }

// Post sends a form to a public endpoint, with Basic credentials if user is set.
func (e *Env) Post(path string, form url.Values, user, pass string) Response {
	e.T.Helper()
	req, err := http.NewRequest(http.MethodPost, e.Issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.T.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return e.Do(req)
}

// Do sends a request and decodes the answer.
func (e *Env) Do(req *http.Request) Response {
	e.T.Helper()
	c := e.client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := Response{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			e.T.Fatalf("response is not JSON: %v: %s", err, raw)
		}
	}
	return r
}

// Token gets a client-credentials token for f's client or fails the test.
func (e *Env) Token(f Fixture, scope string) string {
	e.T.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	r := e.Post("/oauth2/token", form, f.Client.ID, f.Secret)
	if r.Status != http.StatusOK {
		e.T.Fatalf("token request: %d %s", r.Status, r.Raw)
	}
	return r.Str("access_token")
}

// Exchange sends an RFC 8693 exchange of a legacy key, anonymously unless
// user is set; extra adds or replaces form parameters.
func (e *Env) Exchange(key string, extra url.Values, user, pass string) Response {
	e.T.Helper()
	form := url.Values{
		"grant_type":         {store.GrantTokenExchange},
		"subject_token":      {key},
		"subject_token_type": {APIKeyType},
	}
	for k, v := range extra {
		form[k] = v
	}
	return e.Post("/oauth2/token", form, user, pass)
}

// WantError asserts an RFC 6749 §5.2 error answer with its error_code,
// description, Cache-Control: no-store and a JSON content type.
func WantError(t testing.TB, r Response, status int, oauthErr, code string) {
	t.Helper()
	if r.Status != status || r.Str("error") != oauthErr || r.Str("error_code") != code {
		t.Fatalf("got %d %s, want %d error=%s error_code=%s", r.Status, r.Raw, status, oauthErr, code)
	}
	if r.Str("error_description") == "" {
		t.Fatalf("no error_description: %s", r.Raw)
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Fatalf("Cache-Control = %q, want no-store", got)
	}
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("Content-Type = %q", r.Header.Get("Content-Type"))
	}
}

// Holder is a tenant with a key holder bound to a role granting
// orders:read and orders:write, created through the admin API.
type Holder struct {
	Tenant apiv1.Tenant
	Owner  apiv1.Principal
	Role   apiv1.Role
}

// Holder creates a Holder; kind is "user" or "service". The owner's
// external id is name+"-ext".
func (e *Env) Holder(name, kind string) Holder {
	e.T.Helper()
	a := e.Admin()
	ctx := e.Ctx()
	var h Holder
	var err error
	if h.Tenant, err = a.CreateTenant(ctx, name); err != nil {
		e.T.Fatal(err)
	}
	if h.Owner, err = a.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: h.Tenant.ID, Kind: kind, Name: name + "-owner", ExternalID: name + "-ext"}); err != nil {
		e.T.Fatal(err)
	}
	if h.Role, err = a.CreateRole(ctx, apiv1.CreateRole{TenantID: h.Tenant.ID, Name: "orders", Permissions: []string{"orders:read", "orders:write"}}); err != nil {
		e.T.Fatal(err)
	}
	if _, err = a.Bind(ctx, h.Role.ID, h.Owner.ID); err != nil {
		e.T.Fatal(err)
	}
	return h
}

// IssueKey issues a legacy key through the admin API; its secret is in Key.
func (e *Env) IssueKey(owner string, scopes []string, expiresIn time.Duration) apiv1.LegacyKey {
	e.T.Helper()
	k, err := e.Admin().IssueKey(e.Ctx(), apiv1.IssueKey{OwnerID: owner, Scopes: scopes, ExpiresIn: int64(expiresIn / time.Second)})
	if err != nil {
		e.T.Fatal(err)
	}
	if k.Key == "" {
		e.T.Fatal("issued key without its secret")
	}
	return k
}

// Must returns a function that fails the test on error and returns v.
func Must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// logger writes the server's logs, at debug level, to w (nothing if nil).
func logger(w io.Writer) *slog.Logger {
	if w == nil {
		return nil
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// From returns a copy of e whose requests leave from the loopback address
// ip (for example "127.0.0.2"), so that a test can be two callers at once:
// rate limits and lockouts count by the caller's address.
func (e *Env) From(ip string) *Env {
	c := *e
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	c.client = &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}
	return &c
}
