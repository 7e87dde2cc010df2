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
	"github.com/authz/authz/store"
)

const apiKeyType = "urn:authz:token-type:api-key"

// exchange sends an RFC 8693 exchange of a legacy key, anonymously unless
// user is set.
func (e *env) exchange(key string, extra url.Values, user, pass string) response {
	e.t.Helper()
	form := url.Values{
		"grant_type":         {store.GrantTokenExchange},
		"subject_token":      {key},
		"subject_token_type": {apiKeyType},
	}
	for k, v := range extra {
		form[k] = v
	}
	return e.post("/oauth2/token", form, user, pass)
}

// holder is a tenant with a key holder: a principal bound to a role
// granting orders:read and orders:write.
type holder struct {
	tenant apiv1.Tenant
	owner  apiv1.Principal
	role   apiv1.Role
}

func (e *env) holder(name string, kind string) holder {
	e.t.Helper()
	a := e.admin()
	ctx := e.ctx()
	var h holder
	var err error
	if h.tenant, err = a.CreateTenant(ctx, name); err != nil {
		e.t.Fatal(err)
	}
	if h.owner, err = a.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: h.tenant.ID, Kind: kind, Name: name + "-owner", ExternalID: name + "-ext"}); err != nil {
		e.t.Fatal(err)
	}
	if h.role, err = a.CreateRole(ctx, apiv1.CreateRole{TenantID: h.tenant.ID, Name: "orders", Permissions: []string{"orders:read", "orders:write"}}); err != nil {
		e.t.Fatal(err)
	}
	if _, err = a.Bind(ctx, h.role.ID, h.owner.ID); err != nil {
		e.t.Fatal(err)
	}
	return h
}

func (e *env) issueKey(owner string, scopes []string, expiresIn time.Duration) apiv1.LegacyKey {
	e.t.Helper()
	k, err := e.admin().IssueKey(e.ctx(), apiv1.IssueKey{OwnerID: owner, Scopes: scopes, ExpiresIn: int64(expiresIn / time.Second)})
	if err != nil {
		e.t.Fatal(err)
	}
	if k.Key == "" {
		e.t.Fatal("issued key without its secret")
	}
	return k
}

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

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestExchangeIssuesRFC8693Tokens(t *testing.T) {
	eachBackend(t, func(t *testing.T, db string) {
		e := startEnv(t, db)
		h := e.holder("acme", "service")
		k := e.issueKey(h.owner.ID, []string{"orders:read"}, 0)

		r := e.exchange(k.Key, nil, "", "")
		if r.status != 200 || r.str("issued_token_type") != "urn:ietf:params:oauth:token-type:access_token" ||
			r.str("token_type") != "Bearer" || r.body["expires_in"] != float64(300) || r.str("scope") != "orders:read" {
			t.Fatalf("anonymous exchange: %d %s", r.status, r.raw)
		}
		if r.header.Get("Cache-Control") != "no-store" {
			t.Fatalf("Cache-Control = %q", r.header.Get("Cache-Control"))
		}
		c := claimsOf(t, r.str("access_token"))
		if c["sub"] != h.owner.ID || c["client_id"] != "legacy-key:"+k.ID || c["key_id"] != k.ID || c["tenant"] != h.tenant.ID || c["act"] != nil {
			t.Fatalf("claims = %v", c)
		}
		if _, err := e.verifyJWT(r.str("access_token")); err != nil {
			t.Fatalf("exchanged token does not verify against the JWKS: %v", err)
		}

		// A gateway exchanging on the holder's behalf authenticates and
		// appears as the actor (RFC 8693 §4.1).
		gw := must[apiv1.Client](t)(e.admin().CreateClient(e.ctx(), apiv1.CreateClient{
			TenantID: h.tenant.ID, OwnerID: h.owner.ID, GrantTypes: []string{store.GrantTokenExchange},
		}))
		r = e.exchange(k.Key, nil, gw.ID, gw.ClientSecret)
		if r.status != 200 {
			t.Fatalf("exchange by a gateway: %d %s", r.status, r.raw)
		}
		if act, _ := claimsOf(t, r.str("access_token"))["act"].(map[string]any); act["sub"] != gw.ID {
			t.Fatalf("act = %v, want sub %s", act, gw.ID)
		}
		// A client with bad credentials is refused, not silently ignored.
		wantError(t, e.exchange(k.Key, nil, gw.ID, "azs_wrong"), 401, "invalid_client", "client_invalid")

		// Usage is counted without a write per request, and flushed.
		if err := e.srv.Usage.Flush(e.ctx()); err != nil {
			t.Fatal(err)
		}
		got := must[apiv1.LegacyKey](t)(e.admin().GetKey(e.ctx(), k.ID))
		if got.UseCount != 2 || got.LastUsedAt == nil {
			t.Fatalf("use count %d, last used %v", got.UseCount, got.LastUsedAt)
		}
	})
}

// TestExchangeRefusals walks every code of the ordered decision over HTTP.
func TestExchangeRefusals(t *testing.T) {
	eachBackend(t, func(t *testing.T, db string) {
		e := startEnv(t, db)
		a := e.admin()
		ctx := e.ctx()
		h := e.holder("acme", "user")
		other := e.holder("globex", "service")
		unknownKey, _ := legacykeys.Generate()

		type row struct {
			name  string
			setup func(t *testing.T) (key string, extra url.Values)
			err   string
			code  string
		}
		rows := []row{
			{"malformed: issued prefix, bad checksum", func(t *testing.T) (string, url.Values) {
				k := e.issueKey(h.owner.ID, nil, 0)
				return k.Key[:len(k.Key)-1] + flip(k.Key[len(k.Key)-1]), nil
			}, "invalid_request", "key_malformed"},
			{"malformed: control characters", func(*testing.T) (string, url.Values) { return "abc\x01def", nil }, "invalid_request", "key_malformed"},
			{"unknown", func(*testing.T) (string, url.Values) { return unknownKey, nil }, "invalid_request", "key_unknown"},
			{"revoked", func(t *testing.T) (string, url.Values) {
				k := e.issueKey(h.owner.ID, nil, 0)
				must[apiv1.LegacyKey](t)(a.RevokeKey(ctx, k.ID, "leaked in a log"))
				return k.Key, nil
			}, "invalid_request", "key_revoked"},
			{"owner deleted", func(t *testing.T) (string, url.Values) {
				p := must[apiv1.Principal](t)(a.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: h.tenant.ID, Kind: "user", Name: "leaver"}))
				k := e.issueKey(p.ID, nil, 0)
				must[apiv1.Principal](t)(a.DeletePrincipal(ctx, p.ID))
				return k.Key, nil
			}, "invalid_request", "owner_deleted"},
			{"owner not found", func(t *testing.T) (string, url.Values) {
				sum := must[apiv1.ImportSummary](t)(a.ImportKeys(ctx, []apiv1.ImportRow{{Line: 2, Key: "legacy-orphan-key-0001", OwnerExternalID: "nobody", Tenant: h.tenant.ID}}, false))
				if sum.Imported != 1 || sum.Orphans != 1 {
					t.Fatalf("import summary %+v", sum)
				}
				return "legacy-orphan-key-0001", nil
			}, "invalid_request", "owner_not_found"},
			{"owner suspended", func(t *testing.T) (string, url.Values) {
				p := must[apiv1.Principal](t)(a.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: h.tenant.ID, Kind: "user", Name: "suspect"}))
				k := e.issueKey(p.ID, nil, 0)
				must[apiv1.Principal](t)(a.SuspendPrincipal(ctx, p.ID))
				return k.Key, nil
			}, "invalid_request", "owner_suspended"},
			{"tenant suspended", func(t *testing.T) (string, url.Values) {
				x := e.holder("initech", "service")
				k := e.issueKey(x.owner.ID, nil, 0)
				must[apiv1.Tenant](t)(a.SuspendTenant(ctx, x.tenant.ID))
				return k.Key, nil
			}, "invalid_request", "tenant_suspended"},
			{"tenant mismatch", func(*testing.T) (string, url.Values) {
				k := e.issueKey(h.owner.ID, nil, 0)
				return k.Key, url.Values{"tenant": {other.tenant.ID}}
			}, "invalid_request", "tenant_mismatch"},
			{"scope beyond the key's allowed scopes", func(*testing.T) (string, url.Values) {
				k := e.issueKey(h.owner.ID, []string{"orders:read"}, 0)
				return k.Key, url.Values{"scope": {"orders:write"}}
			}, "invalid_scope", "scope_not_granted"},
			{"scope beyond the owner's roles", func(*testing.T) (string, url.Values) {
				k := e.issueKey(h.owner.ID, nil, 0)
				return k.Key, url.Values{"scope": {"billing:read"}}
			}, "invalid_scope", "scope_not_granted"},
			{"wrong subject token type", func(*testing.T) (string, url.Values) {
				k := e.issueKey(h.owner.ID, nil, 0)
				return k.Key, url.Values{"subject_token_type": {"urn:ietf:params:oauth:token-type:jwt"}}
			}, "invalid_request", "token_type_unsupported"},
			{"missing subject token", func(*testing.T) (string, url.Values) { return "", nil }, "invalid_request", "request_invalid"},
		}
		for _, rw := range rows {
			t.Run(rw.name, func(t *testing.T) {
				key, extra := rw.setup(t)
				wantError(t, e.exchange(key, extra, "", ""), 400, rw.err, rw.code)
			})
		}
		// The clock-driven codes last, since they move time for everything.
		t.Run("expired", func(t *testing.T) {
			k := e.issueKey(h.owner.ID, nil, time.Hour)
			e.clock.Advance(time.Hour + time.Second)
			wantError(t, e.exchange(k.Key, nil, "", ""), 400, "invalid_request", "key_expired")
		})
		t.Run("sunset", func(t *testing.T) {
			k := e.issueKey(other.owner.ID, nil, 0)
			sunset := e.clock.Now().Add(48 * time.Hour).Truncate(time.Second)
			must[apiv1.Tenant](t)(a.SetSunset(ctx, other.tenant.ID, sunset))
			r := e.exchange(k.Key, nil, "", "")
			if r.status != 200 || r.header.Get("Sunset") != sunset.UTC().Format(http.TimeFormat) || !strings.HasPrefix(r.header.Get("Deprecation"), "@") {
				t.Fatalf("before the sunset: %d Sunset=%q Deprecation=%q %s", r.status, r.header.Get("Sunset"), r.header.Get("Deprecation"), r.raw)
			}
			e.clock.Advance(49 * time.Hour)
			wantError(t, e.exchange(k.Key, nil, "", ""), 400, "invalid_request", "key_sunset")
		})
		// Every refusal of a well-formed key is in the audit log with its code.
		evs := must[apiv1.List[apiv1.AuditEvent]](t)(a.ListAudit(ctx, adminclient.AuditFilter{Action: "token.refuse", ErrorCode: "owner_suspended"}))
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
	eachBackend(t, func(t *testing.T, db string) {
		e := startEnv(t, db)
		a, ctx := e.admin(), e.ctx()
		h := e.holder("acme", "user")
		k := e.issueKey(h.owner.ID, []string{"orders:read"}, 0)
		if r := e.exchange(k.Key, nil, "", ""); r.status != 200 {
			t.Fatalf("before: %d %s", r.status, r.raw)
		}
		must[apiv1.Principal](t)(a.DeletePrincipal(ctx, h.owner.ID))
		wantError(t, e.exchange(k.Key, nil, "", ""), 400, "invalid_request", "owner_deleted")

		svc := must[apiv1.Principal](t)(a.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: h.tenant.ID, Kind: "service", Name: "billing-batch"}))
		must[apiv1.Binding](t)(a.Bind(ctx, h.role.ID, svc.ID))
		must[apiv1.LegacyKey](t)(a.ReassignKey(ctx, k.ID, svc.ID))
		r := e.exchange(k.Key, nil, "", "")
		if r.status != 200 || claimsOf(t, r.str("access_token"))["sub"] != svc.ID {
			t.Fatalf("after reassignment: %d %s", r.status, r.raw)
		}
	})
}

// A broken migration: keys imported with owner ids that match nobody fail
// with owner_not_found, show as orphans, and work after a remap.
func TestScenarioBrokenMigration(t *testing.T) {
	eachBackend(t, func(t *testing.T, db string) {
		e := startEnv(t, db)
		a, ctx := e.admin(), e.ctx()
		h := e.holder("acme", "service")
		rows := []apiv1.ImportRow{
			{Line: 2, Key: "old-system-key-aaaaaaaa", OwnerExternalID: "u-1001", Tenant: h.tenant.ID, Scopes: []string{"orders:read"}},
			{Line: 3, Key: "old-system-key-bbbbbbbb", OwnerExternalID: "u-1001", Tenant: h.tenant.ID},
			{Line: 4, Key: "old-system-key-cccccccc", OwnerExternalID: h.owner.ExternalID, Tenant: h.tenant.ID},
		}
		sum := must[apiv1.ImportSummary](t)(a.ImportKeys(ctx, rows, false))
		if sum.Imported != 3 || sum.Orphans != 2 {
			t.Fatalf("import: %+v", sum)
		}
		if again := must[apiv1.ImportSummary](t)(a.ImportKeys(ctx, rows, false)); again.Imported != 0 || again.AlreadyPresent != 3 {
			t.Fatalf("re-import is not idempotent: %+v", again)
		}
		wantError(t, e.exchange("old-system-key-aaaaaaaa", nil, "", ""), 400, "invalid_request", "owner_not_found")
		if r := e.exchange("old-system-key-cccccccc", nil, "", ""); r.status != 200 {
			t.Fatalf("key with a known owner: %d %s", r.status, r.raw)
		}
		orphans := must[[]legacykeys.Orphan](t)(a.Orphans(ctx, h.tenant.ID))
		if len(orphans) != 2 {
			t.Fatalf("orphans report: %+v", orphans)
		}
		remap := must[apiv1.RemapSummary](t)(a.RemapKeys(ctx, []apiv1.RemapRow{{Line: 1, OldExternalID: "u-1001", NewPrincipal: h.owner.ID}}, false))
		if remap.KeysRemapped != 2 {
			t.Fatalf("remap: %+v", remap)
		}
		for _, k := range []string{"old-system-key-aaaaaaaa", "old-system-key-bbbbbbbb"} {
			if r := e.exchange(k, nil, "", ""); r.status != 200 || claimsOf(t, r.str("access_token"))["sub"] != h.owner.ID {
				t.Fatalf("after remap %s: %d %s", k, r.status, r.raw)
			}
		}
		if orphans := must[[]legacykeys.Orphan](t)(a.Orphans(ctx, h.tenant.ID)); len(orphans) != 0 {
			t.Fatalf("orphans after remap: %+v", orphans)
		}
	})
}

// A malicious deactivation: the owner is suspended, the refusal and the
// audit log say who did it, resuming restores the key, and a rotation with
// overlap retires the old key on time.
func TestScenarioMaliciousDeactivation(t *testing.T) {
	eachBackend(t, func(t *testing.T, db string) {
		e := startEnv(t, db)
		a, ctx := e.admin(), e.ctx()
		h := e.holder("acme", "service")
		k := e.issueKey(h.owner.ID, nil, 0)

		must[apiv1.Principal](t)(a.SuspendPrincipal(ctx, h.owner.ID))
		wantError(t, e.exchange(k.Key, nil, "", ""), 400, "invalid_request", "owner_suspended")
		evs := must[apiv1.List[apiv1.AuditEvent]](t)(a.ListAudit(ctx, adminclient.AuditFilter{Target: "principal:" + h.owner.ID, Action: "principal.suspend"}))
		if len(evs.Items) != 1 || evs.Items[0].Actor != "admin:"+adminID {
			t.Fatalf("who suspended the owner: %+v", evs.Items)
		}
		diag := must[legacykeys.Diagnosis](t)(a.DiagnoseKey(ctx, k.Key))
		if diag.Verdict != "owner_suspended" || !strings.Contains(diag.Remedy, "resume") {
			t.Fatalf("diagnosis: verdict %q remedy %q", diag.Verdict, diag.Remedy)
		}

		must[apiv1.Principal](t)(a.ResumePrincipal(ctx, h.owner.ID))
		if r := e.exchange(k.Key, nil, "", ""); r.status != 200 {
			t.Fatalf("after resume: %d %s", r.status, r.raw)
		}
		overlap := time.Hour
		rot := must[apiv1.RotatedKey](t)(a.RotateKey(ctx, k.ID, &overlap))
		for name, key := range map[string]string{"old": k.Key, "new": rot.Key} {
			if r := e.exchange(key, nil, "", ""); r.status != 200 {
				t.Fatalf("%s key during the overlap: %d %s", name, r.status, r.raw)
			}
		}
		e.clock.Advance(overlap + time.Second)
		wantError(t, e.exchange(k.Key, nil, "", ""), 400, "invalid_request", "key_expired")
		if r := e.exchange(rot.Key, nil, "", ""); r.status != 200 {
			t.Fatalf("new key after the overlap: %d %s", r.status, r.raw)
		}
	})
}
