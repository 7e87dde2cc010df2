package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/audit"
	"github.com/authz/authz/clientsecret"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/jwks"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/notify"
	"github.com/authz/authz/policy"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// Bearer tokens the fake authenticator knows.
const (
	tokAdmin     = "tok-admin"      // authz:admin in the system tenant
	tokA         = "tok-tenant-a"   // authz:tenant-admin of tenant A
	tokB         = "tok-tenant-b"   // authz:tenant-admin of tenant B
	tokNoScope   = "tok-no-scope"   // tenant A, no admin scope
	tokFakeAdmin = "tok-fake-admin" // authz:admin, but a client of tenant A
)

// fakeAuth maps bearer tokens to callers.
type fakeAuth struct {
	mu      sync.Mutex
	callers map[string]Caller
}

func (f *fakeAuth) AuthenticateAdmin(_ context.Context, bearer string) (Caller, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.callers[bearer]
	if !ok {
		return Caller{}, errcode.New(errcode.TokenInvalid, "The bearer token is not active: not a valid token of this issuer.")
	}
	return c, nil
}

func (f *fakeAuth) set(token string, c Caller) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.callers[token] = c
}

// switchNotifier queues webhooks through the real notifier, or fails when
// told to, to prove a failing webhook undoes the change it belongs to.
type switchNotifier struct {
	real *notify.Notifier
	mu   sync.Mutex
	fail bool
}

func (n *switchNotifier) Enqueue(ctx context.Context, m store.Mutations, eventType string, data any) error {
	n.mu.Lock()
	fail := n.fail
	n.mu.Unlock()
	if fail {
		return errors.New("webhook outbox refused the notice")
	}
	return n.real.Enqueue(ctx, m, eventType, data)
}

func (n *switchNotifier) setFail(v bool) {
	n.mu.Lock()
	n.fail = v
	n.mu.Unlock()
}

// env is the admin API over a real store, with real legacy-key, signing-key
// and webhook components, a fixed clock and a fake authenticator.
type env struct {
	t        testing.TB
	st       store.Store
	h        http.Handler
	auth     *fakeAuth
	secrets  *clientsecret.Hasher
	legacy   *legacykeys.Service
	notifier *switchNotifier
	now      time.Time
	tenantA  string
	tenantB  string
}

var t0 = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

// eachBackend runs fn on SQLite and on PostgreSQL (skipped when PostgreSQL
// is unreachable and CI is not "true").
func eachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	storetest.Each(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		fn(t, newEnv(t, open(t)))
	})
}

func newEnv(t testing.TB, st store.Store) *env {
	t.Helper()
	e := &env{t: t, st: st, now: t0, auth: &fakeAuth{callers: map[string]Caller{}}}
	clock := func() time.Time { return e.now }
	mk := masterkey.Generate()
	e.secrets = clientsecret.NewHasher(mk.Derive(masterkey.PurposeClientSecrets))
	e.notifier = &switchNotifier{real: notify.New(st, notify.Config{URL: "https://hooks.example/authz", Secret: []byte("webhook secret"), Now: clock})}
	appendOne := func(ctx context.Context, tx store.Tx, ev store.AuditEvent) error { return audit.Append(ctx, tx, ev) }
	e.legacy = legacykeys.NewService(legacykeys.ServiceConfig{
		Store: st, Hasher: legacykeys.NewHasher(mk.Derive(masterkey.PurposeLegacyKeys)),
		Audit: appendOne, Notifier: e.notifier, Now: clock,
	})
	keys, err := jwks.NewManager(st, mk, jwks.Config{Audit: appendOne, Now: clock, RotationPeriod: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Init(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.h = New(Config{
		Store: st, Auth: e.auth, Secrets: e.secrets, Keys: e.legacy, SigningKeys: keys,
		Notifier: e.notifier, Now: clock, Console: fakeLinks{},
	})
	e.auth.set(tokAdmin, Caller{ClientID: "cli_admin", Subject: "cli_admin", TenantID: store.SystemTenantID, Scopes: []string{policy.PermAdmin}})
	e.tenantA = e.createTenant("tenant A").ID
	e.tenantB = e.createTenant("tenant B").ID
	e.auth.set(tokA, Caller{ClientID: "cli_tenant_a", TenantID: e.tenantA, Scopes: []string{policy.PermTenantAdmin}})
	e.auth.set(tokB, Caller{ClientID: "cli_tenant_b", TenantID: e.tenantB, Scopes: []string{policy.PermTenantAdmin}})
	e.auth.set(tokNoScope, Caller{ClientID: "cli_plain", TenantID: e.tenantA, Scopes: []string{"orders:read"}})
	e.auth.set(tokFakeAdmin, Caller{ClientID: "cli_fake", TenantID: e.tenantA, Scopes: []string{policy.PermAdmin}})
	return e
}

// do sends one request and returns the recorded response.
func (e *env) do(token, method, path string, body any) *httptest.ResponseRecorder {
	e.t.Helper()
	var rd *bytes.Reader
	switch b := body.(type) {
	case nil:
		rd = bytes.NewReader(nil)
	case string:
		rd = bytes.NewReader([]byte(b))
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, Prefix+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// call sends a request, requires the status and decodes the answer into out.
func (e *env) call(token, method, path string, body any, status int, out any) {
	e.t.Helper()
	rec := e.do(token, method, path, body)
	if rec.Code != status {
		e.t.Fatalf("%s %s: status %d, want %d: %s", method, path, rec.Code, status, rec.Body.String())
	}
	if out != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
			e.t.Fatalf("%s %s: decode %q: %v", method, path, rec.Body.String(), err)
		}
	}
}

// refusal decodes an error answer, requiring its status and code.
func (e *env) refusal(rec *httptest.ResponseRecorder, status int, code errcode.Code) errcode.Body {
	e.t.Helper()
	var b errcode.Body
	if rec.Code != status {
		e.t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body.String())
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
		e.t.Fatalf("error body %q: %v", rec.Body.String(), err)
	}
	if b.Code != code {
		e.t.Fatalf("error_code %q, want %q (%s)", b.Code, code, b.Description)
	}
	return b
}

func (e *env) createTenant(name string) apiv1.Tenant {
	var t apiv1.Tenant
	e.call(tokAdmin, "POST", "/tenants", apiv1.CreateTenant{Name: name}, http.StatusCreated, &t)
	return t
}

// fixture is one of each object in a tenant, created by the admin.
type fixture struct {
	tenant    string
	principal apiv1.Principal
	spare     apiv1.Principal // bound to no role
	role      apiv1.Role
	client    apiv1.Client
	key       apiv1.LegacyKey // with Key set
	extID     string
	audience  apiv1.Audience
	peer      string // the other of tenants A and B, to share the audience with
	scimToken apiv1.SCIMToken
}

func (e *env) fixture(tenant string) fixture {
	e.t.Helper()
	f := fixture{tenant: tenant, extID: "ext-" + store.NewID("")}
	e.call(tokAdmin, "POST", "/principals", apiv1.CreatePrincipal{TenantID: tenant, Kind: "service", Name: "svc " + f.extID, ExternalID: f.extID}, http.StatusCreated, &f.principal)
	e.call(tokAdmin, "POST", "/principals", apiv1.CreatePrincipal{TenantID: tenant, Kind: "user", Name: "spare " + f.extID}, http.StatusCreated, &f.spare)
	e.call(tokAdmin, "POST", "/roles", apiv1.CreateRole{TenantID: tenant, Name: "reader " + f.extID, Permissions: []string{"orders:read"}}, http.StatusCreated, &f.role)
	e.call(tokAdmin, "POST", "/roles/"+f.role.ID+"/bindings", apiv1.CreateBinding{PrincipalID: f.principal.ID}, http.StatusCreated, nil)
	e.call(tokAdmin, "POST", "/clients", apiv1.CreateClient{TenantID: tenant, OwnerID: f.principal.ID, Scopes: []string{"orders:read"}}, http.StatusCreated, &f.client)
	e.call(tokAdmin, "POST", "/keys", apiv1.IssueKey{OwnerID: f.principal.ID, ExpiresIn: 3600}, http.StatusCreated, &f.key)
	e.call(tokAdmin, "POST", "/audiences", apiv1.CreateAudience{TenantID: tenant, Identifier: "https://api-" + f.extID}, http.StatusCreated, &f.audience)
	f.peer = e.tenantA
	if tenant == e.tenantA {
		f.peer = e.tenantB
	}
	e.call(tokAdmin, "POST", "/scim/tokens", apiv1.CreateSCIMToken{TenantID: tenant, Name: "Okta"}, http.StatusCreated, &f.scimToken)
	e.call(tokAdmin, "POST", "/scim/group-mappings", apiv1.CreateSCIMGroupMapping{TenantID: tenant, Group: "Mapped", Role: f.role.ID}, http.StatusCreated, nil)
	return f
}

// events lists the audit events, oldest first.
func (e *env) events() []store.AuditEvent {
	e.t.Helper()
	evs, _, err := e.st.ListAudit(e.t.Context(), store.AuditFilter{}, store.Page{Limit: store.MaxLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func newRequest(method, path string, body *bytes.Reader) *http.Request {
	if body == nil {
		body = bytes.NewReader(nil)
	}
	return httptest.NewRequest(method, Prefix+path, body)
}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// openSQLite opens a fresh SQLite store, for tests that are about the
// HTTP layer rather than storage.
func openSQLite(t *testing.T) store.Store { return storetest.OpenSQLite(t) }

// fakeLinks stores console links as the console does, with a fixed URL.
type fakeLinks struct{}

func (fakeLinks) NewLink(ctx context.Context, tx store.Tx, principalID, createdBy string, ttl time.Duration) (string, time.Time, error) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	h := store.NewID("h")
	err := tx.CreateConsoleSession(ctx, store.ConsoleSession{Hash: h, Kind: store.ConsoleLink, PrincipalID: principalID,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(ttl), CreatedBy: createdBy})
	return "http://console.test/signin#" + h, now.Add(ttl), err
}
