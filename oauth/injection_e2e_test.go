package oauth_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// Issue 22 §4: a client id that no client can have (control characters,
// a space, non-ASCII, too long) is refused as malformed, client_invalid in
// RFC 6749 JSON, and never becomes an audit actor or target; before the
// fix, the newline-and-escape id below was stored as both.
func TestMalformedClientIDNeverReachesTheAudit(t *testing.T) {
	e := servertest.Start(t, storetest.SQLiteURL(t))
	for _, tc := range []struct{ name, id string }{
		{"forged row", "x\n9999 admin:admin tenant.suspend success\x1b[1A\x1b[K"},
		{"tab", "cli_a\tb"},
		{"space", "cli a"},
		{"non-ASCII", "cli_é"},
		{"too long", strings.Repeat("c", store.MaxClientIDLen+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, basic := range []bool{false, true} {
				var r servertest.Response
				if basic {
					r = e.Post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, tc.id, "wrong")
				} else {
					r = e.Post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {tc.id}, "client_secret": {"wrong"}}, "", "")
				}
				servertest.WantError(t, r, http.StatusUnauthorized, "invalid_client", "client_invalid")
				if !strings.Contains(r.Str("error_description"), "malformed") {
					t.Fatalf("description %q", r.Str("error_description"))
				}
			}
		})
	}
	// The refusals are sampled (written asynchronously): wait for one,
	// then check that no event carries any of the ids.
	deadline := time.Now().Add(10 * time.Second)
	for {
		evs, _, err := e.Srv.Store.ListAudit(e.Ctx(), store.AuditFilter{Action: "token.refuse"}, store.Page{Limit: store.MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) > 0 {
			for _, ev := range evs {
				if strings.ContainsAny(ev.Actor+ev.Target, "\n\t\x1b é") || strings.Contains(ev.Actor+ev.Target, "ccccc") {
					t.Fatalf("audit event stores the malformed id: %+v", ev)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no token.refuse event was recorded")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Issue 22 §4: a 60 KB audience, refused, is audited with the text capped
// at audit.MaxRequestText bytes and its full length noted.
func TestRequestTextIsCappedInTheAudit(t *testing.T) {
	e := servertest.Start(t, storetest.SQLiteURL(t))
	f := e.Standard("acme")
	aud := "https://" + strings.Repeat("a", 60<<10)
	r := e.Post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "audience": {aud}}, f.Client.ID, f.Secret)
	servertest.WantError(t, r, http.StatusBadRequest, "invalid_target", "audience_not_granted")
	evs, _, err := e.Srv.Store.ListAudit(e.Ctx(), store.AuditFilter{Action: "token.refuse", Target: "client:" + f.Client.ID}, store.Page{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 {
		t.Fatalf("%d token.refuse events", len(evs))
	}
	var d map[string]string
	if err := json.Unmarshal(evs[0].Details, &d); err != nil {
		t.Fatal(err)
	}
	if len(evs[0].Details) > 2*audit.MaxRequestText+100 {
		t.Fatalf("details are %d bytes: %.300s", len(evs[0].Details), evs[0].Details)
	}
	reason := d["reason"]
	if !strings.HasPrefix(reason, "audience \"https://aaa") || !strings.HasSuffix(reason, fmt.Sprintf("…[%d bytes]", len(fullReason(aud)))) {
		t.Fatalf("reason %q: want the first %d bytes and the full length", reason, audit.MaxRequestText)
	}
}

// fullReason is the refusal's description for aud (policy.Effective).
func fullReason(aud string) string {
	return fmt.Sprintf("audience %q is not allowed for this client or key", aud)
}
