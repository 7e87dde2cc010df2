package console

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// The session cookie follows the console URL: Secure with the __Host-
// prefix over https, never readable by script, never sent cross-site.
func TestSessionCookie(t *testing.T) {
	for _, c := range []struct {
		base, name string
		secure     bool
	}{
		{"https://console.example.com", "__Host-authz_console", true},
		{"http://127.0.0.1:8082", "authz_console", false},
	} {
		t.Run(c.base, func(t *testing.T) {
			st := storetest.OpenSQLite(t)
			ctx := t.Context()
			now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
			tn := store.Tenant{ID: "ten_a", Name: "a", Status: store.StatusActive, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now}
			p := store.Principal{ID: "prn_a", TenantID: tn.ID, Kind: store.KindUser, DisplayName: "a", ExternalID: "a", Status: store.StatusActive, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now}
			if err := st.CreateTenant(ctx, tn); err != nil {
				t.Fatal(err)
			}
			if err := st.CreatePrincipal(ctx, p); err != nil {
				t.Fatal(err)
			}
			links := NewLinks(c.base, func() time.Time { return now })
			con, err := New(Config{Store: st, Admin: http.NotFoundHandler(), Links: links, BaseURL: c.base, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			var link string
			if err := st.Tx(ctx, func(tx store.Tx) error {
				link, _, err = links.NewLink(ctx, tx, p.ID, "admin:test", time.Minute)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			u, _ := url.Parse(link)
			if u.Scheme+"://"+u.Host != c.base || u.Path != "/signin" {
				t.Fatalf("link %s", link)
			}
			hash := hashSecret(u.Query().Get("code"))
			if stored, err := st.GetConsoleSession(ctx, hash); err != nil || stored.Kind != store.ConsoleLink {
				t.Fatalf("the link's code is not stored as its hash: %+v %v", stored, err)
			}
			req := httptest.NewRequest("POST", c.base+"/signin", strings.NewReader(url.Values{"code": {u.Query().Get("code")}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", c.base)
			rec := httptest.NewRecorder()
			con.Handler().ServeHTTP(rec, req)
			cookies := rec.Result().Cookies()
			if rec.Code != http.StatusSeeOther || len(cookies) != 1 {
				t.Fatalf("sign-in: %d %s", rec.Code, rec.Body)
			}
			ck := cookies[0]
			if ck.Name != c.name || ck.Secure != c.secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Domain != "" {
				t.Fatalf("cookie %+v", ck)
			}
			// Only the session secret's hash is stored.
			if _, err := st.GetConsoleSession(ctx, ck.Value); err == nil {
				t.Fatal("the session secret is stored as it is")
			}
			if s, err := st.GetConsoleSession(ctx, hashSecret(ck.Value)); err != nil || s.Kind != store.ConsoleSessionKind || !s.ExpiresAt.Equal(now.Add(12*time.Hour)) {
				t.Fatalf("session %+v %v", s, err)
			}
		})
	}
}
