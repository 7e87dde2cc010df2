package legacykeys_test

import (
	"testing"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/store"
)

// TestMigrationHistory: one row per tenant per day, the last count of the
// day winning; the line of a holder's move over days; a year kept.
func TestMigrationHistory(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		h := newHarness(t, st)
		h.tenant("ten_a")
		h.principal("prn_a", "ten_a", "")
		_, k := h.issue("prn_a", 0)

		// Day 0: the key was just issued: new. Recorded twice: one row.
		must(t, h.svc.RecordHistory(h.ctx))
		h.clock.Advance(time.Hour)
		must(t, h.svc.RecordHistory(h.ctx))
		// Day 40: used 2 days ago: legacy-only.
		h.clock.Advance(40 * day)
		must(t, st.RecordKeyUsage(h.ctx, []store.KeyUsage{{KeyID: k.ID, Count: 1, LastUsedAt: h.clock.Now().Add(-2 * day)}}))
		must(t, h.svc.RecordHistory(h.ctx))
		// Day 80: revoked: retired.
		h.clock.Advance(40 * day)
		_, err := h.svc.Revoke(h.ctx, k.ID, "moved to tokens")
		must(t, err)
		must(t, h.svc.RecordHistory(h.ctx))

		rows, err := h.svc.MigrationHistory(h.ctx, "ten_a", 90)
		must(t, err)
		want := []struct {
			day   string
			state legacykeys.HolderState
			keys  int64
		}{
			{t0.Format(time.DateOnly), legacykeys.HolderNew, 1},
			{t0.Add(40 * day).Format(time.DateOnly), legacykeys.HolderLegacyOnly, 1},
			{t0.Add(80 * day).Format(time.DateOnly), legacykeys.HolderRetired, 0},
		}
		if len(rows) != len(want) {
			t.Fatalf("history %+v, want %d days", rows, len(want))
		}
		for i, w := range want {
			r := rows[i]
			if r.Day != w.day || r.TenantID != "ten_a" || r.ActiveKeys != w.keys || r.Holders[w.state] != 1 {
				t.Errorf("day %d: %+v, want %s with one %s holder and %d keys", i, r, w.day, w.state, w.keys)
			}
			total := 0
			for _, n := range r.Holders {
				total += n
			}
			if total != 1 || len(r.Holders) != len(legacykeys.HolderStates()) {
				t.Errorf("day %d: counts %v: want every state, one holder in all", i, r.Holders)
			}
		}
		// The last 30 days hold day 80 only.
		rows, err = h.svc.MigrationHistory(h.ctx, "", 30)
		must(t, err)
		if len(rows) != 1 || rows[0].Day != want[2].day {
			t.Fatalf("30 days of history: %+v", rows)
		}
		// A year and a day later, the next recording prunes all but itself.
		h.clock.Advance(367 * day)
		must(t, h.svc.RecordHistory(h.ctx))
		left, err := st.ListMigrationHistory(h.ctx, "", time.Time{})
		must(t, err)
		if len(left) != 1 || !left[0].Day.Equal(h.clock.Now().Truncate(day)) {
			t.Fatalf("after a year: %+v", left)
		}
		for _, days := range []int{0, -1, legacykeys.MaxHistoryDays + 1} {
			_, err := h.svc.MigrationHistory(h.ctx, "", days)
			wantCode(t, err, errcode.RequestInvalid)
		}
	})
}
