package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

func testLegacyKeys(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	// Keys need neither their tenant nor their owner to exist.
	k := legacyKey("key_1", "ten_ghost", "prn_ghost")
	k.OwnerRef = "emp-7"
	k.Scopes = []string{"orders:read"}
	k.Source = store.SourceImported
	k.ExpiresAt = ptr(at(30 * 24 * time.Hour))
	k.RotatedFrom = "key_0"
	must(t, s.CreateLegacyKey(ctx, k))

	got, err := s.GetLegacyKey(ctx, "key_1")
	must(t, err)
	if d := diff(got, k); d != "" {
		t.Fatalf("GetLegacyKey:%s", d)
	}
	got, err = s.GetLegacyKeyByHash(ctx, []byte("hash-of-key_1"))
	must(t, err)
	if got.ID != "key_1" {
		t.Fatalf("GetLegacyKeyByHash = %q", got.ID)
	}
	for _, h := range [][]byte{[]byte("hash-of-key_2"), []byte("hash-of-key_"), {}} {
		_, err = s.GetLegacyKeyByHash(ctx, h)
		wantErr(t, err, store.ErrNotFound, fmt.Sprintf("GetLegacyKeyByHash(%q)", h))
	}

	dupHash := legacyKey("key_2", "ten_a", "prn_1")
	dupHash.Hash = k.Hash
	wantErr(t, s.CreateLegacyKey(ctx, dupHash), store.ErrConflict, "CreateLegacyKey with a taken hash")
	wantErr(t, s.CreateLegacyKey(ctx, legacyKey("key_1", "ten_a", "prn_1")), store.ErrConflict, "CreateLegacyKey with a taken id")

	revokedAt := at(time.Hour)
	_, err = s.UpdateLegacyKey(ctx, "key_1", func(x store.LegacyKey) (store.LegacyKey, error) {
		x.Status, x.RevokedAt, x.RevokedBy, x.RevokedReason = store.StatusRevoked, &revokedAt, "cli", "leaked"
		return x, nil
	})
	must(t, err)
	got, _ = s.GetLegacyKey(ctx, "key_1")
	if got.Status != store.StatusRevoked || got.RevokedReason != "leaked" || !got.RevokedAt.Equal(revokedAt) {
		t.Fatalf("after revocation: %+v", got)
	}
	_, err = s.UpdateLegacyKey(ctx, "key_missing", func(x store.LegacyKey) (store.LegacyKey, error) { return x, nil })
	wantErr(t, err, store.ErrNotFound, "UpdateLegacyKey of a missing key")

	// Filters.
	soon := legacyKey("key_3", "ten_a", "prn_1")
	soon.ExpiresAt = ptr(at(24 * time.Hour))
	noticed := legacyKey("key_4", "ten_a", "prn_1")
	noticed.ExpiresAt = ptr(at(24 * time.Hour))
	noticed.ExpiryNoticeAt = ptr(t0)
	later := legacyKey("key_5", "ten_a", "prn_2")
	later.ExpiresAt = ptr(at(365 * 24 * time.Hour))
	later.OwnerRef = "emp-7"
	for _, x := range []store.LegacyKey{soon, noticed, later, legacyKey("key_6", "ten_a", "prn_2")} {
		must(t, s.CreateLegacyKey(ctx, x))
	}
	for _, c := range []struct {
		name string
		f    store.LegacyKeyFilter
		want []string
	}{
		{"tenant", store.LegacyKeyFilter{TenantID: "ten_a"}, []string{"key_3", "key_4", "key_5", "key_6"}},
		{"owner", store.LegacyKeyFilter{OwnerID: "prn_2"}, []string{"key_5", "key_6"}},
		{"owner ref", store.LegacyKeyFilter{OwnerRef: "emp-7"}, []string{"key_1", "key_5"}},
		{"status", store.LegacyKeyFilter{Status: store.StatusRevoked}, []string{"key_1"}},
		{"expiring", store.LegacyKeyFilter{TenantID: "ten_a", ExpiresBefore: ptr(at(48 * time.Hour))}, []string{"key_3", "key_4"}},
		{"expiring, notice pending", store.LegacyKeyFilter{ExpiresBefore: ptr(at(48 * time.Hour)), ExpiryNoticePending: true}, []string{"key_3"}},
	} {
		list, _, err := s.ListLegacyKeys(ctx, c.f, store.Page{})
		must(t, err)
		if d := diff(keyIDs(list), c.want); d != "" {
			t.Errorf("ListLegacyKeys by %s:%s", c.name, d)
		}
	}
}

func keyIDs(ks []store.LegacyKey) []string {
	var ids []string
	for _, k := range ks {
		ids = append(ids, k.ID)
	}
	return ids
}

func testCreateLegacyKeys(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	must(t, s.CreateLegacyKey(ctx, legacyKey("key_0000", "ten_a", "prn_1")))
	clash := legacyKey("key_clash", "ten_a", "prn_1")
	clash.Hash = []byte("hash-of-key_0000")

	// More keys than fit one statement on either backend (SQLite takes
	// 1638 rows of 20 parameters), with an existing id, an existing hash
	// and a duplicate inside the batch itself.
	const n = 2500
	var batch []store.LegacyKey
	for i := range n {
		batch = append(batch, legacyKey(fmt.Sprintf("key_%04d", i), "ten_a", "prn_1"))
	}
	batch = append(batch, clash, legacyKey("key_0042", "ten_a", "prn_1"))
	ids, err := s.CreateLegacyKeys(ctx, batch)
	must(t, err)
	if len(ids) != n-1 {
		t.Fatalf("CreateLegacyKeys inserted %d keys, want %d", len(ids), n-1)
	}
	slices.Sort(ids)
	if ids[0] != "key_0001" || ids[len(ids)-1] != fmt.Sprintf("key_%04d", n-1) || slices.Contains(ids, "key_clash") {
		t.Fatalf("CreateLegacyKeys returned ids from %s to %s", ids[0], ids[len(ids)-1])
	}
	k, err := s.GetLegacyKeyByHash(ctx, []byte("hash-of-key_2499"))
	must(t, err)
	if d := diff(k, legacyKey("key_2499", "ten_a", "prn_1")); d != "" {
		t.Fatalf("a bulk-inserted key:%s", d)
	}
	_, err = s.GetLegacyKey(ctx, "key_clash")
	wantErr(t, err, store.ErrNotFound, "the key whose hash clashed")

	ids, err = s.CreateLegacyKeys(ctx, nil)
	must(t, err)
	if len(ids) != 0 {
		t.Fatalf("CreateLegacyKeys(nil) = %v", ids)
	}
}

func testRemapLegacyKeys(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	mk := func(id, tenantID, ownerID, ref string) store.LegacyKey {
		k := legacyKey(id, tenantID, ownerID)
		k.OwnerRef, k.Source = ref, store.SourceImported
		return k
	}
	for _, k := range []store.LegacyKey{
		mk("key_1", "ten_a", "", "emp-1"),           // unresolved at import
		mk("key_2", "ten_a", "prn_wrong", "emp-1"),  // resolved to the wrong principal
		mk("key_3", "ten_a", "prn_new", "emp-1"),    // already right: not counted
		mk("key_4", "ten_b", "", "emp-1"),           // other tenant
		mk("key_5", "ten_a", "emp-1", ""),           // owner id that is the old reference
		mk("key_6", "ten_a", "prn_other", "emp-10"), // a longer reference
		mk("key_7", "ten_a", "prn_other", ""),       // issued
	} {
		must(t, s.CreateLegacyKey(ctx, k))
	}
	g0, err := s.Generation(ctx)
	must(t, err)
	n, err := s.RemapLegacyKeys(ctx, "ten_a", "emp-1", "prn_new")
	must(t, err)
	if n != 3 {
		t.Fatalf("RemapLegacyKeys changed %d keys, want 3", n)
	}
	want := map[string]string{"key_1": "prn_new", "key_2": "prn_new", "key_3": "prn_new", "key_4": "",
		"key_5": "prn_new", "key_6": "prn_other", "key_7": "prn_other"}
	for id, owner := range want {
		k, err := s.GetLegacyKey(ctx, id)
		must(t, err)
		if k.OwnerID != owner {
			t.Errorf("%s: owner %q, want %q", id, k.OwnerID, owner)
		}
	}
	if g1, _ := s.Generation(ctx); g1 <= g0 {
		t.Fatalf("Generation did not move on remap: %d -> %d", g0, g1)
	}
	n, err = s.RemapLegacyKeys(ctx, "ten_a", "emp-1", "prn_new")
	must(t, err)
	if n != 0 {
		t.Fatalf("remapping again changed %d keys", n)
	}
	if _, err := s.RemapLegacyKeys(ctx, "ten_a", "", "prn_new"); err == nil {
		t.Fatal("RemapLegacyKeys with an empty reference would reassign every issued key; want an error")
	}
}

func testKeyUsage(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	must(t, s.CreateLegacyKey(ctx, legacyKey("key_1", "ten_a", "prn_1")))
	must(t, s.CreateLegacyKey(ctx, legacyKey("key_2", "ten_a", "prn_1")))
	g0, err := s.Generation(ctx)
	must(t, err)
	must(t, s.RecordKeyUsage(ctx, []store.KeyUsage{
		{KeyID: "key_2", Count: 3, LastUsedAt: at(2 * time.Hour)},
		{KeyID: "key_1", Count: 5, LastUsedAt: at(time.Hour)},
		{KeyID: "key_unknown", Count: 1, LastUsedAt: t0},
	}))
	must(t, s.RecordKeyUsage(ctx, []store.KeyUsage{{KeyID: "key_2", Count: 4, LastUsedAt: at(time.Hour)}}))
	for _, c := range []struct {
		id    string
		count int64
		last  time.Time
	}{{"key_1", 5, at(time.Hour)}, {"key_2", 7, at(2 * time.Hour)}} {
		k, err := s.GetLegacyKey(ctx, c.id)
		must(t, err)
		if k.UseCount != c.count || k.LastUsedAt == nil || !k.LastUsedAt.Equal(c.last) {
			t.Errorf("%s: count %d last %v, want %d %v (last use never moves back)", c.id, k.UseCount, k.LastUsedAt, c.count, c.last)
		}
	}
	if g1, _ := s.Generation(ctx); g1 != g0 {
		t.Fatalf("recording usage moved Generation %d -> %d; caches would be flushed by every exchange", g0, g1)
	}
}

// statsFixture creates, relative to now = at(100 days):
//
//	ten_a: key_a1 active used 1d ago, key_a2 active used 10d ago,
//	       key_a3 active used 40d ago, key_a4 active never used,
//	       key_a5 revoked used 1d ago (owner prn_a2)
//	ten_b: key_b1 active never used, key_b2 revoked never used
//	ten_c: key_c1 revoked (a tenant fully migrated)
//
// key_a4 entered authz 2 days before now; the others at t0.
func statsFixture(t *testing.T, s store.Store) time.Time {
	ctx := ctxOf(t)
	now := at(100 * 24 * time.Hour)
	day := 24 * time.Hour
	mk := func(id, tenantID, owner string, status store.Status, usedAgo time.Duration) store.LegacyKey {
		k := legacyKey(id, tenantID, owner)
		k.Status = status
		if usedAgo > 0 {
			k.LastUsedAt = ptr(now.Add(-usedAgo))
			k.UseCount = 1
		}
		return k
	}
	for _, k := range []store.LegacyKey{
		mk("key_a1", "ten_a", "prn_a1", store.StatusActive, day),
		mk("key_a2", "ten_a", "prn_a1", store.StatusActive, 10*day),
		mk("key_a3", "ten_a", "prn_a1", store.StatusActive, 40*day),
		added(mk("key_a4", "ten_a", "prn_a2", store.StatusActive, 0), now.Add(-2*day)),
		mk("key_a5", "ten_a", "prn_a2", store.StatusRevoked, day),
		mk("key_b1", "ten_b", "prn_b1", store.StatusActive, 0),
		mk("key_b2", "ten_b", "", store.StatusRevoked, 0),
		mk("key_c1", "ten_c", "prn_c1", store.StatusRevoked, 0),
	} {
		must(t, s.CreateLegacyKey(ctx, k))
	}
	return now
}

func testLegacyKeyStats(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	now := statsFixture(t, s)
	all := []store.KeyStats{
		{TenantID: "ten_a", Active: 4, Used7d: 1, Used30d: 2, NeverUsed: 1},
		{TenantID: "ten_b", Active: 1, Used7d: 0, Used30d: 0, NeverUsed: 1},
		{TenantID: "ten_c", Active: 0, Used7d: 0, Used30d: 0, NeverUsed: 0},
	}
	for _, c := range []struct {
		tenant string
		want   []store.KeyStats
	}{{"", all}, {"ten_b", all[1:2]}, {"ten_none", nil}} {
		got, err := s.LegacyKeyStats(ctx, c.tenant, now)
		must(t, err)
		if d := diff(got, c.want); d != "" {
			t.Errorf("LegacyKeyStats(%q):%s", c.tenant, d)
		}
	}
}

func testHolderStats(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	now := statsFixture(t, s)
	seed(t, s, "ten_a", "prn_a1")
	must(t, s.CreatePrincipal(ctx, principal("prn_a2", "ten_a")))
	must(t, s.CreateClient(ctx, client("cli_1", "ten_a", "prn_a1")))
	must(t, s.CreateClient(ctx, client("cli_2", "ten_a", "prn_a1")))
	must(t, s.CreateClient(ctx, client("cli_3", "ten_a", "prn_a2")))
	must(t, s.RecordClientUsage(ctx, []store.ClientUsage{
		{ClientID: "cli_1", LastUsedAt: now.Add(-time.Hour)},
		{ClientID: "cli_2", LastUsedAt: now.Add(-20 * 24 * time.Hour)},
		{ClientID: "cli_3", LastUsedAt: now.Add(-time.Hour)},
	}))
	since := now.Add(-7 * 24 * time.Hour)
	all := []store.HolderStats{
		{TenantID: "ten_a", PrincipalID: "prn_a1", ActiveKeys: 3, KeysUsedSince: 1, ClientsUsedSince: 1, LastKeyUse: ptr(now.Add(-24 * time.Hour)), LastKeyAdded: ptr(t0)},
		// LastKeyAdded is of active keys only: key_a5 is revoked.
		{TenantID: "ten_a", PrincipalID: "prn_a2", ActiveKeys: 1, KeysUsedSince: 0, ClientsUsedSince: 1, LastKeyUse: ptr(now.Add(-24 * time.Hour)), LastKeyAdded: ptr(now.Add(-48 * time.Hour))},
		{TenantID: "ten_b", PrincipalID: "prn_b1", ActiveKeys: 1, LastKeyAdded: ptr(t0)},
		{TenantID: "ten_c", PrincipalID: "prn_c1"},
	}
	for _, c := range []struct {
		tenant string
		want   []store.HolderStats
	}{{"", all}, {"ten_a", all[:2]}, {"ten_none", nil}} {
		got, err := s.HolderStats(ctx, c.tenant, since)
		must(t, err)
		if d := diff(got, c.want); d != "" {
			t.Errorf("HolderStats(%q):%s", c.tenant, d)
		}
	}
}

func testOrphanKeys(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	must(t, s.CreateTenant(ctx, tenant("ten_a")))
	susp := tenant("ten_s")
	susp.Status = store.StatusSuspended
	must(t, s.CreateTenant(ctx, susp))
	for _, p := range []struct {
		id, tenant string
		status     store.Status
	}{
		{"prn_ok", "ten_a", store.StatusActive},
		{"prn_susp", "ten_a", store.StatusSuspended},
		{"prn_del", "ten_a", store.StatusDeleted},
		{"prn_in_s", "ten_s", store.StatusActive},
	} {
		x := principal(p.id, p.tenant)
		x.Status = p.status
		must(t, s.CreatePrincipal(ctx, x))
	}
	revoked := legacyKey("key_8", "ten_a", "prn_missing")
	revoked.Status = store.StatusRevoked
	// Last uses around the report's "recent" boundary: key_3 at it (recent),
	// key_2 a microsecond before it, key_6 after it.
	since := t0.Add(-7 * 24 * time.Hour)
	usedAt := func(k store.LegacyKey, at time.Time) store.LegacyKey { k.LastUsedAt = &at; return k }
	for _, k := range []store.LegacyKey{
		legacyKey("key_1", "ten_a", "prn_ok"),                                         // healthy
		usedAt(legacyKey("key_2", "ten_a", "prn_susp"), since.Add(-time.Microsecond)), // owner suspended
		usedAt(legacyKey("key_3", "ten_a", "prn_del"), since),                         // owner deleted
		legacyKey("key_4", "ten_a", "prn_missing"),                                    // owner missing
		legacyKey("key_5", "ten_a", ""),                                               // owner never resolved
		usedAt(legacyKey("key_6", "ten_s", "prn_in_s"), t0),                           // tenant suspended
		legacyKey("key_7", "ten_gone", "prn_ok"),                                      // tenant missing
		revoked,                                                                       // revoked: not an orphan to act on
	} {
		must(t, s.CreateLegacyKey(ctx, k))
	}
	type row struct {
		ID            string
		Owner, Tenant store.Status
	}
	all := []row{
		{"key_2", store.StatusSuspended, store.StatusActive},
		{"key_3", store.StatusDeleted, store.StatusActive},
		{"key_4", "", store.StatusActive},
		{"key_5", "", store.StatusActive},
		{"key_6", store.StatusActive, store.StatusSuspended},
		{"key_7", store.StatusActive, ""},
	}
	pick := func(ids ...int) []row {
		var out []row
		for _, i := range ids {
			out = append(out, all[i])
		}
		return out
	}
	for _, c := range []struct {
		name string
		f    store.OrphanKeyFilter
		want []row
	}{
		{"all", store.OrphanKeyFilter{}, all},
		{"ten_s", store.OrphanKeyFilter{TenantID: "ten_s"}, all[4:5]},
		{"ten_gone", store.OrphanKeyFilter{TenantID: "ten_gone"}, all[5:]},
		{"used since", store.OrphanKeyFilter{UsedSince: since, Used: true}, pick(1, 4)},
		{"not used since", store.OrphanKeyFilter{UsedSince: since}, pick(0, 2, 3, 5)},
		{"ten_a used since", store.OrphanKeyFilter{TenantID: "ten_a", UsedSince: since, Used: true}, pick(1)},
	} {
		var got []row
		page := store.Page{Limit: 2}
		for {
			list, next, err := s.ListOrphanKeys(ctx, c.f, page)
			must(t, err)
			for _, o := range list {
				got = append(got, row{o.Key.ID, o.OwnerStatus, o.TenantStatus})
			}
			if next == "" {
				break
			}
			page.After = next
		}
		if d := diff(got, c.want); d != "" {
			t.Errorf("ListOrphanKeys %s:%s", c.name, d)
		}
	}
}
