package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/jwks/verifier"
	"github.com/authz/authz/jwks/verifier/verifiertest"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/statuslist"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// The status list settings of the end-to-end test: gateways must learn of
// a change within statusTTL plus one second.
const (
	statusTTL      = time.Second
	statusValidity = 2 * time.Second
	statusBound    = statusTTL + time.Second
)

// Issue 9, end to end with the real binaries on both backends: a token
// passes `authz gateway`; its owner is suspended (or its key revoked, the
// token revoked by RFC 7009, its tenant suspended); within the list's ttl
// plus one second the same token is refused at the gateway while its
// signature and exp are still fine; after the resumption a new token
// passes. One server and one gateway per backend serve every case.
func TestStatusListEndToEnd(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { statusFlow(t, storetest.SQLiteURL(t)) })
	t.Run("postgres", func(t *testing.T) { statusFlow(t, storetest.PostgresURL(t)) })
}

// statusEnv is a running authz, a gateway in front of an upstream that
// records the bearer tokens it receives, and what the cases share.
type statusEnv struct {
	t        *testing.T
	srv      *cli
	admin    *adminclient.Client
	gateway  string
	upstream *bearerRecorder
	// offline verifies signature and claims against the JWKS, without
	// the status list: what the token is worth on its own.
	offline *verifier.Verifier
}

// holder is a tenant with a service principal allowed orders:read and a
// client-credentials client it owns.
type holder struct {
	tenant apiv1.Tenant
	owner  apiv1.Principal
	client apiv1.Client
}

func statusFlow(t *testing.T, dbURL string) {
	e := &statusEnv{t: t, upstream: newBearerRecorder(t)}
	e.srv = startServerWith(t, dbURL, "--status-list-ttl", statusTTL.String(), "--status-list-validity", statusValidity.String())
	e.admin = adminclient.New(e.srv.adminURL, bootstrapID, bootstrapSecret, adminclient.WithIssuer(e.srv.issuer))
	ctx := t.Context()

	// The gateway's own client, in a tenant of its own, exchanges legacy
	// keys on their holders' behalf.
	platform := e.holder("platform")
	gw, err := e.admin.CreateClient(ctx, apiv1.CreateClient{
		TenantID: platform.tenant.ID, OwnerID: platform.owner.ID, GrantTypes: []string{store.GrantTokenExchange},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.gateway = startGateway(t, e.srv.issuer, e.upstream.srv.URL, gw.ID, gw.ClientSecret)
	if e.offline, err = verifier.New(ctx, verifier.Config{Issuer: e.srv.issuer, StatusLists: verifier.StatusListConfig{Disabled: true}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.offline.Close)

	t.Run("owner suspended", func(t *testing.T) {
		e := e.on(t)
		h := e.holder("acme")
		tok := e.clientToken(h)
		e.passes(tok)
		e.afterChange(tok, "token status is suspended", func() error { _, err := e.admin.SuspendPrincipal(ctx, h.owner.ID); return err })

		// authz verify reports the status, and --no-status skips it.
		out, err := runCLI(t, "", "verify", tok, "--issuer", e.srv.issuer, "--tenant", h.tenant.ID)
		if err == nil || !strings.Contains(err.Error(), "token invalid: status") || !strings.Contains(out, "status:   SUSPENDED") {
			t.Fatalf("authz verify: %v\n%s", err, out)
		}
		if out, err := runCLI(t, "", "verify", tok, "--issuer", e.srv.issuer, "--tenant", h.tenant.ID, "--no-status"); err != nil || !strings.Contains(out, "status:   unchecked") {
			t.Fatalf("authz verify --no-status: %v\n%s", err, out)
		}

		if _, err := e.admin.ResumePrincipal(ctx, h.owner.ID); err != nil {
			t.Fatal(err)
		}
		e.eventuallyPasses(func() string { return e.clientToken(h) })
	})

	t.Run("legacy key revoked", func(t *testing.T) {
		e := e.on(t)
		h := e.holder("globex")
		k, err := e.admin.IssueKey(ctx, apiv1.IssueKey{OwnerID: h.owner.ID})
		if err != nil {
			t.Fatal(err)
		}
		// The gateway exchanges the key; the upstream sees the token.
		if r := e.get(map[string]string{"X-API-Key": k.Key}); r.status != http.StatusOK {
			t.Fatalf("legacy key through the gateway: %d %s", r.status, r.raw)
		}
		tok := e.upstream.last()
		if c, err := e.offline.Verify(ctx, tok); err != nil || c.KeyID != k.ID || c.Status == nil {
			t.Fatalf("exchanged token: %+v, %v", c, err)
		}
		e.passes(tok)
		e.afterChange(tok, "token status is invalid", func() error { _, err := e.admin.RevokeKey(ctx, k.ID, "compromised"); return err })
		// The key itself: the gateway's cached token is refused, the key
		// exchanged again, and the caller told the exact cause.
		r := e.get(map[string]string{"X-API-Key": k.Key})
		if r.status != http.StatusUnauthorized || r.body.Code != errcode.KeyRevoked {
			t.Fatalf("revoked key through the gateway: %d %s", r.status, r.raw)
		}
		// A new key of the same owner works.
		k2, err := e.admin.IssueKey(ctx, apiv1.IssueKey{OwnerID: h.owner.ID})
		if err != nil {
			t.Fatal(err)
		}
		e.eventually(func() response {
			return e.get(map[string]string{"X-API-Key": k2.Key})
		})
	})

	t.Run("token revoked (RFC 7009)", func(t *testing.T) {
		e := e.on(t)
		h := e.holder("initech")
		tok := e.clientToken(h)
		e.passes(tok)
		e.afterChange(tok, "token status is invalid", func() error { return e.revoke(h, tok) })
		e.eventuallyPasses(func() string { return e.clientToken(h) })
	})

	t.Run("tenant suspended", func(t *testing.T) {
		e := e.on(t)
		h := e.holder("umbrella")
		tok := e.clientToken(h)
		e.passes(tok)
		e.afterChange(tok, "token status is suspended", func() error { _, err := e.admin.SuspendTenant(ctx, h.tenant.ID); return err })
		if _, err := e.admin.ResumeTenant(ctx, h.tenant.ID); err != nil {
			t.Fatal(err)
		}
		e.eventuallyPasses(func() string { return e.clientToken(h) })
	})

	// Issue 22 §3: an emergency withdrawal of the signing key reaches the
	// running gateway with the status list (which names the published
	// kids), within its ttl plus one second, not at the gateway's next
	// JWKS reload (--jwks-max-age, 5 minutes). Last: it changes the key
	// every later token is signed with.
	t.Run("signing key withdrawn", func(t *testing.T) {
		e := e.on(t)
		h := e.holder("hooli")
		tok := e.clientToken(h)
		e.passes(tok)
		kid := tokenKID(t, tok)
		// Refused as withdrawn, or, once the gateway's immediate JWKS
		// refetch is in, as signed by a key the issuer does not publish.
		e.afterChange(tok, "key", func() error {
			r := e.srv.run(nil, "signing-key", "withdraw", kid)
			if r.code != 0 {
				t.Fatalf("authz signing-key withdraw: exit %d: %s", r.code, r.stderr)
			}
			if !strings.Contains(r.stdout, "status list") {
				t.Errorf("the withdrawal does not say when gateways stop accepting the key: %q", r.stdout)
			}
			return nil
		})
		// Tokens of the next key pass.
		e.eventuallyPasses(func() string {
			tok := e.clientToken(h)
			if tok != "" && tokenKID(t, tok) == kid {
				t.Fatal("a token was signed with the withdrawn key")
			}
			return tok
		})
	})
}

// tokenKID returns the kid of a JWT's header.
func tokenKID(t *testing.T, tok string) string {
	t.Helper()
	h, _, ok := strings.Cut(tok, ".")
	if !ok {
		t.Fatalf("not a JWT: %q", tok)
	}
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var hdr struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &hdr); err != nil || hdr.KID == "" {
		t.Fatalf("header %s: %v", raw, err)
	}
	return hdr.KID
}

// on returns e for the (sub)test t: helpers fail the test that runs them.
func (e *statusEnv) on(t *testing.T) *statusEnv {
	c := *e
	c.t = t
	return &c
}

func (e *statusEnv) holder(name string) holder {
	e.t.Helper()
	ctx := e.t.Context()
	var h holder
	var err error
	if h.tenant, err = e.admin.CreateTenant(ctx, name); err != nil {
		e.t.Fatal(err)
	}
	if h.owner, err = e.admin.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: h.tenant.ID, Kind: "service", Name: name + "-svc"}); err != nil {
		e.t.Fatal(err)
	}
	role, err := e.admin.CreateRole(ctx, apiv1.CreateRole{TenantID: h.tenant.ID, Name: "reader", Permissions: []string{"orders:read"}})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.admin.Bind(ctx, role.ID, h.owner.ID); err != nil {
		e.t.Fatal(err)
	}
	if h.client, err = e.admin.CreateClient(ctx, apiv1.CreateClient{TenantID: h.tenant.ID, OwnerID: h.owner.ID}); err != nil {
		e.t.Fatal(err)
	}
	return h
}

// afterChange makes the change, then polls the gateway with tok until it
// is refused, and asserts that this happened within statusBound of the
// change's return, with invalid_token naming the status, while tok still
// verifies by signature and exp.
func (e *statusEnv) afterChange(tok, status string, change func() error) {
	e.t.Helper()
	if err := change(); err != nil {
		e.t.Fatal(err)
	}
	changed := time.Now()
	var r response
	for {
		r = e.get(map[string]string{"Authorization": "Bearer " + tok})
		if r.status != http.StatusOK {
			break
		}
		if time.Since(changed) > statusBound+30*time.Second {
			e.t.Fatalf("the gateway still accepts the token %v after the change", time.Since(changed))
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(changed)
	e.t.Logf("refused at the gateway %v after the change", took.Round(time.Millisecond))
	if r.status != http.StatusUnauthorized || r.body.Error != "invalid_token" || r.body.Code != errcode.TokenInvalid ||
		!strings.Contains(r.body.Description, status) {
		e.t.Fatalf("gateway answer %d %s, want 401 invalid_token naming %q", r.status, r.raw, status)
	}
	if ch := r.header.Get("WWW-Authenticate"); !strings.Contains(ch, `error="invalid_token"`) {
		e.t.Fatalf("WWW-Authenticate %q", ch)
	}
	if took > statusBound {
		e.t.Errorf("refused %v after the change, beyond the list ttl plus one second (%v)", took, statusBound)
	}
	// The token on its own is still fine: the status list refused it.
	if c, err := e.offline.Verify(e.t.Context(), tok); err != nil || !time.Now().Before(c.ExpiresAt) {
		e.t.Fatalf("the refused token no longer verifies by signature and exp: %v", err)
	}
}

// passes asserts that the gateway forwards a request with tok.
func (e *statusEnv) passes(tok string) {
	e.t.Helper()
	if r := e.get(map[string]string{"Authorization": "Bearer " + tok}); r.status != http.StatusOK {
		e.t.Fatalf("gateway refused a valid token: %d %s", r.status, r.raw)
	}
	if e.upstream.last() != tok {
		e.t.Fatal("the upstream did not receive the token")
	}
}

// eventuallyPasses polls until a new token passes the gateway: a
// resumption reaches the token endpoint and the list within seconds (the
// deadline only stops a broken build from hanging).
func (e *statusEnv) eventuallyPasses(token func() string) {
	e.t.Helper()
	e.eventually(func() response {
		tok := token()
		if tok == "" {
			return response{}
		}
		return e.get(map[string]string{"Authorization": "Bearer " + tok})
	})
}

func (e *statusEnv) eventually(try func() response) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		r := try()
		if r.status == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("still refused after the resumption: %d %s", r.status, r.raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type response struct {
	status int
	header http.Header
	body   errcode.Body
	raw    string
}

func (e *statusEnv) get(header map[string]string) response {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodGet, e.gateway+"/orders/1", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	_ = json.Unmarshal(b, &r.body)
	return r
}

// clientToken gets a client-credentials token for h's client, or "" while
// the token endpoint refuses (right after a resumption).
func (e *statusEnv) clientToken(h holder) string {
	e.t.Helper()
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if status := e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, h, &out); status != http.StatusOK {
		return ""
	}
	return out.AccessToken
}

// revoke revokes tok at the RFC 7009 endpoint as h's client.
func (e *statusEnv) revoke(h holder, tok string) error {
	if status := e.post("/oauth2/revoke", url.Values{"token": {tok}}, h, nil); status != http.StatusOK {
		return &adminclient.Error{StatusCode: status, Description: "revocation refused"}
	}
	return nil
}

func (e *statusEnv) post(path string, form url.Values, h holder, out any) int {
	e.t.Helper()
	req, err := http.NewRequestWithContext(e.t.Context(), http.MethodPost, e.srv.issuer+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(h.client.ID), url.QueryEscape(h.client.ClientSecret))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			e.t.Fatal(err)
		}
	}
	return resp.StatusCode
}

// bearerRecorder is an upstream that remembers the last bearer token it
// received.
type bearerRecorder struct {
	srv *httptest.Server
	mu  sync.Mutex
	tok string
}

func newBearerRecorder(t *testing.T) *bearerRecorder {
	b := &bearerRecorder{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.tok, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		b.mu.Unlock()
		_, _ = io.WriteString(w, "orders")
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *bearerRecorder) last() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.tok
}

// startServerWith is startServer with extra `authz serve` flags.
func startServerWith(t *testing.T, dbURL string, flags ...string) *cli {
	t.Helper()
	return startServerKey(t, dbURL, masterkey.Generate().String(), flags...)
}

// startGateway runs `authz gateway` in front of upstream, bridging
// X-API-Key with the client clientID, and returns its URL.
func startGateway(t *testing.T, issuer, upstream, clientID, secret string) string {
	t.Helper()
	addr := freeAddr(t)
	env := append(baseEnv(t.TempDir()), "AUTHZ_CLIENT_ID="+clientID, "AUTHZ_CLIENT_SECRET="+secret)
	// It bridges the keys of every tenant: a platform gateway.
	args := []string{"gateway", "--listen", addr, "--upstream", upstream, "--issuer", issuer, "--legacy-key-header", "X-API-Key", "--log-level", "debug", "--any-tenant"}
	// Without a token the gateway answers 401: it is up.
	run(t, "authz gateway", &syncBuffer{}, env, args, "http://"+addr+"/", http.StatusUnauthorized)
	return "http://" + addr
}

// run starts the binary with args until the test ends, and waits until
// GET ready answers readyStatus.
func run(t *testing.T, name string, logs *syncBuffer, env, args []string, ready string, readyStatus int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, authzBin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("%s output:\n%s", name, logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("%s exited: %v\n%s", name, err, logs.String())
		default:
		}
		if resp, err := http.Get(ready); err == nil {
			resp.Body.Close()
			if resp.StatusCode == readyStatus {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become ready:\n%s", name, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// --status-lists decides whether the gateway reads tokens' status lists;
// --status-max-stale reaches the verifier.
func TestGatewayStatusListsFlag(t *testing.T) {
	iss := verifiertest.NewIssuer(t)
	key := iss.AddKey(t, verifier.ES256)
	iss.SetStatus(4, statuslist.Suspended)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(upstream.Close)
	claims := iss.Claims(time.Now(), verifyAudience)
	claims["status"] = iss.StatusClaim(4)
	tok := key.Sign(t, claims, nil)

	for _, tt := range []struct {
		name   string
		on     bool
		status int
	}{
		{"on (the default)", true, http.StatusUnauthorized},
		{"off", false, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g := gatewayFlags{
				upstream: upstream.URL, issuer: iss.URL, statusLists: tt.on, statusMaxStale: time.Minute,
				upstreamTimeout: 5 * time.Second, tenantFlags: tenantChoice{any: true},
			}
			app, err := newGatewayApp(t.Context(), g, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(app.verifier.Close)
			srv := httptest.NewServer(app.proxy)
			t.Cleanup(srv.Close)
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/orders", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
		})
	}
	// The command line's default is on.
	if f := newGatewayCmd().Flags().Lookup("status-lists"); f == nil || f.DefValue != "true" {
		t.Fatalf("--status-lists default: %+v", f)
	}
}
