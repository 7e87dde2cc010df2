package legacykeys

import (
	"testing"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// facts returns the facts of a valid key; each test case breaks one or
// more of them.
func facts() Facts {
	return Facts{
		Key: &store.LegacyKey{ID: "key_aaaaaaaaaaaaaaaa", TenantID: "ten_a", OwnerID: "prn_a",
			Status: store.StatusActive, ExpiresAt: ptr(t0.Add(time.Hour))},
		Owner:  &store.Principal{ID: "prn_a", TenantID: "ten_a", Status: store.StatusActive},
		Tenant: &store.Tenant{ID: "ten_a", Status: store.StatusActive, LegacySunsetAt: ptr(t0.Add(24 * time.Hour))},
		Now:    t0,
	}
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(f *Facts)
		want   errcode.Code // "" = valid
	}{
		{"ok/valid", func(*Facts) {}, ""},
		{"ok/no expiry, no sunset", func(f *Facts) { f.Key.ExpiresAt = nil; f.Tenant.LegacySunsetAt = nil }, ""},
		{"ok/requested tenant is the key's", func(f *Facts) { f.RequestedTenant = "ten_a" }, ""},
		{"ok/one nanosecond before expiry", func(f *Facts) { f.Now = t0.Add(time.Hour - 1) }, ""},

		// One case per code, in SPEC order.
		{"fail/key_unknown", func(f *Facts) { f.Key = nil }, errcode.KeyUnknown},
		{"fail/key_revoked", func(f *Facts) { f.Key.Status = store.StatusRevoked; f.Key.RevokedAt = ptr(t0) }, errcode.KeyRevoked},
		{"fail/key_expired", func(f *Facts) { f.Key.ExpiresAt = ptr(t0) }, errcode.KeyExpired},
		{"fail/owner_deleted", func(f *Facts) { f.Owner.Status = store.StatusDeleted; f.Owner.DeletedAt = ptr(t0) }, errcode.OwnerDeleted},
		{"fail/owner_not_found", func(f *Facts) { f.Owner = nil }, errcode.OwnerNotFound},
		{"fail/owner_suspended", func(f *Facts) { f.Owner.Status = store.StatusSuspended }, errcode.OwnerSuspended},
		{"fail/tenant_suspended", func(f *Facts) { f.Tenant.Status = store.StatusSuspended }, errcode.TenantSuspended},
		{"fail/tenant_mismatch", func(f *Facts) { f.RequestedTenant = "ten_b" }, errcode.TenantMismatch},
		{"fail/key_sunset", func(f *Facts) { f.Tenant.LegacySunsetAt = ptr(t0) }, errcode.KeySunset},

		// Variants of a code.
		{"fail/unknown status is never valid", func(f *Facts) { f.Key.Status = "paused" }, errcode.KeyRevoked},
		{"fail/imported key with unresolved owner", func(f *Facts) { f.Key.OwnerID = ""; f.Key.OwnerRef = "u-17"; f.Owner = nil }, errcode.OwnerNotFound},
		{"fail/owner in another tenant", func(f *Facts) { f.Owner.TenantID = "ten_b" }, errcode.OwnerNotFound},
		{"fail/owner record of another principal", func(f *Facts) { f.Owner.ID = "prn_b" }, errcode.OwnerNotFound},
		{"fail/tenant missing", func(f *Facts) { f.Tenant = nil }, errcode.TenantSuspended},

		// The order: the first failing check names the refusal.
		{"fail/revoked key of a deleted owner is key_revoked", func(f *Facts) {
			f.Key.Status = store.StatusRevoked
			f.Owner.Status = store.StatusDeleted
		}, errcode.KeyRevoked},
		{"fail/revoked and expired is key_revoked", func(f *Facts) {
			f.Key.Status = store.StatusRevoked
			f.Key.ExpiresAt = ptr(t0.Add(-time.Hour))
		}, errcode.KeyRevoked},
		{"fail/expired key of a suspended owner is key_expired", func(f *Facts) {
			f.Key.ExpiresAt = ptr(t0.Add(-time.Hour))
			f.Owner.Status = store.StatusSuspended
		}, errcode.KeyExpired},
		{"fail/deleted owner of a suspended tenant is owner_deleted", func(f *Facts) {
			f.Owner.Status = store.StatusDeleted
			f.Tenant.Status = store.StatusSuspended
		}, errcode.OwnerDeleted},
		{"fail/missing owner in a suspended tenant is owner_not_found", func(f *Facts) {
			f.Owner = nil
			f.Tenant.Status = store.StatusSuspended
		}, errcode.OwnerNotFound},
		{"fail/suspended owner in a suspended tenant is owner_suspended", func(f *Facts) {
			f.Owner.Status = store.StatusSuspended
			f.Tenant.Status = store.StatusSuspended
		}, errcode.OwnerSuspended},
		{"fail/suspended tenant asked by another tenant is tenant_suspended", func(f *Facts) {
			f.Tenant.Status = store.StatusSuspended
			f.RequestedTenant = "ten_b"
		}, errcode.TenantSuspended},
		{"fail/mismatch after sunset is tenant_mismatch", func(f *Facts) {
			f.RequestedTenant = "ten_b"
			f.Tenant.LegacySunsetAt = ptr(t0.Add(-time.Hour))
		}, errcode.TenantMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := facts()
			tt.mutate(&f)
			got := Decide(f)
			if tt.want == "" {
				if got != nil {
					t.Fatalf("Decide = %v, want valid", got)
				}
				return
			}
			if got == nil || got.Code != tt.want {
				t.Fatalf("Decide = %v, want %s", got, tt.want)
			}
			if got.Text() == "" {
				t.Fatal("refusal without a description")
			}
		})
	}
}
