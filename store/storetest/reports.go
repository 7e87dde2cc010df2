package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

// added returns k with AddedAt set.
func added(k store.LegacyKey, at time.Time) store.LegacyKey {
	k.AddedAt = at
	return k
}

func testAddedAtDefault(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	k := legacyKey("key_1", "ten_a", "prn_1")
	k.AddedAt = time.Time{}
	k.CreatedAt = at(-365 * 24 * time.Hour)
	must(t, s.CreateLegacyKey(ctx, k))
	imported := legacyKey("key_2", "ten_a", "prn_1")
	imported.CreatedAt, imported.AddedAt = at(-365*24*time.Hour), at(time.Hour)
	_, err := s.CreateLegacyKeys(ctx, []store.LegacyKey{imported})
	must(t, err)
	for id, want := range map[string]time.Time{"key_1": k.CreatedAt, "key_2": at(time.Hour)} {
		got, err := s.GetLegacyKey(ctx, id)
		must(t, err)
		if !got.AddedAt.Equal(want) {
			t.Errorf("%s: AddedAt = %v, want %v", id, got.AddedAt, want)
		}
	}
	// An update keeps it.
	_, err = s.UpdateLegacyKey(ctx, "key_2", func(x store.LegacyKey) (store.LegacyKey, error) { x.Label = "x"; return x, nil })
	must(t, err)
	got, _ := s.GetLegacyKey(ctx, "key_2")
	if !got.AddedAt.Equal(at(time.Hour)) {
		t.Errorf("after an update: AddedAt = %v", got.AddedAt)
	}
}

func testPrincipalsByExternalIDs(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	must(t, s.CreateTenant(ctx, tenant("ten_a")))
	must(t, s.CreateTenant(ctx, tenant("ten_b")))
	mk := func(id, tenantID, ext string, st store.Status) {
		p := principal(id, tenantID)
		p.ExternalID, p.Status = ext, st
		if st == store.StatusDeleted {
			p.DeletedAt = ptr(t0)
		}
		must(t, s.CreatePrincipal(ctx, p))
	}
	mk("prn_1", "ten_a", "e1", store.StatusActive)
	mk("prn_2", "ten_a", "e2", store.StatusDeleted) // tombstones are returned too
	mk("prn_3", "ten_a", "e2", store.StatusActive)
	mk("prn_4", "ten_b", "e1", store.StatusActive) // another tenant
	// More ids than one statement takes.
	var ids []string
	for i := range 1200 {
		ids = append(ids, fmt.Sprintf("missing-%d", i))
	}
	ids = append(ids, "e1", "e2", "e3")
	got, err := s.ListPrincipalsByExternalIDs(ctx, "ten_a", ids)
	must(t, err)
	var gotIDs []string
	for _, p := range got {
		gotIDs = append(gotIDs, p.ID)
	}
	if d := diff(gotIDs, []string{"prn_1", "prn_2", "prn_3"}); d != "" {
		t.Errorf("ListPrincipalsByExternalIDs:%s", d)
	}
	got, err = s.ListPrincipalsByExternalIDs(ctx, "ten_a", nil)
	must(t, err)
	if len(got) != 0 {
		t.Errorf("no external ids: %d principals", len(got))
	}
}

func testExpiringKeys(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	now := at(0)
	day := 24 * time.Hour
	var want []string
	for i := range 25 {
		k := legacyKey(fmt.Sprintf("key_%02d", i), "ten_a", "prn_1")
		k.ExpiresAt = ptr(now.Add(time.Duration(1+i/5) * day)) // five keys per day: ties ordered by id
		must(t, s.CreateLegacyKey(ctx, k))
		want = append(want, k.ID)
	}
	other := legacyKey("key_other", "ten_b", "prn_1")
	other.ExpiresAt = ptr(now.Add(day))
	expired := legacyKey("key_expired", "ten_a", "prn_1")
	expired.ExpiresAt = ptr(now.Add(-time.Hour))
	late := legacyKey("key_late", "ten_a", "prn_1")
	late.ExpiresAt = ptr(now.Add(60 * day))
	revoked := legacyKey("key_revoked", "ten_a", "prn_1")
	revoked.ExpiresAt, revoked.Status = ptr(now.Add(day)), store.StatusRevoked
	for _, k := range []store.LegacyKey{other, expired, late, revoked, legacyKey("key_never", "ten_a", "prn_1")} {
		must(t, s.CreateLegacyKey(ctx, k))
	}
	var got []string
	p := store.Page{Limit: 7}
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("ListExpiringKeys does not end")
		}
		ks, next, err := s.ListExpiringKeys(ctx, "ten_a", now, now.Add(30*day), p)
		must(t, err)
		for _, k := range ks {
			got = append(got, k.ID)
		}
		if next == "" {
			break
		}
		p.After = next
	}
	if d := diff(got, want); d != "" {
		t.Errorf("ListExpiringKeys, pages of 7:%s", d)
	}
	// Up to two days, the end excluded: the keys of day 1 only.
	all, _, err := s.ListExpiringKeys(ctx, "", now, now.Add(2*day), store.Page{Limit: 100})
	must(t, err)
	if d := diff(keyIDs(all), []string{"key_00", "key_01", "key_02", "key_03", "key_04", "key_other"}); d != "" {
		t.Errorf("ListExpiringKeys of every tenant, before two days:%s", d)
	}
	_, _, err = s.ListExpiringKeys(ctx, "", now, now.Add(day), store.Page{After: "garbage"})
	if err == nil {
		t.Error("a malformed cursor was accepted")
	}
}

func testMigrationHistory(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	day := func(n int) time.Time { return time.Date(2031, 3, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, n) }
	must(t, s.PutMigrationDays(ctx, []store.MigrationDay{
		{TenantID: "ten_a", Day: day(0), Counts: map[string]int64{"legacy-only": 3, "new": 1}, ActiveKeys: 9, UpdatedAt: t0},
		{TenantID: "ten_b", Day: day(0), Counts: map[string]int64{"idle": 2}, ActiveKeys: 2, UpdatedAt: t0},
		{TenantID: "ten_a", Day: day(1), Counts: map[string]int64{"legacy-only": 2}, ActiveKeys: 8, UpdatedAt: t0},
	}))
	// The same tenant and day again replaces the row.
	must(t, s.PutMigrationDays(ctx, []store.MigrationDay{
		{TenantID: "ten_a", Day: day(1), Counts: map[string]int64{"legacy-only": 1, "dual": 1}, ActiveKeys: 7, UpdatedAt: at(time.Hour)},
	}))
	got, err := s.ListMigrationHistory(ctx, "", day(0))
	must(t, err)
	want := []store.MigrationDay{
		{TenantID: "ten_a", Day: day(0), Counts: map[string]int64{"legacy-only": 3, "new": 1}, ActiveKeys: 9, UpdatedAt: t0},
		{TenantID: "ten_b", Day: day(0), Counts: map[string]int64{"idle": 2}, ActiveKeys: 2, UpdatedAt: t0},
		{TenantID: "ten_a", Day: day(1), Counts: map[string]int64{"legacy-only": 1, "dual": 1}, ActiveKeys: 7, UpdatedAt: at(time.Hour)},
	}
	if d := diff(got, want); d != "" {
		t.Errorf("ListMigrationHistory:%s", d)
	}
	got, err = s.ListMigrationHistory(ctx, "ten_a", day(1))
	must(t, err)
	if d := diff(got, want[2:]); d != "" {
		t.Errorf("ListMigrationHistory of ten_a from day 1:%s", d)
	}
	n, err := s.PruneMigrationHistory(ctx, day(1))
	must(t, err)
	if n != 2 {
		t.Errorf("PruneMigrationHistory removed %d rows, want 2", n)
	}
	got, _ = s.ListMigrationHistory(ctx, "", day(-10))
	if d := diff(got, want[2:]); d != "" {
		t.Errorf("after pruning:%s", d)
	}
}
