package console_test

import (
	"context"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/policy"
	"github.com/authz/authz/server"
	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
	"github.com/prometheus/client_golang/prometheus"
)

// consoleEnv is a real authz server on SQLite with its console listening,
// and one headless Chromium whose browser contexts are the people.
type consoleEnv struct {
	*servertest.Env
	t       *testing.T
	console string // the console's base URL
	browser context.Context
	shots   string
}

// chromium finds Debian's chromium. Under CI=true its absence fails the
// test: a browser test that silently skips in CI proves nothing.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (apt-get install -y chromium); the console's browser tests cannot run")
	}
	t.Skip("chromium is not installed; set CI=true to make this a failure")
	return ""
}

func startConsole(t *testing.T, opts ...servertest.Option) *consoleEnv {
	bin := chromium(t)
	e := serveConsole(t, opts...)
	e.shots = os.Getenv("AUTHZ_SCREENSHOTS")
	if e.shots == "" {
		e.shots = t.TempDir()
	}
	bopts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), bopts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(alloc)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	e.browser = browser
	return e
}

// serveConsole starts a real server on SQLite with its console
// listening, without a browser.
func serveConsole(t *testing.T, opts ...servertest.Option) *consoleEnv {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String()
	e := &consoleEnv{t: t, console: base}
	e.Env = servertest.New(t, storetest.SQLiteURL(t))
	if os.Getenv("AUTHZ_TEST_LOGS") != "" {
		e.Logs = os.Stderr
	}
	e.Run(append([]servertest.Option{func(c *server.Config) {
		c.ConsoleAddr, c.ConsoleURL = l.Addr().String(), base
	}}, opts...)...)
	srv := &http.Server{Handler: e.Srv.ConsoleHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return e
}

// person is one browser context: its own cookies, one tab.
type person struct {
	e   *consoleEnv
	ctx context.Context
}

func (e *consoleEnv) person() *person {
	ctx, cancel := chromedp.NewContext(e.browser, chromedp.WithNewBrowserContext())
	e.t.Cleanup(cancel)
	// The first run opens the tab, which lives as long as the context of
	// that run: it must be one without a timeout.
	if err := chromedp.Do(ctx); err != nil {
		e.t.Fatal(err)
	}
	return &person{e: e, ctx: ctx}
}

func (p *person) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// value runs one action that reads a value.
func value[T any](t *testing.T, p *person, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (p *person) open(t *testing.T, path string) {
	t.Helper()
	u := path
	if strings.HasPrefix(path, "/") {
		u = p.e.console + path
	}
	p.do(t, chromedp.Navigate(u), chromedp.WaitReady(chromedp.CSS("body")))
}

// click clicks an element that submits a form, and waits for the new
// document: performance.timeOrigin changes with every document.
func (p *person) click(t *testing.T, sel string) {
	t.Helper()
	before := value(t, p, chromedp.Evaluate[float64]("performance.timeOrigin"))
	p.do(t, chromedp.Click(chromedp.CSS(sel)))
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
		now, err := chromedp.Run(ctx, chromedp.Evaluate[float64]("document.readyState === 'complete' ? performance.timeOrigin : 0"))
		cancel()
		if err == nil && now != 0 && now != before {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("clicking %s loaded no new page", sel)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFor waits until a predicate holds in a loaded document, across
// the navigations (and redirects) that lead there.
func (p *person) waitFor(t *testing.T, predicate string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("document.readyState === 'complete' && ("+predicate+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited in vain for %s", predicate)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *person) text(t *testing.T, sel string) string {
	t.Helper()
	return value(t, p, chromedp.Text(chromedp.CSS(sel)))
}

func (p *person) body(t *testing.T) string { t.Helper(); return p.text(t, "body") }

func (p *person) html(t *testing.T) string {
	t.Helper()
	return value(t, p, chromedp.OuterHTML(chromedp.CSS("html")))
}

func (p *person) shot(t *testing.T, name string) {
	t.Helper()
	png := value(t, p, chromedp.FullScreenshot(100))
	if err := os.WriteFile(filepath.Join(p.e.shots, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// cookie is the session cookie's value (HttpOnly: scripts cannot read it,
// the DevTools protocol can).
func (p *person) cookie(t *testing.T) string {
	t.Helper()
	res, err := chromedp.Call(p.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{p.e.console}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name == "authz_console" {
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict {
				t.Fatalf("session cookie HttpOnly=%v SameSite=%v", c.HTTPOnly, c.SameSite)
			}
			return c.Value
		}
	}
	t.Fatal("no session cookie")
	return ""
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrf is the CSRF token in the current page's forms.
func (p *person) csrf(t *testing.T) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(p.html(t))
	if m == nil {
		t.Fatal("no CSRF token on the page")
	}
	return m[1]
}

// signIn makes a one-time link through the admin API, as `authz console
// link` does, opens it and presses the button.
func (p *person) signIn(t *testing.T, principalID string) string {
	t.Helper()
	l, err := p.e.Admin().CreateConsoleLink(p.e.Ctx(), principalID, 0)
	if err != nil {
		t.Fatal(err)
	}
	p.useLink(t, l.URL)
	if b := p.body(t); !strings.Contains(b, "Welcome") {
		t.Fatalf("after sign-in: %s", b)
	}
	return l.URL
}

func (p *person) useLink(t *testing.T, link string) {
	t.Helper()
	p.open(t, link)
	p.click(t, "#signin")
}

// post sends a form as a browser of this session would, outside the
// browser, so that a test can forge what a browser would never send.
func (e *consoleEnv) post(t *testing.T, path, cookie string, form url.Values, origin string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", e.console+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "authz_console", Value: cookie})
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *consoleEnv) get(t *testing.T, path, cookie string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.console+path, nil)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "authz_console", Value: cookie})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func must[T any](t *testing.T) func(T, error) T { return servertest.Must[T](t) }

// TestConsoleInBrowser drives the console of a real server in headless
// Chromium, as the developer, the operator and a tenant admin of another
// tenant, each in a browser context of its own.
func TestConsoleInBrowser(t *testing.T) {
	var idp *testIdP
	e := startConsole(t, func(c *server.Config) {
		// Sign-in through an OpenID Connect provider as well, matching
		// its sub (the default claim).
		idp = newTestIdP(t, c.Now)
		c.ConsoleOIDCIssuer, c.ConsoleOIDCClientID, c.ConsoleOIDCClientSecret = idp.srv.URL, idp.clientID, idp.secret
	})
	ctx := e.Ctx()
	a := e.Admin()

	// acme: the developer (a user holding a legacy key), a service
	// principal, and a leaver whose key will be orphaned.
	acme := e.Holder("acme", "user")
	dev := acme.Owner
	svc := must[apiv1.Principal](t)(a.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: acme.Tenant.ID, Kind: "service", Name: "billing-svc"}))
	must[apiv1.Binding](t)(a.Bind(ctx, acme.Role.ID, svc.ID))
	leaver := must[apiv1.Principal](t)(a.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: acme.Tenant.ID, Kind: "user", Name: "leaver"}))
	devKey := e.IssueKey(dev.ID, []string{"orders:read"}, 0)
	leaverKey := e.IssueKey(leaver.ID, []string{"orders:read"}, 0)
	svcKey := e.IssueKey(svc.ID, []string{"orders:read"}, 0)

	// The operator: a principal of the system tenant with authz:admin.
	opRole := e.MkRole(store.SystemTenantID, "console-admins", policy.PermAdmin)
	op := e.MkPrincipal(store.SystemTenantID, "operator", store.KindUser)
	e.Bind(op, opRole)

	// globex: another tenant with its tenant admin and a key of its own.
	globex := e.Holder("globex", "user")
	taRole := e.MkRole(globex.Tenant.ID, "tenant-admins", policy.PermTenantAdmin)
	ta := e.MkPrincipal(globex.Tenant.ID, "globex-admin", store.KindUser)
	e.Bind(ta, taRole)
	globexKey := e.IssueKey(globex.Owner.ID, []string{"orders:read"}, 0)

	developer, operator, tenantAdmin := e.person(), e.person(), e.person()

	t.Run("refused key, resumed owner", func(t *testing.T) {
		must[apiv1.Principal](t)(a.SuspendPrincipal(ctx, dev.ID))
		developer.signIn(t, dev.ID)
		developer.shot(t, "home-developer")
		developer.open(t, "/keys")
		developer.shot(t, "keys-refused")
		b := developer.body(t)
		if !strings.Contains(b, devKey.ID) || !strings.Contains(b, "owner_suspended") || !strings.Contains(b, "resume the owner") {
			t.Fatalf("the developer's keys page does not show the refusal and remedy:\n%s", b)
		}
		if r := e.Exchange(devKey.Key, nil, "", ""); r.Status == http.StatusOK {
			t.Fatalf("exchange of a suspended owner's key: %d", r.Status)
		}

		operator.signIn(t, op.ID)
		operator.open(t, "/principals/"+dev.ID)
		operator.shot(t, "principal-suspended")
		operator.click(t, "#toggle-status")
		if status := operator.text(t, "#principal-status"); status != "active" {
			t.Fatalf("after Resume the principal page shows %q", status)
		}
		evs := must[apiv1.List[apiv1.AuditEvent]](t)(a.ListAudit(ctx, adminclient.AuditFilter{Target: "principal:" + dev.ID, Action: "principal.resume"}))
		if len(evs.Items) != 1 || evs.Items[0].Actor != "console:"+op.ID {
			t.Fatalf("resume audit events: %+v", evs.Items)
		}

		developer.open(t, "/keys")
		b = developer.body(t)
		if strings.Contains(b, "owner_suspended") || !strings.Contains(b, "works") {
			t.Fatalf("after the resume the keys page still shows:\n%s", b)
		}
		if r := e.Exchange(devKey.Key, nil, "", ""); r.Status != http.StatusOK {
			t.Fatalf("exchange after the resume: %d %s", r.Status, r.Raw)
		}
		developer.open(t, "/keys/"+devKey.ID)
		developer.shot(t, "key-move-steps")
		if b := developer.body(t); !strings.Contains(b, "Move this key to a token") || !strings.Contains(b, dev.ID) {
			t.Fatalf("the key page has no migration steps with the holder's ids:\n%s", b)
		}
	})

	t.Run("suspension with a reason, after its dry run", func(t *testing.T) {
		const why = "laptop stolen (SEC-42)"
		operator.open(t, "/principals/"+dev.ID)
		operator.do(t, chromedp.SendKeys(chromedp.CSS("#status-reason"), why))
		operator.click(t, "#toggle-status")
		operator.shot(t, "principal-suspend-confirm")
		// The confirmation page is the admin API's dry run: it lists the
		// key that would stop working and changes nothing.
		if h := operator.html(t); !strings.Contains(h, `data-credential="`+devKey.ID+`"`) {
			t.Fatalf("the confirmation page does not list %s:\n%s", devKey.ID, h)
		}
		if p := must[apiv1.Principal](t)(a.GetPrincipal(ctx, dev.ID)); p.Status != "active" {
			t.Fatalf("the dry run changed the principal: %s", p.Status)
		}
		if v := value(t, operator, chromedp.Value(chromedp.CSS("#reason"))); v != why {
			t.Fatalf("the confirmation page carries reason %q", v)
		}
		operator.click(t, "#confirm")
		if status := operator.text(t, "#principal-status"); status != "suspended" {
			t.Fatalf("after Suspend the principal page shows %q", status)
		}
		if h := operator.text(t, "td.reason"); !strings.Contains(h, why) {
			t.Fatalf("the status history's latest reason is %q, want %q", h, why)
		}
		operator.shot(t, "principal-suspended-reason")
		developer.open(t, "/keys")
		developer.shot(t, "keys-suspended-reason")
		if b := developer.body(t); !strings.Contains(b, "owner_suspended") || !strings.Contains(b, why) {
			t.Fatalf("the holder's diagnosis does not give the reason %q:\n%s", why, b)
		}
		operator.do(t, chromedp.SendKeys(chromedp.CSS("#status-reason"), "recovered"))
		operator.click(t, "#toggle-status")
		if status := operator.text(t, "#principal-status"); status != "active" {
			t.Fatalf("after Resume the principal page shows %q", status)
		}
		if h := operator.text(t, "td.reason"); h != "recovered" {
			t.Fatalf("the status history's latest reason is %q, want recovered", h)
		}
	})

	t.Run("client secret shown once", func(t *testing.T) {
		developer.open(t, "/clients")
		developer.do(t, chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "billing-worker"),
			chromedp.SendKeys(chromedp.CSS(`input[name="scopes"]`), "orders:read"))
		developer.click(t, "#create-client")
		developer.shot(t, "client-created")
		secret, curl := developer.text(t, "#secret-value"), developer.text(t, "#curl-line")
		m := regexp.MustCompile(`-u (cli_[A-Za-z0-9_]+):`).FindStringSubmatch(curl)
		if secret == "" || m == nil || !strings.Contains(curl, secret) {
			t.Fatalf("secret %q, curl line %q", secret, curl)
		}
		r := e.Post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, m[1], secret)
		if r.Status != http.StatusOK || r.Str("access_token") == "" {
			t.Fatalf("the shown secret does not obtain a token: %d %s", r.Status, r.Raw)
		}
		developer.open(t, "/clients")
		if h := developer.html(t); strings.Contains(h, secret) || !strings.Contains(h, m[1]) {
			t.Fatal("the client list shows the secret again, or not the client")
		}
		developer.do(t, chromedp.Reload(), chromedp.WaitReady(chromedp.CSS("body")))
		if h := developer.html(t); strings.Contains(h, secret) {
			t.Fatal("a reload shows the secret again")
		}
		developer.shot(t, "clients")
	})

	t.Run("each secret's last use", func(t *testing.T) {
		// A client, its secret used, rotated on the page with an overlap:
		// the old secret, then the new one, obtain tokens, and the page
		// shows each secret's own last use (and the admin API the same).
		developer.open(t, "/clients")
		developer.do(t, chromedp.SendKeys(chromedp.CSS(`input[name="name"]`), "rotating-worker"),
			chromedp.SendKeys(chromedp.CSS(`input[name="scopes"]`), "orders:read"))
		developer.click(t, "#create-client")
		id := regexp.MustCompile(`-u (cli_[A-Za-z0-9_]+):`).FindStringSubmatch(developer.text(t, "#curl-line"))[1]
		oldSecret := developer.text(t, "#secret-value")
		developer.open(t, "/clients")
		developer.do(t, chromedp.SetValue(chromedp.CSS(`tr[data-client="`+id+`"] select[name="overlap_hours"]`), "1"))
		developer.click(t, `tr[data-client="`+id+`"] button.rotate`)
		newSecret := developer.text(t, "#secret-value")
		if newSecret == "" || newSecret == oldSecret || !strings.Contains(developer.body(t), "previous secret keeps working until") {
			t.Fatalf("after rotation the page shows %q:\n%s", newSecret, developer.body(t))
		}
		token := func(secret string) time.Time {
			t.Helper()
			at := e.Clock.Now()
			if r := e.Post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, id, secret); r.Status != http.StatusOK {
				t.Fatalf("token with a secret of the overlap: %d %s", r.Status, r.Raw)
			}
			e.Clock.Advance(3 * time.Minute)
			return at.UTC().Truncate(time.Microsecond)
		}
		oldAt := token(oldSecret)
		newAt := token(newSecret)
		if err := e.Srv.Usage.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		cl := must[apiv1.Client](t)(a.GetClient(ctx, id))
		want := map[string]time.Time{}
		for _, sec := range cl.Secrets {
			if sec.ExpiresAt != nil {
				want[sec.ID] = oldAt
			} else {
				want[sec.ID] = newAt
			}
			if sec.LastUsedAt == nil || !sec.LastUsedAt.Equal(want[sec.ID]) {
				t.Fatalf("admin API: secret %s last used %v, want %v", sec.ID, sec.LastUsedAt, want[sec.ID])
			}
		}
		if len(want) != 2 {
			t.Fatalf("after a rotation with overlap the client has %d secrets: %+v", len(want), cl.Secrets)
		}
		developer.open(t, "/clients")
		developer.shot(t, "client-secrets-last-use")
		h := developer.html(t)
		for sec, at := range want {
			m := regexp.MustCompile(`data-secret="` + sec + `".*?data-last-used="([^"]*)">([^<]*)<`).FindStringSubmatch(h)
			if m == nil {
				t.Fatalf("the page has no last use of secret %s:\n%s", sec, h)
			}
			got, err := time.Parse(time.RFC3339Nano, m[1])
			if err != nil || !got.Equal(at) || m[2] != at.Format("2006-01-02 15:04 UTC") {
				t.Fatalf("the page says secret %s was last used %q (%s), want %v", sec, m[1], m[2], at)
			}
		}
	})

	t.Run("operator reassigns an orphan", func(t *testing.T) {
		must[apiv1.Principal](t)(a.DeletePrincipal(ctx, leaver.ID))
		if r := e.Exchange(leaverKey.Key, nil, "", ""); r.Status == http.StatusOK {
			t.Fatal("an orphaned key exchanged")
		}
		operator.open(t, "/orphans")
		operator.shot(t, "orphans")
		if b := operator.body(t); !strings.Contains(b, leaverKey.ID) || !strings.Contains(b, "owner_deleted") {
			t.Fatalf("orphans page:\n%s", b)
		}
		operator.open(t, "/orphans/"+leaverKey.ID+"/reassign")
		operator.do(t, chromedp.SetValue(chromedp.CSS("#owner"), svc.ID))
		operator.shot(t, "orphan-confirm")
		operator.click(t, "#confirm")
		if b := operator.body(t); !strings.Contains(b, "reassigned to "+svc.ID) {
			t.Fatalf("after reassign:\n%s", b)
		}
		if r := e.Exchange(leaverKey.Key, nil, "", ""); r.Status != http.StatusOK {
			t.Fatalf("the reassigned key does not exchange: %d %s", r.Status, r.Raw)
		}
		k := must[apiv1.LegacyKey](t)(a.GetKey(ctx, leaverKey.ID))
		if k.OwnerID != svc.ID {
			t.Fatalf("key owner %s, want %s", k.OwnerID, svc.ID)
		}
	})

	t.Run("operator deletes a principal after its dry run", func(t *testing.T) {
		const why = "contract ended (HR-77)"
		gone := must[apiv1.Principal](t)(a.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: acme.Tenant.ID, Kind: "user", Name: "contractor"}))
		goneKey := e.IssueKey(gone.ID, []string{"orders:read"}, 0)
		operator.open(t, "/principals/"+gone.ID)
		operator.do(t, chromedp.SendKeys(chromedp.CSS("#delete-reason"), why))
		operator.click(t, "#delete")
		operator.shot(t, "principal-delete-confirm")
		// The confirmation page is the offboarding dry run: it lists the
		// key that stops working and changes nothing.
		if h := operator.html(t); !strings.Contains(h, `data-credential="`+goneKey.ID+`"`) || !strings.Contains(h, "cannot be undone") {
			t.Fatalf("the delete confirmation page does not list %s:\n%s", goneKey.ID, h)
		}
		if p := must[apiv1.Principal](t)(a.GetPrincipal(ctx, gone.ID)); p.Status != "active" {
			t.Fatalf("the dry run changed the principal: %s", p.Status)
		}
		if v := value(t, operator, chromedp.Value(chromedp.CSS("#reason"))); v != why {
			t.Fatalf("the confirmation page carries reason %q", v)
		}
		operator.click(t, "#confirm")
		if status := operator.text(t, "#principal-status"); status != "deleted" {
			t.Fatalf("after Delete the principal page shows %q", status)
		}
		if h := operator.html(t); strings.Contains(h, `id="delete"`) || strings.Contains(h, `id="toggle-status"`) {
			t.Fatal("a deleted principal's page still offers actions")
		}
		evs := must[apiv1.List[apiv1.AuditEvent]](t)(a.ListAudit(ctx, adminclient.AuditFilter{Target: "principal:" + gone.ID, Action: "principal.delete"}))
		if len(evs.Items) != 1 || evs.Items[0].Actor != "console:"+op.ID || !strings.Contains(string(evs.Items[0].Details), why) {
			t.Fatalf("delete audit events: %+v", evs.Items)
		}
		if r := e.Exchange(goneKey.Key, nil, "", ""); r.Status == http.StatusOK || r.Str("error_code") != "owner_deleted" {
			t.Fatalf("the deleted principal's key: %d %s", r.Status, r.Raw)
		}
		operator.open(t, "/orphans")
		if b := operator.body(t); !strings.Contains(b, goneKey.ID) {
			t.Fatalf("the deleted principal's key is not an orphan:\n%s", b)
		}
		operator.shot(t, "orphans-after-delete")
	})

	t.Run("audit paging", func(t *testing.T) {
		// The console's pages are the admin API's listing, page by page,
		// following the same cursor: the same events in the same order.
		const size = 4
		want := must[apiv1.List[apiv1.AuditEvent]](t)(a.ListAudit(ctx, adminclient.AuditFilter{TenantID: acme.Tenant.ID, Page: adminclient.Page{Limit: 3 * size}}))
		if len(want.Items) < 3*size {
			t.Fatalf("only %d audit events of acme", len(want.Items))
		}
		operator.open(t, "/audit?tenant_id="+acme.Tenant.ID+"&limit="+strconv.Itoa(size))
		seqRE := regexp.MustCompile(`<tr class="event" data-tenant="[^"]*" data-seq="(\d+)"`)
		for pg := range 3 {
			h := operator.html(t)
			got := seqRE.FindAllStringSubmatch(h, -1)
			if len(got) != size {
				t.Fatalf("page %d shows %d events, want %d:\n%s", pg+1, len(got), size, h)
			}
			for i, m := range got {
				if w := strconv.FormatInt(want.Items[pg*size+i].Seq, 10); m[1] != w {
					t.Fatalf("page %d event %d: seq %s, the admin API's listing has %s", pg+1, i, m[1], w)
				}
			}
			if pg == 1 {
				operator.shot(t, "audit-page-2")
			}
			operator.click(t, "#next-page")
		}
		operator.click(t, "#first-page")
		if m := seqRE.FindStringSubmatch(operator.html(t)); m == nil || m[1] != strconv.FormatInt(want.Items[0].Seq, 10) {
			t.Fatalf("the first page link does not lead back to the first event: %v", m)
		}
	})

	t.Run("tenant admin stays in its tenant", func(t *testing.T) {
		tenantAdmin.signIn(t, ta.ID)
		for _, path := range []string{"/principals/" + dev.ID, "/keys/" + devKey.ID, "/orphans/" + devKey.ID + "/revoke"} {
			tenantAdmin.open(t, path)
			if b := tenantAdmin.body(t); !strings.Contains(b, "Not found") {
				t.Fatalf("tenant admin of globex typed %s and got:\n%s", path, b)
			}
			if code, _ := e.get(t, path, tenantAdmin.cookie(t)); code != http.StatusNotFound {
				t.Fatalf("GET %s: %d, want 404", path, code)
			}
		}
		tenantAdmin.shot(t, "forbidden-other-tenant")
		tenantAdmin.open(t, "/audit?tenant_id="+acme.Tenant.ID)
		if h := tenantAdmin.html(t); strings.Contains(h, acme.Tenant.ID+`"`) && strings.Contains(h, `data-tenant="`+acme.Tenant.ID) {
			t.Fatal("the audit page shows another tenant's events")
		}
		tenantAdmin.open(t, "/audit")
		if h := tenantAdmin.html(t); strings.Contains(h, `data-tenant="`+acme.Tenant.ID) || !strings.Contains(h, `data-tenant="`+globex.Tenant.ID) {
			t.Fatal("the tenant admin's audit trail is not exactly its tenant's")
		}
		tenantAdmin.shot(t, "audit-tenant-admin")
		tenantAdmin.open(t, "/principals/"+globex.Owner.ID)
		csrf, ck := tenantAdmin.csrf(t), tenantAdmin.cookie(t)
		before := must[apiv1.Principal](t)(a.GetPrincipal(ctx, dev.ID))
		if code, _ := e.post(t, "/principals/"+dev.ID+"/suspend", ck, url.Values{"csrf": {csrf}}, e.console); code != http.StatusNotFound {
			t.Fatalf("tenant admin suspending another tenant's principal: %d", code)
		}
		if code, _ := e.post(t, "/orphans/"+devKey.ID+"/revoke", ck, url.Values{"csrf": {csrf}, "confirm": {"yes"}, "reason": {"mischief"}}, e.console); code != http.StatusNotFound {
			t.Fatalf("tenant admin revoking another tenant's key: %d", code)
		}
		after := must[apiv1.Principal](t)(a.GetPrincipal(ctx, dev.ID))
		k := must[apiv1.LegacyKey](t)(a.GetKey(ctx, devKey.ID))
		if after.Status != before.Status || k.Status != "active" {
			t.Fatalf("another tenant's objects changed: principal %s, key %s", after.Status, k.Status)
		}
		// Its own tenant works.
		tenantAdmin.open(t, "/keys/"+globexKey.ID)
		if b := tenantAdmin.body(t); !strings.Contains(b, globexKey.ID) || strings.Contains(b, "Not found") {
			t.Fatalf("tenant admin cannot see its own tenant's key:\n%s", b)
		}

		// A plain principal sees only its own keys.
		developer.open(t, "/keys/"+svcKey.ID)
		if b := developer.body(t); !strings.Contains(b, "Not found") {
			t.Fatalf("a plain principal opened another principal's key:\n%s", b)
		}
		developer.open(t, "/dashboard")
		if b := developer.body(t); !strings.Contains(b, "Not allowed") {
			t.Fatalf("a plain principal opened the dashboard:\n%s", b)
		}
		developer.open(t, "/keys")
		if b := developer.body(t); strings.Contains(b, svcKey.ID) || strings.Contains(b, leaverKey.ID) {
			t.Fatalf("a plain principal's keys page lists others' keys:\n%s", b)
		}
	})

	t.Run("CSRF and origin", func(t *testing.T) {
		developer.open(t, "/clients")
		devCSRF, devCookie := developer.csrf(t), developer.cookie(t)
		tenantAdmin.open(t, "/")
		taCSRF := tenantAdmin.csrf(t)
		count := func() int {
			return len(must[apiv1.List[apiv1.Client]](t)(a.ListClients(ctx, adminclient.ClientFilter{OwnerID: dev.ID})).Items)
		}
		n := count()
		form := func(csrf string) url.Values {
			v := url.Values{"name": {"forged"}}
			if csrf != "" {
				v.Set("csrf", csrf)
			}
			return v
		}
		for _, c := range []struct {
			name, csrf, origin string
		}{
			{"no token", "", e.console},
			{"another session's token", taCSRF, e.console},
			{"another origin", devCSRF, "http://evil.example"},
		} {
			code, body := e.post(t, "/clients", devCookie, form(c.csrf), c.origin)
			if code != http.StatusForbidden || !strings.Contains(body, "forbidden") {
				t.Fatalf("%s: %d\n%s", c.name, code, body)
			}
		}
		if got := count(); got != n {
			t.Fatalf("refused POSTs created clients: %d → %d", n, got)
		}
		// The same form, right, is accepted: the refusals above were the
		// checks, not a broken form.
		if code, _ := e.post(t, "/clients", devCookie, form(devCSRF), e.console); code != http.StatusCreated {
			t.Fatalf("a correct POST: %d", code)
		}
	})

	t.Run("dashboard equals the migration report", func(t *testing.T) {
		// Key uses reach the store every 5 s: flushed now, the page and the
		// report below read the same last_used_at (else the holder states
		// may change between them).
		if err := e.Srv.Usage.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		operator.open(t, "/dashboard")
		operator.shot(t, "dashboard")
		rep := must[legacykeys.MigrationReport](t)(a.MigrationReport(ctx, ""))
		h := operator.html(t)
		for _, tm := range rep.Tenants {
			row := regexp.MustCompile(`(?s)<tr class="tenant" data-tenant="` + tm.TenantID + `">(.*?)</tr>`).FindStringSubmatch(h)
			if row == nil {
				t.Fatalf("tenant %s missing from the dashboard", tm.TenantID)
			}
			for _, st := range []legacykeys.HolderState{legacykeys.HolderLegacyOnly, legacykeys.HolderDual, legacykeys.HolderTokenOnly, legacykeys.HolderRetired} {
				want := `data-state="` + string(st) + `">` + strconv.Itoa(tm.Holders[st]) + `<`
				if !strings.Contains(row[1], want) {
					t.Fatalf("tenant %s %s: dashboard row %s, want %d", tm.TenantID, st, row[1], tm.Holders[st])
				}
			}
			if !strings.Contains(row[1], `data-col="active_keys">`+strconv.FormatInt(tm.ActiveKeys, 10)+`<`) {
				t.Fatalf("tenant %s active keys differ: %s vs %d", tm.TenantID, row[1], tm.ActiveKeys)
			}
		}
		// The history line: one point per recorded day and state, the
		// tenant's seeded rows.
		today := e.Clock.Now().UTC().Truncate(24 * time.Hour)
		seed := []store.MigrationDay{
			{TenantID: globex.Tenant.ID, Day: today.AddDate(0, 0, -2), Counts: map[string]int64{string(legacykeys.HolderLegacyOnly): 7, string(legacykeys.HolderTokenOnly): 1}, ActiveKeys: 7, UpdatedAt: today.AddDate(0, 0, -2)},
			{TenantID: globex.Tenant.ID, Day: today.AddDate(0, 0, -1), Counts: map[string]int64{string(legacykeys.HolderLegacyOnly): 5, string(legacykeys.HolderTokenOnly): 3}, ActiveKeys: 5, UpdatedAt: today.AddDate(0, 0, -1)},
		}
		if err := e.Srv.Store.PutMigrationDays(ctx, seed); err != nil {
			t.Fatal(err)
		}
		figure := func() int {
			t.Helper()
			operator.open(t, "/dashboard?tenant_id="+globex.Tenant.ID)
			n, err := strconv.Atoi(operator.text(t, "#exchanged-24h"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := figure()
		h = operator.html(t)
		for _, sd := range seed {
			for st, v := range map[string]int64{string(legacykeys.HolderLegacyOnly): sd.Counts[string(legacykeys.HolderLegacyOnly)], string(legacykeys.HolderTokenOnly): sd.Counts[string(legacykeys.HolderTokenOnly)], string(legacykeys.HolderDual): 0} {
				want := `data-state="` + st + `" data-day="` + sd.Day.Format(time.DateOnly) + `" data-value="` + strconv.FormatInt(v, 10) + `"`
				if !strings.Contains(h, want) {
					t.Fatalf("the history line has no point %s:\n%s", want, h)
				}
			}
		}
		if n := strings.Count(h, `class="point"`); n != 2*4 {
			t.Fatalf("the history line has %d points, want 8 (2 days, 4 states)", n)
		}
		for range 2 {
			if r := e.Exchange(globexKey.Key, nil, "", ""); r.Status != http.StatusOK {
				t.Fatalf("exchange: %d %s", r.Status, r.Raw)
			}
		}
		if r := e.Exchange("bogus-key-"+globexKey.ID, nil, "", ""); r.Status == http.StatusOK {
			t.Fatal("a bogus key was exchanged")
		}
		if after := figure(); after != before+2 {
			t.Fatalf("keys exchanged in 24 hours: %d, then %d after 2 exchanges", before, after)
		}
		operator.shot(t, "dashboard-history")
		// The refusals page's chart and totals are the token endpoint's
		// counter authz_token_requests_total{outcome="refused"}, counted
		// per tenant and flushed to the store: after a flush, the chart's
		// sums per error_code are the counter's values (this server is the
		// only replica and its registry started with it), for malformed
		// requests too, which the audit log writes only as samples.
		if err := e.Srv.Usage.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		refBefore := refusalChart(t, operator, true)
		taBefore := refusalChart(t, tenantAdmin, false)
		ctrBefore := refusedCounters(t, e.Srv.Registry)
		caused := map[string]int{}
		refuse := func(r servertest.Response) string {
			t.Helper()
			code := r.Str("error_code")
			if r.Status == http.StatusOK || code == "" {
				t.Fatalf("a request meant to be refused: %d %s", r.Status, r.Raw)
			}
			caused[code]++
			return code
		}
		for range 2 { // malformed: no grant_type
			refuse(e.Post("/oauth2/token", url.Values{"scope": {"x"}}, "", ""))
		}
		// Well-formed: a wrong client secret, and a globex key asking for
		// a scope it was not granted (globex's own refusal).
		cl, _ := e.MkClient(e.MkPrincipal(acme.Tenant.ID, "refused-client", store.KindService), nil)
		refuse(e.Post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, cl.ID, "wrong-secret"))
		globexCode := refuse(e.Exchange(globexKey.Key, url.Values{"scope": {"payroll:admin"}}, "", ""))
		if err := e.Srv.Usage.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		refAfter := refusalChart(t, operator, true)
		ctr := refusedCounters(t, e.Srv.Registry)
		if len(caused) < 3 {
			t.Fatalf("the refusals caused only %d error codes: %v", len(caused), caused)
		}
		for code, n := range caused {
			if d := ctr[code] - ctrBefore[code]; d < float64(n) {
				t.Fatalf("the counter for %s rose by %v after %d such refusals", code, d, n)
			}
		}
		for _, m := range []map[string]float64{ctr, ctrBefore} {
			for code := range m {
				if _, ok := caused[code]; !ok {
					caused[code] = 0
				}
			}
		}
		for code := range caused {
			if refAfter[code]-refBefore[code] != int(ctr[code]-ctrBefore[code]) || refAfter[code] != int(ctr[code]) {
				t.Fatalf("refusals chart for %s: %d then %d; the counter: %v then %v", code, refBefore[code], refAfter[code], ctrBefore[code], ctr[code])
			}
		}
		if len(refAfter) != len(ctr) {
			t.Fatalf("the chart has %d error codes (%v), the counter %d (%v)", len(refAfter), refAfter, len(ctr), ctr)
		}
		operator.shot(t, "refusals")
		// A tenant admin of globex sees globex's refusals only: its own
		// key's refusal, not acme's wrong secret nor the malformed
		// requests of no known tenant.
		taAfter := refusalChart(t, tenantAdmin, false)
		for code := range caused {
			want := 0
			if code == globexCode {
				want = 1
			}
			if taAfter[code]-taBefore[code] != want {
				t.Fatalf("globex's tenant admin's chart for %s: %d then %d, want +%d", code, taBefore[code], taAfter[code], want)
			}
		}
		mine := must[[]store.RefusalCount](t)(e.Srv.Store.ListRefusalCounts(ctx, store.RefusalFilter{TenantID: globex.Tenant.ID, Since: time.Time{}}))
		sums := map[string]int{}
		for _, rc := range mine {
			sums[rc.ErrorCode] += int(rc.N)
		}
		if !maps.Equal(sums, taAfter) {
			t.Fatalf("globex's tenant admin's chart %v, globex's refusal counts %v", taAfter, sums)
		}
		if _, ok := taAfter["owner_suspended"]; ok && sums["owner_suspended"] == 0 {
			t.Fatalf("globex's tenant admin sees acme's owner_suspended refusals: %v", taAfter)
		}
		// Its "since this replica started" table is the token endpoint's
		// counter, gathered from the server's own registry: N refused
		// requests of one error_code (malformed ones, which the audit log
		// writes only as samples) raise both by N.
		const n = 3
		code := ""
		for i := range n {
			r := e.Post("/oauth2/token", url.Values{"grant_type": {"urn:example:no-such-grant"}}, "", "")
			if r.Status == http.StatusOK || r.Str("error_code") == "" || (i > 0 && r.Str("error_code") != code) {
				t.Fatalf("an unknown grant type: %d %s", r.Status, r.Raw)
			}
			code = r.Str("error_code")
		}
		operator.open(t, "/refusals")
		h = operator.html(t)
		live := regexp.MustCompile(`<td class="num" data-code="([a-z_]*)">(\d+)<`).FindAllStringSubmatch(h, -1)
		counters := refusedCounters(t, e.Srv.Registry)
		if counters[code] < n {
			t.Fatalf("authz_token_requests_total{outcome=\"refused\",error_code=%q} = %v after %d such refusals", code, counters[code], n)
		}
		if len(live) != len(counters) {
			t.Fatalf("the counter table has %d rows, the registry %d error codes (%v):\n%s", len(live), len(counters), counters, h)
		}
		seen := false
		for _, r := range live {
			if strconv.FormatFloat(counters[r[1]], 'f', -1, 64) != r[2] {
				t.Fatalf("the counter table says %s %s, the registry %v", r[1], r[2], counters[r[1]])
			}
			seen = seen || r[1] == code
		}
		if !seen {
			t.Fatalf("the counter table has no row for %s:\n%s", code, h)
		}
		// The counter is every tenant's: a tenant admin does not see it.
		tenantAdmin.open(t, "/refusals")
		if h := tenantAdmin.html(t); !strings.Contains(h, "Refusals by error_code") || strings.Contains(h, "refusal-counters") {
			t.Fatalf("a tenant admin's refusals page, with or without the process-wide counters:\n%s", h)
		}
		for _, p := range []string{"/audit", "/refusals"} {
			operator.open(t, p)
			operator.shot(t, strings.TrimPrefix(p, "/"))
		}
		developer.open(t, "/usage")
		developer.shot(t, "usage")
	})

	t.Run("bad input", func(t *testing.T) {
		operator.open(t, "/orphans")
		opCookie, opCSRF := operator.cookie(t), operator.csrf(t)
		developer.open(t, "/clients")
		devCookie, devCSRF := developer.cookie(t), developer.csrf(t)
		before := must[apiv1.LegacyKey](t)(a.GetKey(ctx, svcKey.ID))
		for _, c := range []struct {
			name, method, path, cookie string
			form                       url.Values
			status                     int
			says                       string
		}{
			{"unknown key", "GET", "/keys/key_nope", opCookie, nil, 404, "no key"},
			{"unknown principal", "GET", "/principals/prn_nope", opCookie, nil, 404, "prn_nope"},
			{"unknown page", "GET", "/nope", opCookie, nil, 404, "no such page"},
			{"malformed audit filter", "GET", "/audit?since=yesterday", opCookie, nil, 400, "since"},
			{"plain principal on an operator page", "GET", "/orphans", devCookie, nil, 403, "administrators"},
			{"signed out", "GET", "/keys", "", nil, 403, "not signed in"},
			{"unknown session", "GET", "/keys", "forged-session", nil, 403, "not signed in"},
			{"resume a deleted principal", "POST", "/principals/" + leaver.ID + "/resume", opCookie, url.Values{"csrf": {opCSRF}}, 409, "deleted"},
			{"unconfirmed suspension", "POST", "/principals/" + svc.ID + "/suspend", opCookie, url.Values{"csrf": {opCSRF}, "reason": {"x"}}, 400, "not confirmed"},
			{"unknown principal action", "POST", "/principals/" + svc.ID + "/explode", opCookie, url.Values{"csrf": {opCSRF}}, 404, "explode"},
			{"unknown orphan action", "POST", "/orphans/" + svcKey.ID + "/explode", opCookie, url.Values{"csrf": {opCSRF}}, 404, "explode"},
			{"unconfirmed reassign", "POST", "/orphans/" + svcKey.ID + "/reassign", opCookie, url.Values{"csrf": {opCSRF}, "owner_id": {dev.ID}}, 400, "not confirmed"},
			{"reassign to nobody", "POST", "/orphans/" + svcKey.ID + "/reassign", opCookie, url.Values{"csrf": {opCSRF}, "confirm": {"yes"}}, 400, "Choose"},
			{"reassign to an unknown principal", "POST", "/orphans/" + svcKey.ID + "/reassign", opCookie, url.Values{"csrf": {opCSRF}, "confirm": {"yes"}, "owner_id": {"prn_nope"}}, 404, "prn_nope"},
			{"client name too long", "POST", "/clients", devCookie, url.Values{"csrf": {devCSRF}, "name": {strings.Repeat("x", 300)}}, 400, "name"},
			{"rotate another's client", "POST", "/clients/cli_nope/rotate", devCookie, url.Values{"csrf": {devCSRF}}, 404, "cli_nope"},
			{"rotate with a bad overlap", "POST", "/clients/cli_nope/rotate", devCookie, url.Values{"csrf": {devCSRF}, "overlap_hours": {"-3"}}, 400, "overlap"},
			{"unconfirmed deletion", "POST", "/principals/" + svc.ID + "/delete", opCookie, url.Values{"csrf": {opCSRF}, "reason": {"x"}}, 400, "not confirmed"},
			{"deletion without a reason", "POST", "/principals/" + svc.ID + "/delete", opCookie, url.Values{"csrf": {opCSRF}, "confirm": {"yes"}}, 400, "needs a reason"},
			{"delete a deleted principal", "POST", "/principals/" + leaver.ID + "/delete", opCookie, url.Values{"csrf": {opCSRF}, "confirm": {"yes"}, "reason": {"again"}}, 409, "deleted"},
			{"delete an unknown principal", "GET", "/principals/prn_nope/delete", opCookie, nil, 404, "prn_nope"},
			{"plain principal deletes", "POST", "/principals/" + svc.ID + "/delete", devCookie, url.Values{"csrf": {devCSRF}, "confirm": {"yes"}, "reason": {"x"}}, 403, "administrators"},
			{"forged audit cursor", "GET", "/audit?after=not-a-cursor", opCookie, nil, 400, "after"},
			{"audit page size out of range", "GET", "/audit?limit=0", opCookie, nil, 400, "limit"},
		} {
			var code int
			var body string
			if c.method == "GET" {
				code, body = e.get(t, c.path, c.cookie)
			} else {
				code, body = e.post(t, c.path, c.cookie, c.form, e.console)
			}
			if code != c.status || !strings.Contains(body, c.says) || !strings.Contains(body, "<h1>") {
				t.Fatalf("%s: %d, want %d saying %q:\n%s", c.name, code, c.status, c.says, body)
			}
		}
		if p := must[apiv1.Principal](t)(a.GetPrincipal(ctx, svc.ID)); p.Status != "active" {
			t.Fatalf("refused deletions changed the service principal: %s", p.Status)
		}
		if after := must[apiv1.LegacyKey](t)(a.GetKey(ctx, svcKey.ID)); after.OwnerID != before.OwnerID || after.Status != before.Status {
			t.Fatalf("refused actions changed the key: %+v", after)
		}
		code, _ := e.get(t, "/orphans/"+svcKey.ID+"/reassign", opCookie)
		if code != http.StatusOK {
			t.Fatalf("the confirmation page: %d", code)
		}
	})

	t.Run("OIDC sign-in", func(t *testing.T) {
		// A developer known to the company's identity provider as
		// idp|grace, which is her principal's external_id.
		grace := must[apiv1.Principal](t)(a.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: acme.Tenant.ID, Kind: "user", Name: "grace", ExternalID: "idp|grace"}))
		must[apiv1.Binding](t)(a.Bind(ctx, acme.Role.ID, grace.ID))
		graceKey := e.IssueKey(grace.ID, []string{"orders:read"}, 0)
		idp.as("idp|grace", nil, "")
		p := e.person()
		p.open(t, "/signin")
		p.shot(t, "signin-oidc")
		p.do(t, chromedp.Click(chromedp.CSS("#signin-oidc")))
		// Through the provider and back to the console's home page.
		p.waitFor(t, `location.pathname === "/" && document.body.innerText.includes("Welcome")`)
		if b := p.body(t); !strings.Contains(b, "Welcome, grace") || !strings.Contains(b, grace.ID) {
			t.Fatalf("after the OIDC sign-in:\n%s", b)
		}
		p.shot(t, "home-oidc")
		p.open(t, "/keys")
		if b := p.body(t); !strings.Contains(b, graceKey.ID) {
			t.Fatalf("the holder's keys page after an OIDC sign-in:\n%s", b)
		}
		evs := must[apiv1.List[apiv1.AuditEvent]](t)(a.ListAudit(ctx, adminclient.AuditFilter{Action: "console.signin", Target: "principal:" + grace.ID}))
		if len(evs.Items) != 1 || evs.Items[0].Actor != "console:"+grace.ID {
			t.Fatalf("OIDC sign-in audit events: %+v", evs.Items)
		}
		// A wrong nonce and a wrong state are refused, and sign no one in.
		for _, c := range []struct{ fault, says string }{{"nonce", "nonce"}, {"state", "state does not match"}} {
			idp.as("idp|grace", nil, c.fault)
			q := e.person()
			q.open(t, "/signin")
			q.do(t, chromedp.Click(chromedp.CSS("#signin-oidc")))
			q.waitFor(t, `location.pathname === "/oidc/callback"`)
			if b := q.body(t); !strings.Contains(b, "Not allowed") || !strings.Contains(b, c.says) {
				t.Fatalf("a sign-in with a wrong %s:\n%s", c.fault, b)
			}
			q.shot(t, "oidc-refused-"+c.fault)
			q.open(t, "/keys")
			if b := q.body(t); !strings.Contains(b, "not signed in") {
				t.Fatalf("a refused OIDC sign-in left a session:\n%s", b)
			}
		}
		idp.as("", nil, "")
		if evs := must[apiv1.List[apiv1.AuditEvent]](t)(a.ListAudit(ctx, adminclient.AuditFilter{Action: "console.signin", Target: "principal:" + grace.ID})); len(evs.Items) != 1 {
			t.Fatalf("refused sign-ins were audited as sign-ins: %+v", evs.Items)
		}
	})

	t.Run("one-time link", func(t *testing.T) {
		fresh := e.person()
		link := fresh.signIn(t, svc.ID)
		other := e.person()
		other.useLink(t, link)
		if b := other.body(t); !strings.Contains(b, "already used") {
			t.Fatalf("a used link signed in again:\n%s", b)
		}
		other.shot(t, "link-used")
		l := must[apiv1.ConsoleLink](t)(a.CreateConsoleLink(ctx, svc.ID, time.Minute))
		e.Clock.Advance(2 * time.Minute)
		other.useLink(t, l.URL)
		if b := other.body(t); !strings.Contains(b, "expired") || strings.Contains(b, "Welcome") {
			t.Fatalf("an expired link signed in:\n%s", b)
		}
		evs := must[apiv1.List[apiv1.AuditEvent]](t)(a.ListAudit(ctx, adminclient.AuditFilter{Action: "console.signin", Target: "principal:" + svc.ID}))
		if len(evs.Items) != 1 || evs.Items[0].Actor != "console:"+svc.ID {
			t.Fatalf("sign-in audit events of %s: %+v", svc.ID, evs.Items)
		}
		// Signing out ends the session on the server.
		ck := fresh.cookie(t)
		fresh.open(t, "/")
		fresh.click(t, `form.who button`)
		if code, _ := e.get(t, "/keys", ck); code != http.StatusForbidden {
			t.Fatalf("the session works after sign-out: %d", code)
		}
		// A session unused for longer than the idle timeout has ended.
		idle := e.person()
		idle.signIn(t, svc.ID)
		idleCookie := idle.cookie(t)
		e.Clock.Advance(31 * time.Minute)
		if code, body := e.get(t, "/keys", idleCookie); code != http.StatusForbidden || !strings.Contains(body, "session has ended") {
			t.Fatalf("an idle session still works: %d", code)
		}
	})
	t.Logf("screenshots in %s", e.shots)
}

// refusalChart opens the refusals page and sums its chart's bars per
// error_code (each bar's title is "<day> <code>: <n>"); the totals table
// below it must say the same.
func refusalChart(t *testing.T, b *person, wantRows bool) map[string]int {
	t.Helper()
	b.open(t, "/refusals")
	h := b.html(t)
	chart := map[string]int{}
	for _, m := range regexp.MustCompile(`<title>\d{4}-\d\d-\d\d ([a-z_]+): (\d+)</title>`).FindAllStringSubmatch(h, -1) {
		n, _ := strconv.Atoi(m[2])
		chart[m[1]] += n
	}
	rows := map[string]int{}
	for _, m := range regexp.MustCompile(`error_code=([a-z_]+)"><code>[a-z_]+</code></a></td><td class="num">(\d+)<`).FindAllStringSubmatch(h, -1) {
		n, _ := strconv.Atoi(m[2])
		rows[m[1]] = n
	}
	if !maps.Equal(chart, rows) || (wantRows && len(rows) == 0) {
		t.Fatalf("refusals chart %v, totals table %v:\n%s", chart, rows, h)
	}
	return chart
}

// refusedCounters reads authz_token_requests_total{outcome="refused"} from
// the registry directly, summed per error_code, to hold the page to.
func refusedCounters(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "authz_token_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, p := range m.GetLabel() {
				l[p.GetName()] = p.GetValue()
			}
			if l["outcome"] == "refused" {
				out[l["error_code"]] += m.GetCounter().GetValue()
			}
		}
	}
	return out
}
