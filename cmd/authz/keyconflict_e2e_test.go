package main

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
	"github.com/authz/authz/audit"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/policy"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/backends"
	"github.com/authz/authz/store/storetest"
)

// Issue 22 §1 end to end, on both backends, with the real binaries: tenant
// A's tenant admin knows only the SHA-256 of tenant B's key. In both
// orders of import, A's and B's tenant admins are each answered as for a
// new key (dry run and real), and the key is refused with key_conflict at
// the token endpoint and through `authz gateway --legacy-key-header`; never
// is a token issued for A's principal. `authz key resolve-conflict` gives
// the key back to B. On the code before the fix B's import said "already
// present" and the key was exchanged for A's principal.
func TestKeySquattingEndToEnd(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { squattingFlow(t, storetest.SQLiteURL(t)) })
	t.Run("postgres", func(t *testing.T) { squattingFlow(t, storetest.PostgresURL(t)) })
}

// conflictTenant is a tenant with a service principal holding orders:read
// and a tenant admin client of its own.
type conflictTenant struct {
	tenant apiv1.Tenant
	owner  apiv1.Principal
	admin  *adminclient.Client
}

func squattingFlow(t *testing.T, dbURL string) {
	srv := startServerWith(t, dbURL, "--status-list-ttl", statusTTL.String(), "--status-list-validity", statusValidity.String())
	sys := adminclient.New(srv.adminURL, bootstrapID, bootstrapSecret, adminclient.WithIssuer(srv.issuer))
	ctx := t.Context()
	mk := func(name string) conflictTenant {
		t.Helper()
		var c conflictTenant
		var err error
		if c.tenant, err = sys.CreateTenant(ctx, name); err != nil {
			t.Fatal(err)
		}
		if c.owner, err = sys.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: c.tenant.ID, Kind: "service", Name: name + "-svc", ExternalID: name + "-svc"}); err != nil {
			t.Fatal(err)
		}
		role, err := sys.CreateRole(ctx, apiv1.CreateRole{TenantID: c.tenant.ID, Name: "reader", Permissions: []string{"orders:read"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sys.Bind(ctx, role.ID, c.owner.ID); err != nil {
			t.Fatal(err)
		}
		ops, err := sys.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: c.tenant.ID, Kind: "service", Name: name + "-ops"})
		if err != nil {
			t.Fatal(err)
		}
		ar, err := sys.CreateRole(ctx, apiv1.CreateRole{TenantID: c.tenant.ID, Name: "tenant-admins", Permissions: []string{policy.PermTenantAdmin}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sys.Bind(ctx, ar.ID, ops.ID); err != nil {
			t.Fatal(err)
		}
		cl, err := sys.CreateClient(ctx, apiv1.CreateClient{TenantID: c.tenant.ID, OwnerID: ops.ID, Scopes: []string{policy.PermTenantAdmin}})
		if err != nil {
			t.Fatal(err)
		}
		c.admin = adminclient.New(srv.adminURL, cl.ID, cl.ClientSecret, adminclient.WithIssuer(srv.issuer))
		return c
	}
	platform := mk("platform")
	gw, err := sys.CreateClient(ctx, apiv1.CreateClient{TenantID: platform.tenant.ID, OwnerID: platform.owner.ID, GrantTypes: []string{store.GrantTokenExchange}})
	if err != nil {
		t.Fatal(err)
	}
	upstream := newBearerRecorder(t)
	gateway := startGateway(t, srv.issuer, upstream.srv.URL, gw.ID, gw.ClientSecret)

	// exchange asks the token endpoint, anonymously, and through the
	// gateway; it returns the principal the key acted for ("" if refused)
	// after checking that both paths agree on the refusal code.
	exchange := func(t *testing.T, key string, want errcode.Code) {
		t.Helper()
		form := url.Values{"grant_type": {store.GrantTokenExchange}, "subject_token": {key}, "subject_token_type": {apiKeyTokenType}}
		resp, err := http.PostForm(srv.issuer+"/oauth2/token", form)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		if want == "" {
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("exchange: %d %s", resp.StatusCode, raw)
			}
		} else if resp.StatusCode != http.StatusBadRequest || body["error_code"] != string(want) || body["error"] != "invalid_request" {
			t.Fatalf("exchange: %d %s, want 400 %s", resp.StatusCode, raw, want)
		}
		// A gateway that cached a token of the key before the conflict
		// drops it when the signed status list says so (the conflict
		// invalidates the key's tokens): within the list's ttl + 1 s.
		deadline := time.Now().Add(statusBound + time.Second)
		for {
			req, _ := http.NewRequest(http.MethodGet, gateway+"/orders", nil)
			req.Header.Set("X-API-Key", key)
			gresp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			graw, _ := io.ReadAll(gresp.Body)
			gresp.Body.Close()
			if want == "" {
				if gresp.StatusCode != http.StatusOK {
					t.Fatalf("through the gateway: %d %s", gresp.StatusCode, graw)
				}
				return
			}
			var gbody errcode.Body
			_ = json.Unmarshal(graw, &gbody)
			if gresp.StatusCode != http.StatusOK && gbody.Code == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("through the gateway: %d %s, want %s", gresp.StatusCode, graw, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// subjectOf exchanges key at the token endpoint and returns the
	// principal the token was issued for.
	subjectOf := func(t *testing.T, key string) string {
		t.Helper()
		tok, err := exchangeSubject(srv.issuer, key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	importOne := func(t *testing.T, c conflictTenant, row apiv1.ImportRow, dry bool) apiv1.ImportSummary {
		t.Helper()
		sum, err := c.admin.ImportKeys(ctx, []apiv1.ImportRow{row}, dry)
		if err != nil {
			t.Fatal(err)
		}
		return sum
	}
	asNew := func(t *testing.T, what string, sum apiv1.ImportSummary) {
		t.Helper()
		if sum.Imported != 1 || sum.AlreadyPresent != 0 || len(sum.Rejected) != 0 {
			t.Fatalf("%s: %+v, want what a new key gets: imported 1", what, sum)
		}
	}

	for _, order := range []string{"squatter first", "owner first"} {
		t.Run(order, func(t *testing.T) {
			a, b := mk("a-"+strings.Fields(order)[0]), mk("b-"+strings.Fields(order)[0])
			real := "sk_live_" + strings.Fields(order)[0] + "_0123456789"
			squat := apiv1.ImportRow{Line: 2, KeySHA256: sha256Hex(real), OwnerExternalID: a.owner.ExternalID}
			mine := apiv1.ImportRow{Line: 2, Key: real, OwnerExternalID: b.owner.ExternalID}
			if order == "squatter first" {
				asNew(t, "A's import", importOne(t, a, squat, false))
				asNew(t, "B's dry run", importOne(t, b, mine, true))
				asNew(t, "B's import", importOne(t, b, mine, false))
			} else {
				asNew(t, "B's import", importOne(t, b, mine, false))
				exchange(t, real, "")
				asNew(t, "A's dry run", importOne(t, a, squat, true))
				exchange(t, real, "") // the dry run changed nothing
				asNew(t, "A's import", importOne(t, a, squat, false))
			}
			exchange(t, real, errcode.KeyConflict)

			// B's tenant admin learns that its key is contested, not by whom.
			d, err := b.admin.DiagnoseKey(ctx, real)
			if err != nil {
				t.Fatal(err)
			}
			if d.Verdict != string(errcode.KeyConflict) || d.Key == nil || d.Key.TenantID != b.tenant.ID || d.Conflict == nil || d.Conflict.Hidden != 1 {
				t.Fatalf("B's diagnosis: %+v", d)
			}
			for _, cl := range d.Conflict.Claims {
				if cl.TenantID != b.tenant.ID {
					t.Fatalf("B's diagnosis names tenant %s", cl.TenantID)
				}
			}
			// The system admin's names both; resolve-conflict gives the key
			// to B.
			out := srv.ok("key", "diagnose", d.Key.ID)
			if !strings.Contains(out, a.tenant.ID) || !strings.Contains(out, b.tenant.ID) || !strings.Contains(out, "key_conflict") {
				t.Fatalf("system admin's diagnosis:\n%s", out)
			}
			if r := srv.run(nil, "key", "resolve-conflict", d.Key.ID); r.code != 2 && r.code != 1 {
				t.Fatalf("resolve-conflict without --tenant: exit %d", r.code)
			}
			out = srv.ok("key", "resolve-conflict", d.Key.ID, "--tenant", b.tenant.ID)
			if !strings.Contains(out, "kept") || !strings.Contains(out, "dropped") {
				t.Fatalf("resolve-conflict:\n%s", out)
			}
			if sub := subjectOf(t, real); sub != b.owner.ID {
				t.Fatalf("after resolution the key acts for %s, want B's %s", sub, b.owner.ID)
			}
			// A importing again does not reopen the conflict.
			if sum := importOne(t, a, squat, false); sum.AlreadyPresent != 1 {
				t.Fatalf("A's re-import: %+v", sum)
			}
			if sub := subjectOf(t, real); sub != b.owner.ID {
				t.Fatalf("after A's re-import the key acts for %s", sub)
			}
		})
	}
}

// exchangeSubject exchanges key anonymously and returns the token's sub.
func exchangeSubject(issuer, key string) (string, error) {
	form := url.Values{"grant_type": {store.GrantTokenExchange}, "subject_token": {key}, "subject_token_type": {apiKeyTokenType}}
	resp, err := http.PostForm(issuer+"/oauth2/token", form)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error_code"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", err
	}
	if body.AccessToken == "" {
		return "", &exchangeError{body.Error}
	}
	parts := strings.Split(body.AccessToken, ".")
	if len(parts) != 3 {
		return "", &exchangeError{"not a JWT"}
	}
	payload, err := decodePayload(parts[1])
	if err != nil {
		return "", err
	}
	var claims struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", err
	}
	return claims.Sub, nil
}

const apiKeyTokenType = "urn:authz:token-type:api-key"

func sha256Hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

func decodePayload(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

type exchangeError struct{ code string }

func (e *exchangeError) Error() string { return "exchange refused: " + e.code }

// Issue 22 §4 end to end: a client id made of a forged table row and a
// cursor-moving escape is refused as malformed and never becomes an audit
// actor; and an event that does carry control characters (written before
// the fix) is printed by `authz audit list` escaped, one line per event.
func TestAuditListEscapesInjectedText(t *testing.T) {
	dbURL := storetest.SQLiteURL(t)
	srv := startServer(t, dbURL)
	evil := "x\n9999  2026-01-01T00:00:00Z  admin:admin  tenant.suspend  tenant:t  success\x1b[1A\x1b[K"
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {evil}, "client_secret": {"wrong"}}
	resp, err := http.PostForm(srv.issuer+"/oauth2/token", form)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var body errcode.Body
	if err := json.Unmarshal(raw, &body); err != nil || resp.StatusCode != http.StatusUnauthorized || body.Code != errcode.ClientInvalid || body.Error != "invalid_client" {
		t.Fatalf("injected client id: %d %s", resp.StatusCode, raw)
	}

	st, err := backends.Open(context.Background(), dbURL, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, _, err := st.ListAudit(t.Context(), store.AuditFilter{}, store.Page{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if strings.ContainsAny(ev.Actor+ev.Target+string(ev.Details), "\n\x1b") {
			t.Fatalf("audit event %d stores the injected id: %+v", ev.Seq, ev)
		}
	}
	// An event with the same text as actor, as an older version stored it.
	if err := st.Tx(t.Context(), func(tx store.Tx) error {
		return audit.Append(t.Context(), tx, store.AuditEvent{Actor: "client:" + evil, Action: "token.refuse", Target: "client:" + evil, TenantID: "", Outcome: "refused", ErrorCode: "client_invalid"})
	}); err != nil {
		t.Fatal(err)
	}
	out := srv.ok("audit", "list", "--action", "token.refuse")
	if strings.ContainsAny(out, "\x1b\r") {
		t.Fatalf("audit list prints an escape sequence raw:\n%q", out)
	}
	escaped := false
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if strings.HasPrefix(l, "9999") {
			t.Fatalf("audit list prints a forged row:\n%s", out)
		}
		escaped = escaped || strings.Contains(l, `client:x\n9999`) && strings.Contains(l, `\x1b[1A`)
	}
	if !escaped {
		t.Fatalf("audit list: no escaped row:\n%s", out)
	}
}
