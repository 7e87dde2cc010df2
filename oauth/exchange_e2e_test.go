package oauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/store"
)

// claimsOf decodes a token's claims without verification (the gateway
// tests verify; here we check what was issued).
func claimsOf(t *testing.T, tok string) jwt.MapClaims {
	t.Helper()
	c := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok, c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestExchangeIssuesRFC8693Tokens(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		h := e.Holder("acme", "service")
		k := e.IssueKey(h.Owner.ID, []string{"orders:read"}, 0)

		r := e.Exchange(k.Key, nil, "", "")
		if r.Status != 200 || r.Str("issued_token_type") != "urn:ietf:params:oauth:token-type:access_token" ||
			r.Str("token_type") != "Bearer" || r.Body["expires_in"] != float64(300) || r.Str("scope") != "orders:read" {
			t.Fatalf("anonymous exchange: %d %s", r.Status, r.Raw)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control = %q", r.Header.Get("Cache-Control"))
		}
		c := claimsOf(t, r.Str("access_token"))
		if c["sub"] != h.Owner.ID || c["client_id"] != "legacy-key:"+k.ID || c["key_id"] != k.ID || c["tenant"] != h.Tenant.ID || c["act"] != nil {
			t.Fatalf("claims = %v", c)
		}
		if _, err := verifyJWT(e, r.Str("access_token")); err != nil {
			t.Fatalf("exchanged token does not verify against the JWKS: %v", err)
		}

		// A gateway exchanging on the holder's behalf authenticates and
		// appears as the actor (RFC 8693 §4.1).
		gw := servertest.Must[apiv1.Client](t)(e.Admin().CreateClient(e.Ctx(), apiv1.CreateClient{
			TenantID: h.Tenant.ID, OwnerID: h.Owner.ID, GrantTypes: []string{store.GrantTokenExchange},
		}))
		r = e.Exchange(k.Key, nil, gw.ID, gw.ClientSecret)
		if r.Status != 200 {
			t.Fatalf("exchange by a gateway: %d %s", r.Status, r.Raw)
		}
		if act, _ := claimsOf(t, r.Str("access_token"))["act"].(map[string]any); act["sub"] != gw.ID {
			t.Fatalf("act = %v, want sub %s", act, gw.ID)
		}
		// A client with bad credentials is refused, not silently ignored.
		servertest.WantError(t, e.Exchange(k.Key, nil, gw.ID, "azs_wrong"), 401, "invalid_client", "client_invalid")

		// Usage is counted without a write per request, and flushed.
		if err := e.Srv.Usage.Flush(e.Ctx()); err != nil {
			t.Fatal(err)
		}
		got := servertest.Must[apiv1.LegacyKey](t)(e.Admin().GetKey(e.Ctx(), k.ID))
		if got.UseCount != 2 || got.LastUsedAt == nil {
			t.Fatalf("use count %d, last used %v", got.UseCount, got.LastUsedAt)
		}
	})
}

// TestExchangeRefusals walks every code of the ordered decision over HTTP.
func TestExchangeRefusals(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		a := e.Admin()
		ctx := e.Ctx()
		h := e.Holder("acme", "user")
		other := e.Holder("globex", "service")
		unknownKey, _ := legacykeys.Generate()

		type row struct {
			name  string
			setup func(t *testing.T) (key string, extra url.Values)
			err   string
			code  string
		}
		rows := []row{
			{"malformed: issued prefix, bad checksum", func(t *testing.T) (string, url.Values) {
				k := e.IssueKey(h.Owner.ID, nil, 0)
				return k.Key[:len(k.Key)-1] + flip(k.Key[len(k.Key)-1]), nil
			}, "invalid_request", "key_malformed"},
			{"malformed: control characters", func(*testing.T) (string, url.Values) { return "abc\x01def", nil }, "invalid_request", "key_malformed"},
			{"unknown", func(*testing.T) (string, url.Values) { return unknownKey, nil }, "invalid_request", "key_unknown"},
			{"revoked", func(t *testing.T) (string, url.Values) {
				k := e.IssueKey(h.Owner.ID, nil, 0)
				servertest.Must[apiv1.LegacyKey](t)(a.RevokeKey(ctx, k.ID, "leaked in a log"))
				return k.Key, nil
			}, "invalid_request", "key_revoked"},
			{"owner deleted", func(t *testing.T) (string, url.Values) {
				p := servertest.Must[apiv1.Principal](t)(a.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: h.Tenant.ID, Kind: "user", Name: "leaver"}))
				k := e.IssueKey(p.ID, nil, 0)
				servertest.Must[apiv1.Principal](t)(a.DeletePrincipal(ctx, p.ID))
				return k.Key, nil
			}, "invalid_request", "owner_deleted"},
			{"owner not found", func(t *testing.T) (string, url.Values) {
				sum := servertest.Must[apiv1.ImportSummary](t)(a.ImportKeys(ctx, []apiv1.ImportRow{{Line: 2, Key: "legacy-orphan-key-0001", OwnerExternalID: "nobody", Tenant: h.Tenant.ID}}, false))
				if sum.Imported != 1 || sum.Orphans != 1 {
					t.Fatalf("import summary %+v", sum)
				}
				return "legacy-orphan-key-0001", nil
			}, "invalid_request", "owner_not_found"},
			{"owner suspended", func(t *testing.T) (string, url.Values) {
				p := servertest.Must[apiv1.Principal](t)(a.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: h.Tenant.ID, Kind: "user", Name: "suspect"}))
				k := e.IssueKey(p.ID, nil, 0)
				servertest.Must[apiv1.Principal](t)(a.SuspendPrincipal(ctx, p.ID))
				return k.Key, nil
			}, "invalid_request", "owner_suspended"},
			{"tenant suspended", func(t *testing.T) (string, url.Values) {
				x := e.Holder("initech", "service")
				k := e.IssueKey(x.Owner.ID, nil, 0)
				servertest.Must[apiv1.Tenant](t)(a.SuspendTenant(ctx, x.Tenant.ID))
				return k.Key, nil
			}, "invalid_request", "tenant_suspended"},
			{"tenant mismatch", func(*testing.T) (string, url.Values) {
				k := e.IssueKey(h.Owner.ID, nil, 0)
				return k.Key, url.Values{"tenant": {other.Tenant.ID}}
			}, "invalid_request", "tenant_mismatch"},
			{"scope beyond the key's allowed scopes", func(*testing.T) (string, url.Values) {
				k := e.IssueKey(h.Owner.ID, []string{"orders:read"}, 0)
				return k.Key, url.Values{"scope": {"orders:write"}}
			}, "invalid_scope", "scope_not_granted"},
			{"scope beyond the owner's roles", func(*testing.T) (string, url.Values) {
				k := e.IssueKey(h.Owner.ID, nil, 0)
				return k.Key, url.Values{"scope": {"billing:read"}}
			}, "invalid_scope", "scope_not_granted"},
			{"wrong subject token type", func(*testing.T) (string, url.Values) {
				k := e.IssueKey(h.Owner.ID, nil, 0)
				return k.Key, url.Values{"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}}
			}, "invalid_request", "token_type_unsupported"},
			{"missing subject token", func(*testing.T) (string, url.Values) { return "", nil }, "invalid_request", "request_invalid"},
		}
		for _, rw := range rows {
			t.Run(rw.name, func(t *testing.T) {
				key, extra := rw.setup(t)
				servertest.WantError(t, e.Exchange(key, extra, "", ""), 400, rw.err, rw.code)
			})
		}
		// The clock-driven codes last, since they move time for everything.
		t.Run("expired", func(t *testing.T) {
			k := e.IssueKey(h.Owner.ID, nil, time.Hour)
			e.Clock.Advance(time.Hour + time.Second)
			servertest.WantError(t, e.Exchange(k.Key, nil, "", ""), 400, "invalid_request", "key_expired")
		})
		t.Run("sunset", func(t *testing.T) {
			k := e.IssueKey(other.Owner.ID, nil, 0)
			sunset := e.Clock.Now().Add(48 * time.Hour).Truncate(time.Second)
			servertest.Must[apiv1.Tenant](t)(a.SetSunset(ctx, other.Tenant.ID, sunset))
			r := e.Exchange(k.Key, nil, "", "")
			if r.Status != 200 || r.Header.Get("Sunset") != sunset.UTC().Format(http.TimeFormat) || !strings.HasPrefix(r.Header.Get("Deprecation"), "@") {
				t.Fatalf("before the sunset: %d Sunset=%q Deprecation=%q %s", r.Status, r.Header.Get("Sunset"), r.Header.Get("Deprecation"), r.Raw)
			}
			e.Clock.Advance(49 * time.Hour)
			servertest.WantError(t, e.Exchange(k.Key, nil, "", ""), 400, "invalid_request", "key_sunset")
		})
		// Every refusal of a well-formed key is in the audit log with its code.
		evs := servertest.Must[apiv1.List[apiv1.AuditEvent]](t)(a.ListAudit(ctx, adminclient.AuditFilter{Action: "token.refuse", ErrorCode: "owner_suspended"}))
		if len(evs.Items) != 1 || !strings.HasPrefix(evs.Items[0].Target, "key:key_") {
			t.Fatalf("audit of the owner_suspended refusal: %+v", evs.Items)
		}
	})
}

func flip(c byte) string {
	if c == 'A' {
		return "B"
	}
	return "A"
}

// A departed employee: the owner is deleted, the key is reassigned to a
// service principal, and the exchange works again.
func TestScenarioDepartedEmployee(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		a, ctx := e.Admin(), e.Ctx()
		h := e.Holder("acme", "user")
		k := e.IssueKey(h.Owner.ID, []string{"orders:read"}, 0)
		if r := e.Exchange(k.Key, nil, "", ""); r.Status != 200 {
			t.Fatalf("before: %d %s", r.Status, r.Raw)
		}
		servertest.Must[apiv1.Principal](t)(a.DeletePrincipal(ctx, h.Owner.ID))
		servertest.WantError(t, e.Exchange(k.Key, nil, "", ""), 400, "invalid_request", "owner_deleted")

		svc := servertest.Must[apiv1.Principal](t)(a.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: h.Tenant.ID, Kind: "service", Name: "billing-batch"}))
		servertest.Must[apiv1.Binding](t)(a.Bind(ctx, h.Role.ID, svc.ID))
		servertest.Must[apiv1.LegacyKey](t)(a.ReassignKey(ctx, k.ID, svc.ID))
		r := e.Exchange(k.Key, nil, "", "")
		if r.Status != 200 || claimsOf(t, r.Str("access_token"))["sub"] != svc.ID {
			t.Fatalf("after reassignment: %d %s", r.Status, r.Raw)
		}
	})
}

// A broken migration: keys imported with owner ids that match nobody fail
// with owner_not_found, show as orphans, and work after a remap.
func TestScenarioBrokenMigration(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		a, ctx := e.Admin(), e.Ctx()
		h := e.Holder("acme", "service")
		rows := []apiv1.ImportRow{
			{Line: 2, Key: "old-system-key-aaaaaaaa", OwnerExternalID: "u-1001", Tenant: h.Tenant.ID, Scopes: []string{"orders:read"}},
			{Line: 3, Key: "old-system-key-bbbbbbbb", OwnerExternalID: "u-1001", Tenant: h.Tenant.ID},
			{Line: 4, Key: "old-system-key-cccccccc", OwnerExternalID: h.Owner.ExternalID, Tenant: h.Tenant.ID},
		}
		sum := servertest.Must[apiv1.ImportSummary](t)(a.ImportKeys(ctx, rows, false))
		if sum.Imported != 3 || sum.Orphans != 2 {
			t.Fatalf("import: %+v", sum)
		}
		if again := servertest.Must[apiv1.ImportSummary](t)(a.ImportKeys(ctx, rows, false)); again.Imported != 0 || again.AlreadyPresent != 3 {
			t.Fatalf("re-import is not idempotent: %+v", again)
		}
		servertest.WantError(t, e.Exchange("old-system-key-aaaaaaaa", nil, "", ""), 400, "invalid_request", "owner_not_found")
		if r := e.Exchange("old-system-key-cccccccc", nil, "", ""); r.Status != 200 {
			t.Fatalf("key with a known owner: %d %s", r.Status, r.Raw)
		}
		orphans := servertest.Must[[]legacykeys.Orphan](t)(a.Orphans(ctx, h.Tenant.ID))
		if len(orphans) != 2 {
			t.Fatalf("orphans report: %+v", orphans)
		}
		remap := servertest.Must[apiv1.RemapSummary](t)(a.RemapKeys(ctx, []apiv1.RemapRow{{Line: 1, OldExternalID: "u-1001", NewPrincipal: h.Owner.ID}}, false))
		if remap.KeysRemapped != 2 {
			t.Fatalf("remap: %+v", remap)
		}
		for _, k := range []string{"old-system-key-aaaaaaaa", "old-system-key-bbbbbbbb"} {
			if r := e.Exchange(k, nil, "", ""); r.Status != 200 || claimsOf(t, r.Str("access_token"))["sub"] != h.Owner.ID {
				t.Fatalf("after remap %s: %d %s", k, r.Status, r.Raw)
			}
		}
		if orphans := servertest.Must[[]legacykeys.Orphan](t)(a.Orphans(ctx, h.Tenant.ID)); len(orphans) != 0 {
			t.Fatalf("orphans after remap: %+v", orphans)
		}
	})
}

// A malicious deactivation: the owner is suspended, the refusal and the
// audit log say who did it, resuming restores the key, and a rotation with
// overlap retires the old key on time.
func TestScenarioMaliciousDeactivation(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		a, ctx := e.Admin(), e.Ctx()
		h := e.Holder("acme", "service")
		k := e.IssueKey(h.Owner.ID, nil, 0)

		servertest.Must[apiv1.Principal](t)(a.SuspendPrincipal(ctx, h.Owner.ID))
		servertest.WantError(t, e.Exchange(k.Key, nil, "", ""), 400, "invalid_request", "owner_suspended")
		evs := servertest.Must[apiv1.List[apiv1.AuditEvent]](t)(a.ListAudit(ctx, adminclient.AuditFilter{Target: "principal:" + h.Owner.ID, Action: "principal.suspend"}))
		if len(evs.Items) != 1 || evs.Items[0].Actor != "admin:"+servertest.AdminID {
			t.Fatalf("who suspended the owner: %+v", evs.Items)
		}
		diag := servertest.Must[legacykeys.Diagnosis](t)(a.DiagnoseKey(ctx, k.Key))
		if diag.Verdict != "owner_suspended" || !strings.Contains(diag.Remedy, "resume") {
			t.Fatalf("diagnosis: verdict %q remedy %q", diag.Verdict, diag.Remedy)
		}

		servertest.Must[apiv1.Principal](t)(a.ResumePrincipal(ctx, h.Owner.ID))
		if r := e.Exchange(k.Key, nil, "", ""); r.Status != 200 {
			t.Fatalf("after resume: %d %s", r.Status, r.Raw)
		}
		overlap := time.Hour
		rot := servertest.Must[apiv1.RotatedKey](t)(a.RotateKey(ctx, k.ID, &overlap))
		for name, key := range map[string]string{"old": k.Key, "new": rot.Key} {
			if r := e.Exchange(key, nil, "", ""); r.Status != 200 {
				t.Fatalf("%s key during the overlap: %d %s", name, r.Status, r.Raw)
			}
		}
		e.Clock.Advance(overlap + time.Second)
		servertest.WantError(t, e.Exchange(k.Key, nil, "", ""), 400, "invalid_request", "key_expired")
		if r := e.Exchange(rot.Key, nil, "", ""); r.Status != 200 {
			t.Fatalf("new key after the overlap: %d %s", r.Status, r.Raw)
		}
	})
}
