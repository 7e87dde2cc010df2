package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	current := store.SigningKey{
		KID: "kid-1", Alg: "ES256", State: store.SigningCurrent, Private: []byte{1, 2, 3, 0, 255},
		Public:    []byte(`{"kty":"EC","kid":"kid-1"}`),
		CreatedAt: t0, PublishedAt: t0, ActivatedAt: ptr(at(time.Minute)),
	}
	next := store.SigningKey{
		KID: "kid-2", Alg: "EdDSA", State: store.SigningNext, Private: []byte{4}, Public: []byte(`{"kid":"kid-2"}`),
		CreatedAt: at(time.Hour), PublishedAt: at(time.Hour),
	}
	must(t, s.Tx(ctx, func(tx store.Tx) error {
		if err := tx.LockSigningKeys(ctx); err != nil {
			return err
		}
		if err := tx.CreateSigningKey(ctx, current); err != nil {
			return err
		}
		return tx.CreateSigningKey(ctx, next)
	}))
	keys, err := s.ListSigningKeys(ctx)
	must(t, err)
	if d := diff(keys, []store.SigningKey{current, next}); d != "" {
		t.Fatalf("ListSigningKeys (oldest first):%s", d)
	}

	second := next
	second.KID, second.State = "kid-3", store.SigningCurrent
	wantErr(t, s.CreateSigningKey(ctx, second), store.ErrConflict, "creating a second current key")
	wantErr(t, s.CreateSigningKey(ctx, next), store.ErrConflict, "creating a duplicate kid")
	_, err = s.UpdateSigningKey(ctx, "kid-2", func(k store.SigningKey) (store.SigningKey, error) {
		k.State = store.SigningCurrent
		return k, nil
	})
	wantErr(t, err, store.ErrConflict, "promoting a key while another is current")

	// A rotation: retire, then promote, in one transaction.
	must(t, s.Tx(ctx, func(tx store.Tx) error {
		if err := tx.LockSigningKeys(ctx); err != nil {
			return err
		}
		if _, err := tx.UpdateSigningKey(ctx, "kid-1", func(k store.SigningKey) (store.SigningKey, error) {
			k.State, k.RetiredAt, k.RemoveAfter = store.SigningRetired, ptr(at(2*time.Hour)), ptr(at(3*time.Hour))
			return k, nil
		}); err != nil {
			return err
		}
		_, err := tx.UpdateSigningKey(ctx, "kid-2", func(k store.SigningKey) (store.SigningKey, error) {
			k.State, k.ActivatedAt = store.SigningCurrent, ptr(at(2*time.Hour))
			return k, nil
		})
		return err
	}))
	keys, err = s.ListSigningKeys(ctx)
	must(t, err)
	if len(keys) != 2 || keys[0].State != store.SigningRetired || keys[1].State != store.SigningCurrent ||
		!keys[0].RemoveAfter.Equal(at(3*time.Hour)) {
		t.Fatalf("after rotation: %+v", keys)
	}
	must(t, s.DeleteSigningKey(ctx, "kid-1"))
	wantErr(t, s.DeleteSigningKey(ctx, "kid-1"), store.ErrNotFound, "deleting a signing key twice")
	_, err = s.UpdateSigningKey(ctx, "kid-1", func(k store.SigningKey) (store.SigningKey, error) { return k, nil })
	wantErr(t, err, store.ErrNotFound, "updating a deleted signing key")
}

// testSigningKeyLock: transactions that read the signing keys after
// LockSigningKeys and then add one never act on a stale read, on any
// replica: each names its key after the count it saw, so two that saw the
// same count would collide.
func testSigningKeyLock(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = s.Tx(ctx, func(tx store.Tx) error {
				if err := tx.LockSigningKeys(ctx); err != nil {
					return err
				}
				keys, err := tx.ListSigningKeys(ctx)
				if err != nil {
					return err
				}
				return tx.CreateSigningKey(ctx, store.SigningKey{
					KID: fmt.Sprintf("kid-%d", len(keys)), Alg: "ES256", State: store.SigningNext,
					CreatedAt: at(time.Duration(len(keys)) * time.Second), PublishedAt: t0,
				})
			})
		})
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	keys, err := s.ListSigningKeys(ctx)
	must(t, err)
	if len(keys) != n {
		t.Fatalf("%d signing keys, want %d", len(keys), n)
	}
}

func testSettings(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	_, err := s.GetSetting(ctx, "issuer")
	wantErr(t, err, store.ErrNotFound, "GetSetting of an unset key")
	must(t, s.SetSetting(ctx, "issuer", "https://a"))
	must(t, s.SetSetting(ctx, "issuer", "https://b"))
	if v, _ := s.GetSetting(ctx, "issuer"); v != "https://b" {
		t.Fatalf("GetSetting = %q after overwrite", v)
	}

	// Replicas starting together all end up with the first value stored.
	var wg sync.WaitGroup
	got := make([]string, 8)
	errs := make([]error, 8)
	for i := range got {
		wg.Go(func() { got[i], errs[i] = s.SetSettingIfAbsent(ctx, "pepper", fmt.Sprintf("v%d", i)) })
	}
	wg.Wait()
	stored, err := s.GetSetting(ctx, "pepper")
	must(t, err)
	for i := range got {
		must(t, errs[i])
		if got[i] != stored {
			t.Fatalf("SetSettingIfAbsent #%d returned %q, but %q is stored", i, got[i], stored)
		}
	}
	if v, err := s.SetSettingIfAbsent(ctx, "issuer", "https://c"); err != nil || v != "https://b" {
		t.Fatalf("SetSettingIfAbsent over a set key = %q, %v", v, err)
	}
}

// testGeneration checks that each kind of change moves Generation, and
// that usage counters and the other tables do not.
func testGeneration(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	for _, c := range []struct {
		name  string
		moves bool
		do    func() error
	}{
		{"create tenant", true, func() error { return s.CreateTenant(ctx, tenant("ten_a")) }},
		{"update tenant", true, func() error {
			_, err := s.UpdateTenant(ctx, "ten_a", func(x store.Tenant) (store.Tenant, error) { x.Status = store.StatusSuspended; return x, nil })
			return err
		}},
		{"create principal", true, func() error { return s.CreatePrincipal(ctx, principal("prn_1", "ten_a")) }},
		{"update principal", true, func() error {
			_, err := s.UpdatePrincipal(ctx, "prn_1", func(x store.Principal) (store.Principal, error) { x.Status = store.StatusSuspended; return x, nil })
			return err
		}},
		{"create client", true, func() error { return s.CreateClient(ctx, client("cli_1", "ten_a", "prn_1")) }},
		{"update client", true, func() error {
			_, err := s.UpdateClient(ctx, "cli_1", func(x store.Client) (store.Client, error) { x.Name = "renamed"; return x, nil })
			return err
		}},
		{"record client usage", false, func() error {
			return s.RecordClientUsage(ctx, []store.ClientUsage{{ClientID: "cli_1", LastUsedAt: t0}})
		}},
		{"delete client", true, func() error { return s.DeleteClient(ctx, "cli_1", t0) }},
		{"create role", true, func() error { return s.CreateRole(ctx, role("rol_1", "ten_a", "r", "p")) }},
		{"update role", true, func() error {
			_, err := s.UpdateRole(ctx, "rol_1", func(x store.Role) (store.Role, error) { x.Permissions = nil; return x, nil })
			return err
		}},
		{"create binding", true, func() error {
			return s.CreateBinding(ctx, store.Binding{PrincipalID: "prn_1", RoleID: "rol_1", TenantID: "ten_a", CreatedAt: t0})
		}},
		{"delete binding", true, func() error { return s.DeleteBinding(ctx, "prn_1", "rol_1") }},
		{"delete role", true, func() error { return s.DeleteRole(ctx, "rol_1") }},
		{"create legacy key", true, func() error { return s.CreateLegacyKey(ctx, legacyKey("key_1", "ten_a", "prn_1")) }},
		{"create legacy keys", true, func() error {
			_, err := s.CreateLegacyKeys(ctx, []store.LegacyKey{legacyKey("key_2", "ten_a", "prn_1")})
			return err
		}},
		{"create legacy keys, all skipped", false, func() error {
			_, err := s.CreateLegacyKeys(ctx, []store.LegacyKey{legacyKey("key_2", "ten_a", "prn_1")})
			return err
		}},
		{"update legacy key", true, func() error {
			_, err := s.UpdateLegacyKey(ctx, "key_1", func(x store.LegacyKey) (store.LegacyKey, error) { x.Label = "x"; return x, nil })
			return err
		}},
		{"record key usage", false, func() error {
			return s.RecordKeyUsage(ctx, []store.KeyUsage{{KeyID: "key_1", Count: 1, LastUsedAt: t0}})
		}},
		{"create signing key", true, func() error {
			return s.CreateSigningKey(ctx, store.SigningKey{KID: "k1", Alg: "ES256", State: store.SigningNext, CreatedAt: t0, PublishedAt: t0})
		}},
		{"update signing key", true, func() error {
			_, err := s.UpdateSigningKey(ctx, "k1", func(k store.SigningKey) (store.SigningKey, error) { k.State = store.SigningCurrent; return k, nil })
			return err
		}},
		{"delete signing key", true, func() error { return s.DeleteSigningKey(ctx, "k1") }},
		{"create scim token", true, func() error {
			return s.CreateSCIMToken(ctx, store.SCIMToken{ID: "sct_1", TenantID: "ten_a", Name: "Okta", Hash: []byte("h1"), CreatedAt: t0, CreatedBy: "op"})
		}},
		{"stamp scim token's last use", false, func() error {
			_, err := s.UpdateSCIMToken(ctx, "sct_1", func(x store.SCIMToken) (store.SCIMToken, error) { x.LastUsedAt = &t0; return x, nil })
			return err
		}},
		{"revoke scim token", true, func() error {
			_, err := s.UpdateSCIMToken(ctx, "sct_1", func(x store.SCIMToken) (store.SCIMToken, error) {
				x.RevokedAt, x.RevokedBy = &t0, "op"
				return x, nil
			})
			return err
		}},
		{"set setting", false, func() error { return s.SetSetting(ctx, "a", "b") }},
		{"revoke token", false, func() error { return s.RevokeToken(ctx, "jti-1", t0) }},
		{"allocate status index", false, func() error { _, err := s.AllocateStatusIndex(ctx, "client:cli_9", t0); return err }},
		{"allocate status indices", false, func() error {
			_, err := s.AllocateStatusIndexes(ctx, []string{"client:cli_7", "client:cli_9"}, t0)
			return err
		}},
		// Ending an epoch changes what the status list says and which index
		// caches may hand out: it must reach every replica at once.
		{"invalidate status index", true, func() error { return s.InvalidateStatusIndex(ctx, "client:cli_9", t0) }},
		{"invalidate status index, none current", false, func() error { return s.InvalidateStatusIndex(ctx, "client:cli_9", t0) }},
		{"enqueue webhook", false, func() error { return s.EnqueueWebhook(ctx, webhook("whk_1", t0)) }},
		{"failed update", false, func() error {
			_, err := s.UpdateTenant(ctx, "ten_a", func(x store.Tenant) (store.Tenant, error) { return x, errors.New("no") })
			if err == nil {
				return errors.New("fn's error was lost")
			}
			return nil
		}},
	} {
		before, err := s.Generation(ctx)
		must(t, err)
		localBefore := s.LocalChanges()
		if err := c.do(); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		after, err := s.Generation(ctx)
		must(t, err)
		if moved := after > before; moved != c.moves {
			t.Errorf("%s: Generation %d -> %d; want moved=%v", c.name, before, after, c.moves)
		}
		if moved := s.LocalChanges() > localBefore; moved != c.moves {
			t.Errorf("%s: LocalChanges %d -> %d; want moved=%v", c.name, localBefore, s.LocalChanges(), c.moves)
		}
	}
}

// testPagination walks listings larger than one page, with a filter, and
// checks the limit's default and cap.
func testPagination(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	seed(t, s, "ten_a", "prn_owner")
	must(t, s.CreateTenant(ctx, tenant("ten_b")))
	var keys []store.LegacyKey
	for i := range store.MaxLimit + 50 {
		tenantID := "ten_a"
		if i%3 == 0 {
			tenantID = "ten_b"
		}
		keys = append(keys, legacyKey(fmt.Sprintf("key_%05d", i), tenantID, "prn_owner"))
	}
	_, err := s.CreateLegacyKeys(ctx, keys)
	must(t, err)
	for i := range 7 {
		p := principal(fmt.Sprintf("prn_%d", i), "ten_a")
		p.Status = []store.Status{store.StatusActive, store.StatusSuspended}[i%2]
		must(t, s.CreatePrincipal(ctx, p))
	}

	walk := func(list func(p store.Page) ([]string, string, error), limit int) ([]string, int) {
		t.Helper()
		var all []string
		pages := 0
		p := store.Page{Limit: limit}
		for {
			ids, next, err := list(p)
			must(t, err)
			pages++
			if limit > 0 && len(ids) > limit {
				t.Fatalf("page of %d items, limit %d", len(ids), limit)
			}
			all = append(all, ids...)
			if next == "" {
				return all, pages
			}
			if pages > 10000 {
				t.Fatal("pagination does not end")
			}
			p.After = next
		}
	}
	listKeys := func(tenantID string) func(p store.Page) ([]string, string, error) {
		return func(p store.Page) ([]string, string, error) {
			ks, next, err := s.ListLegacyKeys(ctx, store.LegacyKeyFilter{TenantID: tenantID}, p)
			return keyIDs(ks), next, err
		}
	}
	var wantA []string
	for _, k := range keys {
		if k.TenantID == "ten_a" {
			wantA = append(wantA, k.ID)
		}
	}
	got, pages := walk(listKeys("ten_a"), 97)
	if d := diff(got, wantA); d != "" {
		t.Fatalf("keys of ten_a, in pages of 97:%s", d)
	}
	if want := (len(wantA) + 96) / 97; pages != want {
		t.Errorf("%d pages, want %d", pages, want)
	}
	for _, c := range []struct{ limit, want int }{{0, store.DefaultLimit}, {-5, store.DefaultLimit}, {5000, store.MaxLimit}} {
		ks, next, err := s.ListLegacyKeys(ctx, store.LegacyKeyFilter{}, store.Page{Limit: c.limit})
		must(t, err)
		if len(ks) != c.want || next != ks[len(ks)-1].ID {
			t.Errorf("Limit %d: %d keys (next %q), want %d", c.limit, len(ks), next, c.want)
		}
	}
	// An exactly full last page says there is no more.
	ps, next, err := s.ListPrincipals(ctx, store.PrincipalFilter{TenantID: "ten_a", Status: store.StatusSuspended}, store.Page{Limit: 3})
	must(t, err)
	if len(ps) != 3 || next != "" {
		t.Errorf("3 suspended principals with Limit 3: got %d, next %q", len(ps), next)
	}
	got, _ = walk(func(p store.Page) ([]string, string, error) {
		ps, next, err := s.ListPrincipals(ctx, store.PrincipalFilter{TenantID: "ten_a", Status: store.StatusActive}, p)
		var ids []string
		for _, x := range ps {
			ids = append(ids, x.ID)
		}
		return ids, next, err
	}, 2)
	if d := diff(got, []string{"prn_0", "prn_2", "prn_4", "prn_6", "prn_owner"}); d != "" {
		t.Errorf("active principals in pages of 2:%s", d)
	}
}

// testTxRollback: a transaction whose fn fails leaves nothing behind, even
// after several statements succeeded.
func testTxRollback(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	must(t, s.CreateTenant(ctx, tenant("ten_a")))
	g0, _ := s.Generation(ctx)
	l0 := s.LocalChanges()
	boom := errors.New("boom")
	err := s.Tx(ctx, func(tx store.Tx) error {
		for _, step := range []func() error{
			func() error { return tx.CreateTenant(ctx, tenant("ten_b")) },
			func() error { return tx.CreatePrincipal(ctx, principal("prn_1", "ten_b")) },
			func() error {
				_, err := tx.UpdateTenant(ctx, "ten_a", func(x store.Tenant) (store.Tenant, error) { x.Status = store.StatusSuspended; return x, nil })
				return err
			},
			func() error { return tx.CreateLegacyKey(ctx, legacyKey("key_1", "ten_b", "prn_1")) },
			func() error { return tx.SetSetting(ctx, "k", "v") },
			func() error { return tx.EnqueueWebhook(ctx, webhook("whk_1", t0)) },
		} {
			if err := step(); err != nil {
				return err
			}
		}
		// Reads inside the transaction see its writes.
		if _, err := tx.GetPrincipal(ctx, "prn_1"); err != nil {
			return fmt.Errorf("read own write: %w", err)
		}
		return boom
	})
	wantErr(t, err, boom, "Tx returns fn's error")
	if _, err := s.GetTenant(ctx, "ten_b"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("tenant of a rolled back Tx: %v", err)
	}
	if _, err := s.GetPrincipal(ctx, "prn_1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("principal of a rolled back Tx: %v", err)
	}
	if _, err := s.GetLegacyKey(ctx, "key_1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("key of a rolled back Tx: %v", err)
	}
	if _, err := s.GetSetting(ctx, "k"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("setting of a rolled back Tx: %v", err)
	}
	if ws, _, _ := s.ListWebhooks(ctx, store.WebhookFilter{}, store.Page{}); len(ws) != 0 {
		t.Errorf("webhooks of a rolled back Tx: %d", len(ws))
	}
	if a, _ := s.GetTenant(ctx, "ten_a"); a.Status != store.StatusActive {
		t.Errorf("update of a rolled back Tx stuck: %q", a.Status)
	}
	if g, _ := s.Generation(ctx); g != g0 {
		t.Errorf("a rolled back Tx moved Generation %d -> %d", g0, g)
	}
	if l := s.LocalChanges(); l != l0 {
		t.Errorf("a rolled back Tx moved LocalChanges %d -> %d", l0, l)
	}
	// The store is usable afterwards (the writer was released).
	must(t, s.CreateTenant(ctx, tenant("ten_c")))
}

func testTxPanic(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	func() {
		defer func() {
			if r := recover(); r != "kaboom" {
				t.Fatalf("recovered %v, want the panic to go on after rollback", r)
			}
		}()
		_ = s.Tx(ctx, func(tx store.Tx) error {
			if err := tx.CreateTenant(ctx, tenant("ten_p")); err != nil {
				return err
			}
			panic("kaboom")
		})
	}()
	_, err := s.GetTenant(ctx, "ten_p")
	wantErr(t, err, store.ErrNotFound, "tenant of a Tx that panicked")
	must(t, s.CreateTenant(ctx, tenant("ten_p")))
}

// testTxAbortedAfterError: after a statement fails in the database, the
// transaction refuses to go on and cannot commit, on every backend (this is
// PostgreSQL's rule; the others follow it so that code behaves the same).
func testTxAbortedAfterError(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	must(t, s.CreateTenant(ctx, tenant("ten_a")))
	must(t, s.CreateTenant(ctx, tenant("ten_b")))
	err := s.Tx(ctx, func(tx store.Tx) error {
		// "Not found" is an answer, not a failure: the transaction goes on.
		if _, err := tx.GetTenant(ctx, "ten_missing"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("GetTenant: %v", err)
		}
		if err := tx.CreateTenant(ctx, tenant("ten_c")); err != nil {
			return err
		}
		_, err := tx.UpdateTenant(ctx, "ten_b", func(x store.Tenant) (store.Tenant, error) { x.Name = "name-ten_a"; return x, nil })
		if !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("rename to a taken name: %v", err)
		}
		if _, err := tx.GetTenant(ctx, "ten_a"); err == nil {
			return errors.New("a statement after a failed one succeeded")
		}
		return nil // swallow the failure: the commit must still fail
	})
	if err == nil {
		t.Fatal("Tx committed after a failed statement")
	}
	_, err = s.GetTenant(ctx, "ten_c")
	wantErr(t, err, store.ErrNotFound, "tenant created before the failed statement")
}

// testConcurrentUpdates: N goroutines each incrementing through Update*
// end with N: no update is lost.
func testConcurrentUpdates(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	must(t, s.CreateLegacyKey(ctx, legacyKey("key_1", "ten_a", "prn_1")))
	seed(t, s, "ten_a", "prn_1")
	const n = 16
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for range n {
		wg.Go(func() {
			_, err := s.UpdateLegacyKey(ctx, "key_1", func(k store.LegacyKey) (store.LegacyKey, error) {
				k.UseCount++
				return k, nil
			})
			errs <- err
		})
		wg.Go(func() {
			errs <- s.Tx(ctx, func(tx store.Tx) error {
				_, err := tx.UpdatePrincipal(ctx, "prn_1", func(p store.Principal) (store.Principal, error) {
					p.DisplayName += "+"
					return p, nil
				})
				return err
			})
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	k, err := s.GetLegacyKey(ctx, "key_1")
	must(t, err)
	if k.UseCount != n {
		t.Fatalf("after %d concurrent increments UseCount = %d", n, k.UseCount)
	}
	p, err := s.GetPrincipal(ctx, "prn_1")
	must(t, err)
	if want := len("P prn_1") + n; len(p.DisplayName) != want {
		t.Fatalf("after %d concurrent appends the name is %q", n, p.DisplayName)
	}
}

func testPing(t *testing.T, s store.Store) {
	must(t, s.Ping(ctxOf(t)))
	if b := s.Backend(); b != "sqlite" && b != "postgres" {
		t.Fatalf("Backend() = %q", b)
	}
	if st := s.PoolStats(); st.Open < 1 {
		t.Fatalf("PoolStats after a ping = %+v", st)
	}
}

// testTxContextEnds: a transaction whose context ends — between two of its
// writes, or after the last one and before the commit — commits nothing
// and fails, on every backend (SQLite runs its statements under a context
// that cannot be cancelled and checks the caller's between them:
// sqlstore.Dialect.UncancelledStatements).
func testTxContextEnds(t *testing.T, s store.Store) {
	for _, c := range []struct {
		name  string
		after int // writes done before the context ends
	}{
		{"between two writes", 1},
		{"before the commit", 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(ctxOf(t))
			defer cancel()
			ids := []string{"ten_ctx_" + strconv.Itoa(c.after) + "_a", "ten_ctx_" + strconv.Itoa(c.after) + "_b"}
			err := s.Tx(ctx, func(tx store.Tx) error {
				for i, id := range ids {
					if i == c.after {
						cancel()
					}
					if err := tx.CreateTenant(ctx, tenant(id)); err != nil {
						return err
					}
				}
				if c.after == len(ids) {
					cancel()
				}
				return nil
			})
			if err == nil {
				t.Fatal("Tx whose context ended returned no error")
			}
			for _, id := range ids {
				if _, err := s.GetTenant(ctxOf(t), id); !errors.Is(err, store.ErrNotFound) {
					t.Errorf("tenant %s of a Tx whose context ended: %v (want not found: nothing commits)", id, err)
				}
			}
		})
	}
	// The store is usable afterwards.
	must(t, s.CreateTenant(ctxOf(t), tenant("ten_ctx_after")))
}

// testTxContextEndsAudit: the same for an audit append, a transaction that
// changes nothing the caches watch (no generation bump after it): the
// events of a Tx whose context ended before its commit are not written.
func testTxContextEndsAudit(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(ctxOf(t))
	defer cancel()
	err := s.Tx(ctx, func(tx store.Tx) error {
		head, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		if err := tx.InsertAudit(ctx, chain(head, 3, nil)); err != nil {
			return err
		}
		cancel()
		return nil
	})
	if err == nil {
		t.Fatal("audit append whose context ended before the commit returned no error")
	}
	evs, _, err := s.ListAudit(ctxOf(t), store.AuditFilter{}, store.Page{Limit: 10})
	must(t, err)
	if len(evs) != 0 {
		t.Fatalf("%d events written by a Tx whose context ended before its commit", len(evs))
	}
}
