package adminclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/admin"
	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
	"github.com/authz/authz/audit"
	"github.com/authz/authz/clientsecret"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/policy"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

const (
	clientID = "cli_admin"
	secret   = "azs_correct-horse-battery-staple-0123456789"
)

// issuer is a stand-in token endpoint (with RFC 8414 metadata) whose
// tokens the admin API under test accepts until they are revoked.
type issuer struct {
	srv      *httptest.Server
	mu       sync.Mutex
	issued   int
	live     map[string]bool
	lifetime int64
}

func newIssuer(t *testing.T) *issuer {
	is := &issuer{live: map[string]bool{}, lifetime: 300}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"issuer": is.srv.URL, "token_endpoint": is.srv.URL + "/oauth2/token"})
	})
	mux.HandleFunc("POST /oauth2/token", func(w http.ResponseWriter, r *http.Request) {
		id, sec, ok := r.BasicAuth()
		if !ok || id != clientID || sec != secret || r.FormValue("grant_type") != "client_credentials" {
			errcode.Write(w, nil, errcode.New(errcode.ClientInvalid, ""))
			return
		}
		is.mu.Lock()
		is.issued++
		tok := fmt.Sprintf("token-%d", is.issued)
		is.live[tok] = true
		life := is.lifetime
		is.mu.Unlock()
		json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": life})
	})
	is.srv = httptest.NewServer(mux)
	t.Cleanup(is.srv.Close)
	return is
}

func (is *issuer) count() int {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.issued
}

func (is *issuer) revokeAll() {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.live = map[string]bool{}
}

// AuthenticateAdmin makes the issuer the admin API's authenticator.
func (is *issuer) AuthenticateAdmin(_ context.Context, bearer string) (admin.Caller, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if !is.live[bearer] {
		return admin.Caller{}, errcode.New(errcode.TokenInvalid, "The bearer token is not active: revoked.")
	}
	return admin.Caller{ClientID: clientID, TenantID: store.SystemTenantID, Scopes: []string{policy.PermAdmin}}, nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	is       *issuer
	adminURL string
	clock    *clock
	cacheDir string
}

func setup(t *testing.T) *fixture {
	t.Helper()
	st := storetest.OpenSQLite(t)
	mk := masterkey.Generate()
	is := newIssuer(t)
	f := &fixture{is: is, clock: &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}, cacheDir: filepath.Join(t.TempDir(), "tokens")}
	legacy := legacykeys.NewService(legacykeys.ServiceConfig{
		Store: st, Hasher: legacykeys.NewHasher(mk.Derive(masterkey.PurposeLegacyKeys)),
		Audit: func(ctx context.Context, tx store.Tx, ev store.AuditEvent) error { return audit.Append(ctx, tx, ev) },
	})
	srv := httptest.NewServer(admin.New(admin.Config{
		Store: st, Auth: is, Secrets: clientsecret.NewHasher(mk.Derive(masterkey.PurposeClientSecrets)), Keys: legacy,
	}))
	t.Cleanup(srv.Close)
	f.adminURL = srv.URL
	return f
}

func (f *fixture) client(secret string, opts ...adminclient.Option) *adminclient.Client {
	opts = append([]adminclient.Option{adminclient.WithIssuer(f.is.srv.URL), adminclient.WithClock(f.clock.now), adminclient.WithTokenCache(f.cacheDir)}, opts...)
	return adminclient.New(f.adminURL, clientID, secret, opts...)
}

func TestTokenIsCachedInMemoryAndOnDisk(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	c := f.client(secret)
	for range 3 {
		if _, err := c.ListTenants(ctx, adminclient.TenantFilter{}); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.is.count(); n != 1 {
		t.Fatalf("%d token requests for 3 calls, want 1", n)
	}
	// A second process (a new Client) reuses the token from disk.
	if _, err := f.client(secret).ListTenants(ctx, adminclient.TenantFilter{}); err != nil {
		t.Fatal(err)
	}
	if n := f.is.count(); n != 1 {
		t.Fatalf("a new client fetched a token although one was cached: %d requests", n)
	}
	entries, err := os.ReadDir(f.cacheDir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("cache dir: %v %v", entries, err)
	}
	info, _ := entries[0].Info()
	dir, _ := os.Stat(f.cacheDir)
	if info.Mode().Perm() != 0o600 || dir.Mode().Perm() != 0o700 {
		t.Fatalf("cache modes: file %v, dir %v; want 0600 and 0700", info.Mode().Perm(), dir.Mode().Perm())
	}
	raw, _ := os.ReadFile(filepath.Join(f.cacheDir, entries[0].Name()))
	if strings.Contains(string(raw), secret) || strings.Contains(entries[0].Name(), clientID) {
		t.Fatal("the cache reveals the client id or secret")
	}

	// Shortly before expiry the token is replaced.
	f.clock.advance(300*time.Second - 29*time.Second)
	if _, err := c.ListTenants(ctx, adminclient.TenantFilter{}); err != nil {
		t.Fatal(err)
	}
	if n := f.is.count(); n != 2 {
		t.Fatalf("token requests after nearly expiring: %d, want 2", n)
	}
}

func TestRejectedTokenIsReplacedOnce(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	c := f.client(secret)
	if _, err := c.ListTenants(ctx, adminclient.TenantFilter{}); err != nil {
		t.Fatal(err)
	}
	f.is.revokeAll() // the server was reset, or the token revoked
	if _, err := c.ListTenants(ctx, adminclient.TenantFilter{}); err != nil {
		t.Fatalf("the client did not recover from a revoked cached token: %v", err)
	}
	if n := f.is.count(); n != 2 {
		t.Fatalf("token requests: %d, want 2", n)
	}
}

func TestErrors(t *testing.T) {
	f := setup(t)
	ctx := t.Context()

	_, err := f.client("azs_wrong-secret-wrong-secret-wrong-secret").ListTenants(ctx, adminclient.TenantFilter{})
	var e *adminclient.Error
	if !errors.As(err, &e) || e.Code != "client_invalid" || e.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong credentials: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "cannot get an admin token for client cli_admin: client_invalid: ") {
		t.Fatalf("wrong credentials message: %q", err)
	}

	_, err = f.client(secret).GetTenant(ctx, "ten_doesnotexist0000")
	if !errors.As(err, &e) || e.Code != "not_found" || e.StatusCode != http.StatusNotFound || e.RequestID == "" {
		t.Fatalf("refusal: %#v", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error is not one line: %q", err)
	}

	_, err = adminclient.New(f.adminURL, "", "").ListTenants(ctx, adminclient.TenantFilter{})
	if err == nil || !strings.Contains(err.Error(), "AUTHZ_CLIENT_ID") {
		t.Fatalf("missing credentials: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	f := setup(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String()
	l.Close()

	c := adminclient.New(dead, clientID, secret, adminclient.WithTokenURL(f.is.srv.URL+"/oauth2/token"))
	_, err = c.ListTenants(t.Context(), adminclient.TenantFilter{})
	var u *adminclient.UnreachableError
	if !errors.As(err, &u) || !strings.HasPrefix(err.Error(), "cannot reach authz admin API at "+dead+": ") {
		t.Fatalf("admin API down: %v", err)
	}
	c = adminclient.New(f.adminURL, clientID, secret, adminclient.WithIssuer(dead))
	_, err = c.ListTenants(t.Context(), adminclient.TenantFilter{})
	if !errors.As(err, &u) || !strings.HasPrefix(err.Error(), "cannot reach authz issuer at "+dead+": ") {
		t.Fatalf("issuer down: %v", err)
	}
}

func TestDefaultIssuer(t *testing.T) {
	tests := []struct{ server, want string }{
		{"http://127.0.0.1:8081", "http://127.0.0.1:8080"},
		{"https://authz-admin.internal:9443/", "https://authz-admin.internal:8080"},
		{"http://[::1]:8081", "http://[::1]:8080"},
		{"not a url", "http://127.0.0.1:8080"},
	}
	for _, tt := range tests {
		if got := adminclient.DefaultIssuer(tt.server); got != tt.want {
			t.Errorf("DefaultIssuer(%q) = %q, want %q", tt.server, got, tt.want)
		}
	}
}

// TestTypedRoundTrip drives the main resources through the typed methods
// against the real admin API.
func TestTypedRoundTrip(t *testing.T) {
	f := setup(t)
	ctx := t.Context()
	c := f.client(secret)
	tn, err := c.CreateTenant(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	p, err := c.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: tn.ID, Kind: "service", Name: "billing", ExternalID: "b-1"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.CreateRole(ctx, apiv1.CreateRole{TenantID: tn.ID, Name: "reader", Permissions: []string{"invoices:read"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Bind(ctx, r.ID, p.ID); err != nil {
		t.Fatal(err)
	}
	bs, err := c.ListBindings(ctx, adminclient.BindingFilter{PrincipalID: p.ID})
	if err != nil || len(bs.Items) != 1 {
		t.Fatalf("bindings: %+v %v", bs, err)
	}
	cl, err := c.CreateClient(ctx, apiv1.CreateClient{TenantID: tn.ID, OwnerID: p.ID, Scopes: []string{"invoices:read"}})
	if err != nil || cl.ClientSecret == "" {
		t.Fatalf("client: %+v %v", cl, err)
	}
	overlap := time.Duration(0)
	rot, err := c.RotateSecret(ctx, cl.ID, &overlap)
	if err != nil || rot.ClientSecret == "" || rot.ClientSecret == cl.ClientSecret {
		t.Fatalf("rotate: %v", err)
	}
	k, err := c.IssueKey(ctx, apiv1.IssueKey{OwnerID: p.ID})
	if err != nil || k.Key == "" {
		t.Fatalf("key: %+v %v", k, err)
	}
	for _, in := range []string{k.ID, k.Key} {
		d, err := c.DiagnoseKey(ctx, in)
		if err != nil || !d.Found || d.Key.ID != k.ID || d.Verdict != "ok" {
			t.Fatalf("diagnose %q: %+v %v", in, d, err)
		}
	}
	if _, err := c.SuspendPrincipal(ctx, p.ID); err != nil {
		t.Fatal(err)
	}
	d, err := c.DiagnoseKey(ctx, k.ID)
	if err != nil || d.Verdict != string(errcode.OwnerSuspended) {
		t.Fatalf("diagnosis after suspension: %+v %v", d.Verdict, err)
	}
	evs, err := c.ListAudit(ctx, adminclient.AuditFilter{Target: "principal:" + p.ID})
	if err != nil || len(evs.Items) != 2 || evs.Items[0].Action != "principal.suspend" {
		t.Fatalf("audit: %+v %v", evs, err)
	}
	rep, err := c.VerifyAudit(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	for i := range 3 {
		if _, err := c.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: tn.ID, Kind: "user", Name: fmt.Sprint("u", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var seen int
	page := adminclient.Page{Limit: 2}
	for {
		l, err := c.ListPrincipals(ctx, adminclient.PrincipalFilter{TenantID: tn.ID, Page: page})
		if err != nil {
			t.Fatal(err)
		}
		seen += len(l.Items)
		if l.Next == "" {
			break
		}
		page.After = l.Next
	}
	if seen != 4 {
		t.Fatalf("paged through %d principals, want 4", seen)
	}
}
