package main

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/store/storetest"
)

// The real binary: `authz serve --console-addr` serves the console, and
// `authz console link` prints a one-time sign-in URL that signs in once.
func TestConsoleLinkCLI(t *testing.T) {
	addr := freeAddr(t)
	c := startServerWith(t, storetest.SQLiteURL(t), "--console-addr", addr)
	var tn apiv1.Tenant
	c.json(&tn, "tenant", "create", "acme")
	var p apiv1.Principal
	c.json(&p, "principal", "create", "--tenant", tn.ID, "--name", "dev", "--kind", "user")

	link := strings.TrimSpace(c.ok("console", "link", "--principal", p.ID))
	if !strings.HasPrefix(link, "http://"+addr+"/signin?code=") {
		t.Fatalf("authz console link printed %q", link)
	}
	u, _ := url.Parse(link)
	code := u.Query().Get("code")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	signIn := func() *http.Response {
		req, _ := http.NewRequest("POST", "http://"+addr+"/signin", strings.NewReader(url.Values{"code": {code}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", "http://"+addr)
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	resp := signIn()
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "authz_console" {
			session = ck
		}
	}
	if resp.StatusCode != http.StatusSeeOther || session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode {
		t.Fatalf("sign-in: %d, cookie %+v", resp.StatusCode, session)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/keys", nil)
	req.AddCookie(session)
	page, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	if page.StatusCode != http.StatusOK || !strings.Contains(string(body), p.ID) || !strings.Contains(page.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET /keys: %d %v\n%s", page.StatusCode, page.Header, body)
	}
	if again := signIn(); again.StatusCode != http.StatusNotFound {
		t.Fatalf("a used link signed in again: %d", again.StatusCode)
	}

	c.fails(nil, "not_found", "console", "link", "--principal", "prn_nope")
	if r := c.run(nil, "console", "link", "--principal", p.ID, "--ttl", "48h"); r.code != 2 {
		t.Fatalf("--ttl 48h: exit %d, want 2 (usage)", r.code)
	}
	var l apiv1.ConsoleLink
	c.json(&l, "console", "link", "--principal", p.ID, "--ttl", "1h")
	if l.PrincipalID != p.ID || !strings.Contains(l.URL, "/signin?code=") || l.ExpiresAt.IsZero() {
		t.Fatalf("-o json: %+v", l)
	}
}
