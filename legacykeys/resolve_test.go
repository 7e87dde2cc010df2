package legacykeys_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/store"
)

// TestResolveOnStore reaches every refusal code through a real store,
// with the keys and owners in the states that cause it.
func TestResolveOnStore(t *testing.T) {
	h := newHarness(t, openSQLite(t))
	h.tenant("ten_a", func(tn *store.Tenant) { tn.LegacySunsetAt = ptr(t0.Add(90 * 24 * time.Hour)) })
	h.tenant("ten_s")
	h.tenant("ten_x", func(tn *store.Tenant) { tn.LegacySunsetAt = ptr(t0.Add(-time.Hour)) })
	for _, p := range []struct{ id, tenant string }{
		{"prn_ok", "ten_a"}, {"prn_del", "ten_a"}, {"prn_sus", "ten_a"}, {"prn_ts", "ten_s"}, {"prn_sun", "ten_x"},
	} {
		h.principal(p.id, p.tenant, "")
	}
	valid, _ := h.issue("prn_ok", 0)
	revoked, rk := h.issue("prn_ok", 0)
	_, err := h.svc.Revoke(h.ctx, rk.ID, "leaked in a log")
	must(t, err)
	expired, _ := h.issue("prn_ok", time.Minute)
	deleted, _ := h.issue("prn_del", 0)
	suspended, _ := h.issue("prn_sus", 0)
	tenantSuspended, _ := h.issue("prn_ts", 0)
	sunset, _ := h.issue("prn_sun", 0)
	const orphanKey = "old-system-key-0001"
	sum, err := h.svc.Import(h.ctx, []legacykeys.ImportRow{{Line: 2, Key: orphanKey, OwnerExternalID: "gone-17", Tenant: "ten_a"}}, false)
	must(t, err)
	if sum.Imported != 1 || sum.Orphans != 1 {
		t.Fatalf("orphan import: %+v", sum)
	}
	h.setPrincipalStatus("prn_del", store.StatusDeleted, adminActor)
	h.setPrincipalStatus("prn_sus", store.StatusSuspended, adminActor)
	h.setTenantStatus("ten_s", store.StatusSuspended, adminActor)
	h.clock.Advance(time.Minute)
	unknown, _ := legacykeys.Generate()

	tests := []struct {
		name   string
		key    string
		tenant string
		want   errcode.Code
	}{
		{"ok/issued key", valid, "", ""},
		{"ok/issued key naming its tenant", valid, "ten_a", ""},
		{"fail/key_malformed", valid[:len(valid)-2], "", errcode.KeyMalformed},
		{"fail/key_malformed typo", valid[:30] + string(valid[30]^0x20) + valid[31:], "", errcode.KeyMalformed},
		{"fail/key_unknown issued", unknown, "", errcode.KeyUnknown},
		{"fail/key_unknown imported format", "never-imported-key", "", errcode.KeyUnknown},
		{"fail/key_revoked", revoked, "", errcode.KeyRevoked},
		{"fail/key_expired", expired, "", errcode.KeyExpired},
		{"fail/owner_deleted", deleted, "", errcode.OwnerDeleted},
		{"fail/owner_not_found", orphanKey, "", errcode.OwnerNotFound},
		{"fail/owner_suspended", suspended, "", errcode.OwnerSuspended},
		{"fail/tenant_suspended", tenantSuspended, "", errcode.TenantSuspended},
		{"fail/tenant_mismatch", valid, "ten_s", errcode.TenantMismatch},
		{"fail/key_sunset", sunset, "", errcode.KeySunset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.t = t
			h.wantResolve(tt.key, tt.tenant, tt.want)
		})
	}

	t.Run("fail/refusal still names the key for the audit", func(t *testing.T) {
		r, err := legacykeys.Resolve(h.ctx, h.st, h.hasher, revoked, "", h.clock.Now())
		if errcode.Of(err) != errcode.KeyRevoked || r.Key.ID != rk.ID {
			t.Fatalf("Resolve = %+v, %v; want key %s with key_revoked", r.Key.ID, err, rk.ID)
		}
	})
	t.Run("fail/descriptions never echo the key", func(t *testing.T) {
		for _, k := range []string{valid[:len(valid)-2], revoked, orphanKey} {
			_, err := legacykeys.Resolve(h.ctx, h.st, h.hasher, k, "", h.clock.Now())
			if strings.Contains(err.Error(), k) {
				t.Fatalf("refusal %q echoes the key", err)
			}
		}
	})
}

// down is a Lookup on the real store whose reads of one kind fail the
// way an unreachable database does.
type down struct {
	store.Store
	failKey, failOwner, failTenant bool
}

func (d down) GetLegacyKeyByHash(ctx context.Context, hash []byte) (store.LegacyKey, error) {
	if d.failKey {
		return store.LegacyKey{}, fmt.Errorf("get key: %w", store.ErrUnavailable)
	}
	return d.Store.GetLegacyKeyByHash(ctx, hash)
}

func (d down) GetPrincipal(ctx context.Context, id string) (store.Principal, error) {
	if d.failOwner {
		return store.Principal{}, fmt.Errorf("get principal: %w", store.ErrUnavailable)
	}
	return d.Store.GetPrincipal(ctx, id)
}

func (d down) GetTenant(ctx context.Context, id string) (store.Tenant, error) {
	if d.failTenant {
		return store.Tenant{}, fmt.Errorf("get tenant: %w", store.ErrUnavailable)
	}
	return d.Store.GetTenant(ctx, id)
}

// TestResolveStorageDown: a storage failure at any step is reported as
// such, never as a refusal code and never as a valid key.
func TestResolveStorageDown(t *testing.T) {
	h := newHarness(t, openSQLite(t))
	h.tenant("ten_a")
	h.principal("prn_a", "ten_a", "")
	key, _ := h.issue("prn_a", 0)
	for _, d := range []down{{failKey: true}, {failOwner: true}, {failTenant: true}} {
		d.Store = h.st
		_, err := legacykeys.Resolve(h.ctx, d, h.hasher, key, "", h.clock.Now())
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("%+v: Resolve = %v, want ErrUnavailable", d, err)
		}
		if _, isRefusal := errcode.As(err); isRefusal {
			t.Fatalf("%+v: storage failure became a refusal: %v", d, err)
		}
		if got := errcode.Normalize(err).Code; got != errcode.Unavailable {
			t.Fatalf("%+v: presented as %s, want unavailable", d, got)
		}
	}
}
