package legacykeys_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/store"
)

// refuse writes a refused exchange of key id to the audit log, the way
// the token endpoint does.
func (h *harness) refuse(keyID string, code errcode.Code, at time.Time) {
	h.t.Helper()
	must(h.t, h.st.Tx(h.ctx, func(tx store.Tx) error {
		return audit.Append(h.ctx, tx, store.AuditEvent{Time: at, Actor: "legacy-key:" + keyID, Action: "token.refuse",
			Target: "key:" + keyID, Outcome: "refused", ErrorCode: string(code)})
	}))
}

func (h *harness) lockout(keyID string, at time.Time) {
	h.t.Helper()
	must(h.t, h.st.Tx(h.ctx, func(tx store.Tx) error {
		return audit.Append(h.ctx, tx, store.AuditEvent{Time: at, Actor: "system", Action: legacykeys.ActionLockout,
			Target: "key:" + keyID, Outcome: "refused", ErrorCode: string(errcode.RateLimited), ClientAddr: "198.51.100.7"})
	}))
}

func TestDiagnose(t *testing.T) {
	h := newHarness(t, openSQLite(t))
	h.tenant("ten_a", func(tn *store.Tenant) { tn.LegacySunsetAt = ptr(t0.Add(45*24*time.Hour + time.Hour)) })
	h.tenant("ten_s")
	h.tenant("ten_x", func(tn *store.Tenant) { tn.LegacySunsetAt = ptr(t0.Add(-48 * time.Hour)) })
	h.principal("prn_ok", "ten_a", "ok")
	h.principal("prn_sus", "ten_a", "sus")
	h.principal("prn_del", "ten_a", "del")
	h.principal("prn_ts", "ten_s", "")
	h.principal("prn_x", "ten_x", "")

	valid, kValid := h.issue("prn_ok", 0)
	revoked, kRevoked := h.issue("prn_ok", 0)
	h.clock.Advance(time.Hour)
	_, err := h.svc.Revoke(h.ctx, kRevoked.ID, "rotated by security")
	must(t, err)
	expired, kExpired := h.issue("prn_ok", time.Hour)
	suspended, kSuspended := h.issue("prn_sus", 0)
	deleted, _ := h.issue("prn_del", 0)
	tenantSuspended, _ := h.issue("prn_ts", 0)
	sunset, _ := h.issue("prn_x", 0)
	locked, kLocked := h.issue("prn_ok", 0)
	_, err = h.svc.Import(h.ctx, []legacykeys.ImportRow{{Line: 2, Key: "legacy-orphan-0001", OwnerExternalID: "lost-9", Tenant: "ten_a"}}, false)
	must(t, err)

	// The admin API suspends and deletes owners and tenants, auditing who
	// did it; the principal's own record names someone else, so the test
	// sees that Diagnose reads the audit log.
	h.clock.Advance(time.Hour)
	suspendedAt := h.clock.Now()
	h.setPrincipalStatus("prn_sus", store.StatusSuspended, "admin:cli_alice")
	h.setPrincipalStatus("prn_del", store.StatusDeleted, "admin:cli_bob")
	h.setTenantStatus("ten_s", store.StatusSuspended, "admin:cli_carol")
	h.clock.Advance(2 * time.Hour)
	now := h.clock.Now()
	h.refuse(kSuspended.ID, errcode.OwnerSuspended, now.Add(-time.Hour))
	h.refuse(kSuspended.ID, errcode.OwnerSuspended, now.Add(-30*time.Minute))
	h.refuse(kSuspended.ID, errcode.TenantMismatch, now.Add(-10*time.Minute))
	h.refuse(kSuspended.ID, errcode.OwnerSuspended, now.Add(-40*24*time.Hour)) // too old to count
	h.refuse(kValid.ID, errcode.ScopeNotGranted, now.Add(-time.Minute))
	h.lockout(kLocked.ID, now.Add(-5*time.Minute))
	h.lockout(kValid.ID, now.Add(-20*time.Minute)) // over: not active

	tests := []struct {
		name    string
		input   string
		kind    string
		found   bool
		verdict string
		remedy  []string // substrings of the remedy
		check   func(t *testing.T, d legacykeys.Diagnosis)
	}{
		{"malformed", valid[:40], legacykeys.InputIssuedKey, false, "key_malformed", []string{"copy the key again"}, func(t *testing.T, d legacykeys.Diagnosis) {
			if d.FormatOK || !strings.Contains(d.Format, "characters long") {
				t.Fatalf("format verdict %v %q", d.FormatOK, d.Format)
			}
		}},
		{"unknown key", "never-issued-key-01", legacykeys.InputImportedKey, false, "key_unknown", []string{"authz key import"}, nil},
		{"unknown id", "key_aaaaaaaaaaaaaaaa", legacykeys.InputKeyID, false, "key_unknown", []string{"No key has id key_aaaaaaaaaaaaaaaa"}, nil},
		{"valid, by key", valid, legacykeys.InputIssuedKey, true, "ok", []string{"valid now", "scope_not_granted ×1"}, func(t *testing.T, d legacykeys.Diagnosis) {
			if d.Lockout != nil {
				t.Fatalf("a lockout 20 minutes old is reported: %+v", d.Lockout)
			}
			if d.Tenant.SunsetDaysLeft == nil || *d.Tenant.SunsetDaysLeft != 44 {
				t.Fatalf("sunset days left %v, want 44", d.Tenant.SunsetDaysLeft)
			}
		}},
		{"valid, by id", kValid.ID, legacykeys.InputKeyID, true, "ok", []string{"valid"}, nil},
		{"revoked", revoked, legacykeys.InputIssuedKey, true, "key_revoked", []string{"by " + adminActor, `"rotated by security"`, "authz key issue --owner prn_ok"}, func(t *testing.T, d legacykeys.Diagnosis) {
			if d.Key.RevokedReason != "rotated by security" || d.Key.RevokedBy != adminActor {
				t.Fatalf("key summary %+v", d.Key)
			}
		}},
		{"expired", expired, legacykeys.InputIssuedKey, true, "key_expired", []string{"authz key rotate " + kExpired.ID}, func(t *testing.T, d legacykeys.Diagnosis) {
			if !d.Key.Expired || d.Key.ExpiresInDays == nil {
				t.Fatalf("key summary %+v", d.Key)
			}
		}},
		{"owner suspended, and by whom", suspended, legacykeys.InputIssuedKey, true, "owner_suspended", []string{"prn_sus", "by admin:cli_alice", "authz principal resume prn_sus"}, func(t *testing.T, d legacykeys.Diagnosis) {
			c := d.Owner.Change
			if c == nil || c.By != "admin:cli_alice" || c.Action != "principal.suspend" || !c.At.Equal(suspendedAt) || c.Source != "audit" {
				t.Fatalf("owner change %+v", c)
			}
			want := map[string]int64{"owner_suspended": 2, "tenant_mismatch": 1}
			if len(d.RecentRefusals) != len(want) || d.RecentRefusals["owner_suspended"] != 2 || d.RecentRefusals["tenant_mismatch"] != 1 {
				t.Fatalf("recent refusals %v, want %v", d.RecentRefusals, want)
			}
		}},
		{"owner deleted", deleted, legacykeys.InputIssuedKey, true, "owner_deleted", []string{"by admin:cli_bob", "authz key reassign"}, nil},
		{"owner not found", "legacy-orphan-0001", legacykeys.InputImportedKey, true, "owner_not_found", []string{`"lost-9"`, "authz key remap"}, func(t *testing.T, d legacykeys.Diagnosis) {
			if d.Owner.Exists || d.Key.OwnerRef != "lost-9" || d.Key.Source != store.SourceImported {
				t.Fatalf("owner %+v key %+v", d.Owner, d.Key)
			}
		}},
		{"tenant suspended", tenantSuspended, legacykeys.InputIssuedKey, true, "tenant_suspended", []string{"by admin:cli_carol", "authz tenant resume ten_s"}, func(t *testing.T, d legacykeys.Diagnosis) {
			if d.Tenant.Change == nil || d.Tenant.Change.Action != "tenant.suspend" {
				t.Fatalf("tenant change %+v", d.Tenant.Change)
			}
		}},
		{"sunset", sunset, legacykeys.InputIssuedKey, true, "key_sunset", []string{"client credentials", "set-sunset"}, func(t *testing.T, d legacykeys.Diagnosis) {
			if *d.Tenant.SunsetDaysLeft != -2 {
				t.Fatalf("days left %d, want -2", *d.Tenant.SunsetDaysLeft)
			}
		}},
		{"locked out", locked, legacykeys.InputIssuedKey, true, "ok", []string{"locked out"}, func(t *testing.T, d legacykeys.Diagnosis) {
			if d.Lockout == nil || !d.Lockout.At.Equal(now.Add(-5*time.Minute)) || d.Lockout.ClientAddr != "198.51.100.7" {
				t.Fatalf("lockout %+v", d.Lockout)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := h.svc.Diagnose(h.ctx, tt.input)
			must(t, err)
			if d.Input != tt.kind || d.Found != tt.found || d.Verdict != tt.verdict {
				t.Fatalf("input %q found %v verdict %q; want %q %v %q", d.Input, d.Found, d.Verdict, tt.kind, tt.found, tt.verdict)
			}
			for _, want := range tt.remedy {
				if !strings.Contains(d.Remedy, want) {
					t.Errorf("remedy %q does not say %q", d.Remedy, want)
				}
			}
			if strings.Count(strings.TrimSuffix(d.Remedy, "."), ". ") > 0 || !strings.HasSuffix(d.Remedy, ".") {
				t.Errorf("remedy is not one sentence: %q", d.Remedy)
			}
			raw, err := json.Marshal(d)
			must(t, err)
			if strings.Contains(string(raw), tt.input) && tt.kind != legacykeys.InputKeyID {
				t.Fatalf("diagnosis echoes the key: %s", raw)
			}
			if strings.Contains(string(raw), `"hash"`) {
				t.Fatalf("diagnosis carries a hash: %s", raw)
			}
			if tt.found && (d.Key == nil || d.Owner == nil || d.Tenant == nil) {
				t.Fatalf("found key without its chain: %+v", d)
			}
			if tt.check != nil {
				tt.check(t, d)
			}
		})
	}
}
