package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

func audience(id, identifier, tenantID string, sharedWith ...string) store.Audience {
	return store.Audience{ID: id, Identifier: identifier, TenantID: tenantID, SharedWith: sharedWith, CreatedAt: t0, UpdatedAt: t0}
}

// testAudiences: identifiers are unique across tenants, shares are kept
// sorted and follow updates, the tenant filter lists owned and shared
// audiences, and every change moves Generation (the token endpoint reads
// audiences through the directory cache).
func testAudiences(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	for _, id := range []string{"ten_a", "ten_b", "ten_c"} {
		must(t, s.CreateTenant(ctx, tenant(id)))
	}
	gen := func() int64 {
		t.Helper()
		g, err := s.Generation(ctx)
		must(t, err)
		return g
	}

	g0 := gen()
	must(t, s.CreateAudience(ctx, audience("aud_b", "https://b-api", "ten_b", "ten_c", "ten_a", "ten_c", "ten_b")))
	if gen() <= g0 {
		t.Error("CreateAudience did not move Generation")
	}
	want := audience("aud_b", "https://b-api", "ten_b", "ten_a", "ten_c") // sorted, deduplicated, owner dropped
	for _, c := range []struct {
		name string
		get  func() (store.Audience, error)
	}{
		{"by id", func() (store.Audience, error) { return s.GetAudience(ctx, "aud_b") }},
		{"by identifier", func() (store.Audience, error) { return s.GetAudienceByIdentifier(ctx, "https://b-api") }},
	} {
		got, err := c.get()
		must(t, err)
		if d := diff(got, want); d != "" {
			t.Errorf("get %s: %s", c.name, d)
		}
	}

	for _, c := range []struct {
		name string
		a    store.Audience
		want error
	}{
		{"identifier of another tenant", audience("aud_x", "https://b-api", "ten_a"), store.ErrConflict},
		{"identifier of the same tenant", audience("aud_y", "https://b-api", "ten_b"), store.ErrConflict},
		{"same id", audience("aud_b", "https://other", "ten_a"), store.ErrConflict},
		{"unknown owner", audience("aud_z", "https://z", "ten_missing"), store.ErrNotFound},
		{"unknown share", audience("aud_z", "https://z", "ten_a", "ten_missing"), store.ErrNotFound},
	} {
		g := gen()
		wantErr(t, s.CreateAudience(ctx, c.a), c.want, c.name)
		if gen() != g {
			t.Errorf("%s: a refused create moved Generation", c.name)
		}
	}
	if _, err := s.GetAudience(ctx, "aud_z"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a refused create left something behind: %v", err)
	}
	_, err := s.GetAudienceByIdentifier(ctx, "https://nobody")
	wantErr(t, err, store.ErrNotFound, "unknown identifier")

	must(t, s.CreateAudience(ctx, audience("aud_a", "https://a-api", "ten_a")))
	must(t, s.CreateAudience(ctx, audience("aud_c", "https://c-api", "ten_c")))
	list := func(tenantID string) []string {
		t.Helper()
		as, next, err := s.ListAudiences(ctx, store.AudienceFilter{TenantID: tenantID}, store.Page{})
		must(t, err)
		if next != "" {
			t.Fatalf("list %q: unexpected next page %q", tenantID, next)
		}
		var ids []string
		for _, a := range as {
			ids = append(ids, a.ID)
		}
		return ids
	}
	for _, c := range []struct {
		tenant string
		want   []string
	}{
		{"", []string{"aud_a", "aud_b", "aud_c"}},
		{"ten_a", []string{"aud_a", "aud_b"}}, // owns a, b is shared with it
		{"ten_b", []string{"aud_b"}},
		{"ten_c", []string{"aud_b", "aud_c"}},
	} {
		if d := diff(list(c.tenant), c.want); d != "" {
			t.Errorf("list for %q: %s", c.tenant, d)
		}
	}
	as, next, err := s.ListAudiences(ctx, store.AudienceFilter{}, store.Page{Limit: 2})
	must(t, err)
	if len(as) != 2 || next == "" || diff(as[1], want) != "" {
		t.Fatalf("first page of 2: %d audiences, next %q, second %+v", len(as), next, as[1])
	}
	as, next, err = s.ListAudiences(ctx, store.AudienceFilter{}, store.Page{Limit: 2, After: next})
	must(t, err)
	if len(as) != 1 || as[0].ID != "aud_c" || next != "" {
		t.Fatalf("second page: %+v, next %q", as, next)
	}

	// Updates change the shares only.
	g := gen()
	got, err := s.UpdateAudience(ctx, "aud_b", func(a store.Audience) (store.Audience, error) {
		a.SharedWith = []string{"ten_c"}
		a.Identifier, a.TenantID = "https://stolen", "ten_a"
		a.UpdatedAt = at(time.Second)
		return a, nil
	})
	must(t, err)
	want = audience("aud_b", "https://b-api", "ten_b", "ten_c")
	want.UpdatedAt = at(time.Second)
	if d := diff(got, want); d != "" {
		t.Errorf("update result: %s", d)
	}
	if stored, err := s.GetAudience(ctx, "aud_b"); err != nil || diff(stored, want) != "" {
		t.Errorf("after update: %v %s", err, diff(stored, want))
	}
	if gen() <= g {
		t.Error("UpdateAudience did not move Generation")
	}
	if d := diff(list("ten_a"), []string{"aud_a"}); d != "" {
		t.Errorf("unshared tenant still lists it: %s", d)
	}
	_, err = s.UpdateAudience(ctx, "aud_b", func(a store.Audience) (store.Audience, error) {
		a.SharedWith = []string{"ten_missing"}
		return a, nil
	})
	wantErr(t, err, store.ErrNotFound, "share with an unknown tenant")
	if stored, _ := s.GetAudience(ctx, "aud_b"); diff(stored, want) != "" {
		t.Errorf("a refused update changed the audience: %s", diff(stored, want))
	}
	_, err = s.UpdateAudience(ctx, "aud_missing", func(a store.Audience) (store.Audience, error) { return a, nil })
	wantErr(t, err, store.ErrNotFound, "update of an unknown audience")

	g = gen()
	must(t, s.DeleteAudience(ctx, "aud_b"))
	if gen() <= g {
		t.Error("DeleteAudience did not move Generation")
	}
	_, err = s.GetAudienceByIdentifier(ctx, "https://b-api")
	wantErr(t, err, store.ErrNotFound, "deleted audience")
	wantErr(t, s.DeleteAudience(ctx, "aud_b"), store.ErrNotFound, "second delete")
	// The identifier is free again, for any tenant.
	must(t, s.CreateAudience(ctx, audience("aud_b2", "https://b-api", "ten_a")))
	if d := diff(list("ten_c"), []string{"aud_c"}); d != "" {
		t.Errorf("shares survived the delete: %s", d)
	}

	// In a transaction that fails, nothing of a create remains.
	boom := errors.New("boom")
	err = s.Tx(ctx, func(tx store.Tx) error {
		if err := tx.CreateAudience(ctx, audience("aud_tx", "https://tx", "ten_a", "ten_b")); err != nil {
			return err
		}
		return boom
	})
	wantErr(t, err, boom, "failing transaction")
	_, err = s.GetAudienceByIdentifier(ctx, "https://tx")
	wantErr(t, err, store.ErrNotFound, "audience of a rolled-back transaction")
}
