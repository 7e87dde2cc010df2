package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

// keyTallier is the backends' view of the counters the migration report
// sums (legacy_key_tally, issue 19): active keys per tenant and UTC day of
// last use, -1 for never used.
type keyTallier interface {
	KeyTally(ctx context.Context) (map[string]map[int64]int64, error)
}

// testKeyTally changes keys every way the service does (import in bulk
// with skipped duplicates, single creation, use across days, revocation,
// conflict, reassignment to another owner and to another tenant, remap,
// an owner's suspension) and after each step compares the counters, and
// LegacyKeyStats at several instants (the window boundary falling inside
// a day of uses, on it, and between days), with a recount of every key.
func testKeyTally(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	tl, ok := s.(keyTallier)
	if !ok {
		t.Fatalf("%T keeps no key tally (KeyTally)", s)
	}
	day := 24 * time.Hour
	base := time.Date(2031, 5, 1, 0, 0, 0, 0, time.UTC)
	check := func(step string) {
		t.Helper()
		var all []store.LegacyKey
		p := store.Page{Limit: store.MaxLimit}
		for {
			ks, next, err := s.ListLegacyKeys(ctx, store.LegacyKeyFilter{}, p)
			must(t, err)
			all = append(all, ks...)
			if next == "" {
				break
			}
			p.After = next
		}
		want := map[string]map[int64]int64{}
		for _, k := range all {
			if k.Status != store.StatusActive {
				continue
			}
			d := int64(-1)
			if k.LastUsedAt != nil {
				d = k.LastUsedAt.Unix() / 86400
			}
			if want[k.TenantID] == nil {
				want[k.TenantID] = map[int64]int64{}
			}
			want[k.TenantID][d]++
		}
		got, err := tl.KeyTally(ctx)
		must(t, err)
		if dd := diff(got, want); dd != "" {
			t.Fatalf("after %s: tally against a recount:%s", step, dd)
		}
		for _, now := range []time.Time{base.Add(40*day + 7*time.Hour), base.Add(37 * day), base.Add(37*day + time.Microsecond), base.Add(31*day + 23*time.Hour)} {
			stats, err := s.LegacyKeyStats(ctx, "", now)
			must(t, err)
			recount := map[string]store.KeyStats{}
			for _, k := range all {
				r, ok := recount[k.TenantID]
				if !ok {
					r.TenantID = k.TenantID
				}
				if k.Status == store.StatusActive {
					r.Active++
					switch {
					case k.LastUsedAt == nil:
						r.NeverUsed++
					case !k.LastUsedAt.Before(now.Add(-7 * day)):
						r.Used7d++
						r.Used30d++
					case !k.LastUsedAt.Before(now.Add(-30 * day)):
						r.Used30d++
					}
				}
				recount[k.TenantID] = r
			}
			var wantStats []store.KeyStats
			for _, ten := range []string{"ten_a", "ten_b", "ten_c"} {
				if r, ok := recount[ten]; ok {
					wantStats = append(wantStats, r)
				}
			}
			if dd := diff(stats, wantStats); dd != "" {
				t.Fatalf("after %s: LegacyKeyStats at %v against a recount:%s", step, now, dd)
			}
		}
	}
	check("nothing")

	// Import in bulk: 30 keys of ten_a, every third one already present
	// (skipped by the insert), ten_b's keys some of them conflicted.
	var batch []store.LegacyKey
	for i := range 30 {
		k := legacyKey(fmt.Sprintf("key_a%02d", i), "ten_a", fmt.Sprintf("prn_a%d", i%3))
		k.Source = store.SourceImported
		batch = append(batch, k)
	}
	must(t, s.CreateLegacyKey(ctx, batch[0]))
	must(t, s.CreateLegacyKey(ctx, batch[3]))
	_, err := s.CreateLegacyKeys(ctx, batch)
	must(t, err)
	_, err = s.CreateLegacyKeys(ctx, batch) // again: nothing added
	must(t, err)
	check("import")
	for i := range 5 {
		k := legacyKey(fmt.Sprintf("key_b%02d", i), "ten_b", "prn_b")
		if i%2 == 1 {
			k.Status = store.StatusConflicted
		}
		must(t, s.CreateLegacyKey(ctx, k))
	}
	check("create")

	// Uses on several days; the same key used again the same day and on a
	// later day; a use older than the one recorded does not move it back.
	var uses []store.KeyUsage
	for i := range 20 {
		uses = append(uses, store.KeyUsage{KeyID: fmt.Sprintf("key_a%02d", i), Count: 1,
			LastUsedAt: base.Add(time.Duration(i) * (day + 3*time.Hour))})
	}
	uses = append(uses, store.KeyUsage{KeyID: "key_b00", Count: 1, LastUsedAt: base.Add(10 * day)},
		store.KeyUsage{KeyID: "key_b01", Count: 1, LastUsedAt: base.Add(10 * day)}) // conflicted: not counted
	must(t, s.RecordKeyUsage(ctx, uses))
	check("use")
	must(t, s.RecordKeyUsage(ctx, []store.KeyUsage{
		{KeyID: "key_a01", Count: 1, LastUsedAt: base.Add(day + 5*time.Hour)}, // same day
		{KeyID: "key_a03", Count: 2, LastUsedAt: base.Add(35 * day)},          // twice in one flush:
		{KeyID: "key_a03", Count: 1, LastUsedAt: base.Add(34 * day)},          // the later use wins
		{KeyID: "key_a02", Count: 1, LastUsedAt: base.Add(33 * day)},          // a later day
		{KeyID: "key_a19", Count: 1, LastUsedAt: base},                        // older: ignored
	}))
	check("use again")
	if k, err := s.GetLegacyKey(ctx, "key_a03"); err != nil || k.UseCount != 4 || !k.LastUsedAt.Equal(base.Add(35*day)) {
		t.Fatalf("key_a03 after two uses in one flush: %+v, %v; want 4 uses, the last at %v", k, err, base.Add(35*day))
	}

	// Revocation, conflict, reactivation.
	update := func(id string, fn func(k *store.LegacyKey)) {
		t.Helper()
		_, err := s.UpdateLegacyKey(ctx, id, func(k store.LegacyKey) (store.LegacyKey, error) { fn(&k); return k, nil })
		must(t, err)
	}
	update("key_a02", func(k *store.LegacyKey) { k.Status, k.RevokedAt = store.StatusRevoked, ptr(base.Add(34*day)) })
	update("key_a05", func(k *store.LegacyKey) { k.Status = store.StatusRevoked })
	update("key_a25", func(k *store.LegacyKey) { k.Status = store.StatusRevoked }) // never used
	update("key_a06", func(k *store.LegacyKey) { k.Status = store.StatusConflicted })
	check("revoke")
	update("key_a06", func(k *store.LegacyKey) { k.Status = store.StatusActive })
	update("key_b01", func(k *store.LegacyKey) { k.Status = store.StatusActive }) // a used conflicted key wins
	check("resolve")

	// Reassignment: another owner (no change), another tenant, a remap.
	update("key_a07", func(k *store.LegacyKey) { k.OwnerID = "prn_b" })
	update("key_a08", func(k *store.LegacyKey) { k.TenantID, k.OwnerID = "ten_c", "prn_c" })
	update("key_a26", func(k *store.LegacyKey) { k.TenantID = "ten_c" })
	_, err = s.RemapLegacyKeys(ctx, "ten_a", "prn_a1", "prn_a9")
	must(t, err)
	check("reassign")

	// An owner's suspension changes no key: the counts stay.
	seed(t, s, "ten_x", "prn_a0")
	_, err = s.UpdatePrincipal(ctx, "prn_a0", func(p store.Principal) (store.Principal, error) {
		p.Status = store.StatusSuspended
		return p, nil
	})
	must(t, err)
	check("suspend owner")
}
