package legacykeys_test

import (
	"fmt"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/store"
)

const day = 24 * time.Hour

// TestReports checks the reports against numbers worked out by hand from
// the fixture below.
func TestReports(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		h := newHarness(t, st)
		h.tenant("ten_a", func(tn *store.Tenant) { tn.LegacySunsetAt = ptr(t0.Add(60*day + time.Hour)) })
		h.tenant("ten_b")
		for _, p := range []string{"prn_dual", "prn_legacy", "prn_token", "prn_stale", "prn_retired", "prn_sus", "prn_del"} {
			h.principal(p, "ten_a", "")
		}
		h.principal("prn_b", "ten_b", "")
		mk := func(owner string, expiresIn time.Duration) store.LegacyKey {
			_, k := h.issue(owner, expiresIn)
			return k
		}

		// ten_a, active keys and their last use (now = t0 + 100 days):
		//   dual:    k1 used 2 days ago, k2 used 20 days ago; a client used 1 day ago
		//   legacy:  k3 used 6 days ago; no client
		//   token:   k4 never used; a client used 3 days ago
		//   stale:   k5 used 40 days ago; no client            (idle: nothing proves it moved)
		//   retired: k6 revoked
		//   sus:     k7 never used (owner suspended)          (idle)
		//   del:     k8 never used (owner deleted)            (idle)
		//   fresh:   200 keys imported 1 hour ago, never used; a
		//            client never used                       (new, not token-only)
		//   orphan:  k9 imported, owner not found (no holder line)
		// Active: k1 k2 k3 k4 k5 k7 k8 k9 = 8. Used 7d: k1 k3 = 2.
		// Used 30d: k1 k2 k3 = 3. Never used: k4 k7 k8 k9 = 4.
		k1, k2 := mk("prn_dual", 0), mk("prn_dual", 0)
		k3, k4, k5 := mk("prn_legacy", 0), mk("prn_token", 0), mk("prn_stale", 0)
		k6 := mk("prn_retired", 0)
		k7 := mk("prn_sus", 200*day)
		_ = mk("prn_del", 0)
		kb := mk("prn_b", 103*day)
		_, err := h.svc.Import(h.ctx, []legacykeys.ImportRow{{Line: 2, Key: "orphaned-key-00001", OwnerExternalID: "ghost", Tenant: "ten_a"}}, false)
		must(t, err)
		_, err = h.svc.Revoke(h.ctx, k6.ID, "left the company")
		must(t, err)
		h.setPrincipalStatus("prn_sus", store.StatusSuspended, adminActor)
		h.setPrincipalStatus("prn_del", store.StatusDeleted, adminActor)
		for _, c := range []struct{ id, owner string }{{"cli_dual", "prn_dual"}, {"cli_token", "prn_token"}} {
			must(t, st.CreateClient(h.ctx, store.Client{ID: c.id, TenantID: "ten_a", OwnerID: c.owner, Name: c.id, AuthMethod: store.AuthSecretBasic,
				GrantTypes: []string{store.GrantClientCredentials}, Status: store.StatusActive, StatusChangedAt: t0, CreatedAt: t0, UpdatedAt: t0}))
		}
		h.clock.Advance(100*day - time.Hour)
		h.principal("prn_fresh", "ten_a", "ext-fresh")
		var fresh []legacykeys.ImportRow
		for i := range 200 {
			fresh = append(fresh, legacykeys.ImportRow{Line: i + 2, Key: fmt.Sprintf("fresh-import-%05d", i), OwnerExternalID: "ext-fresh", Tenant: "ten_a",
				CreatedAt: ptr(t0.Add(-400 * day))}) // the old system's creation time: long ago
		}
		sum, err := h.svc.Import(h.ctx, fresh, false)
		must(t, err)
		if sum.Imported != 200 {
			t.Fatalf("fresh import %+v", sum)
		}
		h.clock.Advance(time.Hour)
		now := h.clock.Now()
		ago := func(d time.Duration) time.Time { return now.Add(-d) }
		must(t, st.RecordKeyUsage(h.ctx, []store.KeyUsage{
			{KeyID: k1.ID, Count: 5, LastUsedAt: ago(2 * day)},
			{KeyID: k2.ID, Count: 1, LastUsedAt: ago(20 * day)},
			{KeyID: k3.ID, Count: 9, LastUsedAt: ago(6 * day)},
			{KeyID: k5.ID, Count: 2, LastUsedAt: ago(40 * day)},
			{KeyID: k6.ID, Count: 3, LastUsedAt: ago(1 * day)}, // revoked: not an active key's use
			{KeyID: kb.ID, Count: 1, LastUsedAt: ago(1 * day)},
		}))
		must(t, st.RecordClientUsage(h.ctx, []store.ClientUsage{{ClientID: "cli_dual", LastUsedAt: ago(day)}, {ClientID: "cli_token", LastUsedAt: ago(3 * day)}}))

		rep, err := h.svc.MigrationReport(h.ctx, "ten_a")
		must(t, err)
		if len(rep.Tenants) != 1 {
			t.Fatalf("tenants %+v", rep.Tenants)
		}
		ta := rep.Tenants[0]
		if ta.TenantID != "ten_a" || ta.ActiveKeys != 208 || ta.Used7d != 2 || ta.Used30d != 3 || ta.NeverUsed != 204 {
			t.Fatalf("ten_a line %+v", ta)
		}
		if ta.SunsetDaysLeft == nil || *ta.SunsetDaysLeft != -39 || !ta.SunsetAt.Equal(t0.Add(60*day+time.Hour)) {
			t.Fatalf("sunset %v, %v days left; want -39", ta.SunsetAt, ta.SunsetDaysLeft)
		}
		states := map[string]legacykeys.HolderState{}
		for _, hm := range rep.Holders {
			states[hm.PrincipalID] = hm.State
		}
		want := map[string]legacykeys.HolderState{
			"prn_dual": legacykeys.HolderDual, "prn_legacy": legacykeys.HolderLegacyOnly,
			"prn_token": legacykeys.HolderTokenOnly, "prn_stale": legacykeys.HolderIdle,
			"prn_retired": legacykeys.HolderRetired, "prn_sus": legacykeys.HolderIdle, "prn_del": legacykeys.HolderIdle,
			"prn_fresh": legacykeys.HolderNew,
		}
		if !reflect.DeepEqual(states, want) {
			t.Fatalf("holder states\n got %v\nwant %v", states, want)
		}
		wantCounts := map[legacykeys.HolderState]int{legacykeys.HolderDual: 1, legacykeys.HolderLegacyOnly: 1, legacykeys.HolderTokenOnly: 1,
			legacykeys.HolderIdle: 3, legacykeys.HolderNew: 1, legacykeys.HolderRetired: 1}
		if !reflect.DeepEqual(ta.Holders, wantCounts) {
			t.Fatalf("holder counts %v, want %v", ta.Holders, wantCounts)
		}
		for _, hm := range rep.Holders {
			if hm.PrincipalID == "prn_dual" && (hm.ActiveKeys != 2 || hm.KeysUsed30d != 2 || hm.ClientsUsed30d != 1 || !hm.LastKeyUse.Equal(ago(2*day))) {
				t.Fatalf("prn_dual line %+v", hm)
			}
		}
		all, err := h.svc.MigrationReport(h.ctx, "")
		must(t, err)
		if len(all.Tenants) != 2 || all.Tenants[1].TenantID != "ten_b" || all.Tenants[1].Used7d != 1 || all.Tenants[1].SunsetDaysLeft != nil {
			t.Fatalf("all-tenant report %+v", all.Tenants)
		}

		// Orphans: k7 (owner suspended), k8 (owner deleted), k9 (owner not
		// found); k6 is revoked and not an orphan.
		orphans, err := h.svc.Orphans(h.ctx, "ten_a")
		must(t, err)
		codes := map[errcode.Code]int{}
		for _, o := range orphans {
			codes[o.Code]++
		}
		if len(orphans) != 3 || codes[errcode.OwnerSuspended] != 1 || codes[errcode.OwnerDeleted] != 1 || codes[errcode.OwnerNotFound] != 1 {
			t.Fatalf("orphans %+v", orphans)
		}
		h.setTenantStatus("ten_b", store.StatusSuspended, adminActor)
		all2, err := h.svc.Orphans(h.ctx, "")
		must(t, err)
		inB := 0
		// kb, used a day ago, broke when its tenant was suspended: it
		// comes first; the others follow by key id.
		if len(all2) == 0 || all2[0].KeyID != kb.ID || !all2[0].BrokenRecently {
			t.Fatalf("the recently used orphan is not first: %+v", all2)
		}
		for i, o := range all2 {
			if i > 1 && all2[i-1].KeyID >= o.KeyID {
				t.Fatalf("orphans not ordered by key id: %+v", all2)
			}
			if i > 0 && o.BrokenRecently {
				t.Fatalf("orphan %s marked recently used: %+v", o.KeyID, o)
			}
			if o.TenantID == "ten_b" {
				inB++
				if o.Code != errcode.TenantSuspended || o.KeyID != kb.ID {
					t.Fatalf("key of a suspended tenant: %+v", o)
				}
			}
		}
		if len(all2) != 4 || inB != 1 {
			t.Fatalf("orphans of all tenants %+v", all2)
		}

		// Expiring within 7 days: kb (expires at t0+103d, now is t0+100d).
		// k7 expires in 100 days; none of the others expire.
		exp, err := h.svc.Expiring(h.ctx, "", 7*day)
		must(t, err)
		if len(exp) != 1 || exp[0].ID != kb.ID {
			t.Fatalf("expiring within 7 days %+v", exp)
		}
		exp, err = h.svc.Expiring(h.ctx, "ten_a", 101*day)
		must(t, err)
		if len(exp) != 1 || exp[0].ID != k7.ID {
			t.Fatalf("expiring in ten_a within 101 days %+v", exp)
		}
		_ = k4
		_, err = h.svc.Expiring(h.ctx, "", 0)
		wantCode(t, err, errcode.RequestInvalid)
	})
}

func TestScanExpiry(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		h := newHarness(t, st)
		h.tenant("ten_a")
		h.principal("prn_a", "ten_a", "")
		soon := func() store.LegacyKey { _, k := h.issue("prn_a", 10*day); return k }()
		later := func() store.LegacyKey { _, k := h.issue("prn_a", 30*day); return k }()
		past := func() store.LegacyKey { _, k := h.issue("prn_a", time.Hour); return k }()
		revoked := func() store.LegacyKey { _, k := h.issue("prn_a", 3*day); return k }()
		_, err := h.svc.Revoke(h.ctx, revoked.ID, "no longer needed")
		must(t, err)
		h.clock.Advance(2 * time.Hour)

		count := func() (expiring, expired []string) {
			for _, d := range h.webhooks()[legacykeys.EventKeyExpiring] {
				expiring = append(expiring, d["key_id"].(string))
			}
			for _, d := range h.webhooks()[legacykeys.EventKeyExpired] {
				expired = append(expired, d["key_id"].(string))
			}
			return
		}
		must(t, h.svc.ScanExpiry(h.ctx))
		expiring, expired := count()
		if !reflect.DeepEqual(expiring, []string{soon.ID}) || !reflect.DeepEqual(expired, []string{past.ID}) {
			t.Fatalf("first scan: expiring %v expired %v; want [%s] [%s]", expiring, expired, soon.ID, past.ID)
		}
		if acts := actions(h.events("key:" + past.ID)); acts != "key.issue key.expire" {
			t.Fatalf("expired key's audit %q", acts)
		}
		for _, d := range h.webhooks()[legacykeys.EventKeyExpiring] {
			if d["days_left"].(float64) != 9 || d["owner_id"] != "prn_a" {
				t.Fatalf("key.expiring data %v", d)
			}
		}

		// Scanning again, on any replica, sends nothing new.
		must(t, h.svc.ScanExpiry(h.ctx))
		must(t, h.svc.ScanExpiry(h.ctx))
		if e1, e2 := count(); len(e1) != 1 || len(e2) != 1 {
			t.Fatalf("repeated scans queued more: %v %v", e1, e2)
		}

		// Seventeen days on, soon has expired and later is within 14 days.
		h.clock.Advance(17 * day)
		must(t, h.svc.ScanExpiry(h.ctx))
		must(t, h.svc.ScanExpiry(h.ctx))
		expiring, expired = count()
		sort.Strings(expiring)
		sort.Strings(expired)
		wantExpiring, wantExpired := []string{soon.ID, later.ID}, []string{past.ID, soon.ID}
		sort.Strings(wantExpiring)
		sort.Strings(wantExpired)
		if !reflect.DeepEqual(expiring, wantExpiring) || !reflect.DeepEqual(expired, wantExpired) {
			t.Fatalf("after 17 days: expiring %v expired %v; want %v %v", expiring, expired, wantExpiring, wantExpired)
		}
		// Rotating a key that was already announced as expiring moves its
		// expiry closer: the holder hears about the new date.
		_, fresh, _, err := h.svc.Rotate(h.ctx, later.ID, 2*day)
		must(t, err)
		must(t, h.svc.ScanExpiry(h.ctx))
		var laterNotices []float64
		for _, d := range h.webhooks()[legacykeys.EventKeyExpiring] {
			if d["key_id"] == later.ID {
				laterNotices = append(laterNotices, d["days_left"].(float64))
			}
			if d["key_id"] == fresh.ID {
				t.Fatalf("the fresh key (30 days) got an expiring notice")
			}
		}
		sort.Float64s(laterNotices)
		if !reflect.DeepEqual(laterNotices, []float64{2, 12}) {
			t.Fatalf("expiring notices of the rotated key: days left %v, want [2 12]", laterNotices)
		}
		if acts := actions(h.events("key:" + revoked.ID)); acts != "key.issue key.revoke" {
			t.Fatalf("revoked key got expiry events: %q", acts)
		}
	})
}
