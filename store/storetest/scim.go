package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

func scimToken(id, tenantID string) store.SCIMToken {
	return store.SCIMToken{ID: id, TenantID: tenantID, Name: "Okta", Hash: []byte("hash-" + id), CreatedAt: t0, CreatedBy: "cli"}
}

func testSCIMTokens(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	must(t, s.CreateTenant(ctx, tenant("ten_a")))
	must(t, s.CreateTenant(ctx, tenant("ten_b")))
	a1, a2, b1 := scimToken("sct_a1", "ten_a"), scimToken("sct_a2", "ten_a"), scimToken("sct_b1", "ten_b")
	for _, tok := range []store.SCIMToken{a1, a2, b1} {
		must(t, s.CreateSCIMToken(ctx, tok))
	}
	wantErr(t, s.CreateSCIMToken(ctx, a1), store.ErrConflict, "same id")
	dup := scimToken("sct_a3", "ten_a")
	dup.Hash = a1.Hash
	wantErr(t, s.CreateSCIMToken(ctx, dup), store.ErrConflict, "same hash")

	got, err := s.GetSCIMTokenByHash(ctx, a2.Hash)
	must(t, err)
	if d := diff(got, a2); d != "" {
		t.Fatalf("by hash: %s", d)
	}
	_, err = s.GetSCIMTokenByHash(ctx, []byte("nope"))
	wantErr(t, err, store.ErrNotFound, "unknown hash")
	_, err = s.GetSCIMToken(ctx, "sct_none")
	wantErr(t, err, store.ErrNotFound, "unknown id")

	list, next, err := s.ListSCIMTokens(ctx, "ten_a", store.Page{Limit: 1})
	must(t, err)
	if len(list) != 1 || list[0].ID != "sct_a1" || next == "" {
		t.Fatalf("first page: %+v next %q", list, next)
	}
	list, next, err = s.ListSCIMTokens(ctx, "ten_a", store.Page{Limit: 1, After: next})
	must(t, err)
	if len(list) != 1 || list[0].ID != "sct_a2" || next != "" {
		t.Fatalf("second page: %+v next %q", list, next)
	}

	revoked, err := s.UpdateSCIMToken(ctx, "sct_a1", func(tok store.SCIMToken) (store.SCIMToken, error) {
		tok.RevokedAt, tok.RevokedBy, tok.LastUsedAt = ptr(at(time.Hour)), "cli", ptr(at(time.Minute))
		return tok, nil
	})
	must(t, err)
	got, err = s.GetSCIMToken(ctx, "sct_a1")
	must(t, err)
	if d := diff(got, revoked); d != "" {
		t.Fatalf("after revoke: %s", d)
	}
}

func scimUser(principalID, tenantID, userName, externalID string) store.SCIMUser {
	return store.SCIMUser{
		PrincipalID: principalID, TenantID: tenantID, UserName: userName, ExternalID: externalID,
		Attributes: json.RawMessage(`{"displayName":"D"}`), TokenID: "sct_1", CreatedAt: t0, UpdatedAt: t0,
	}
}

func testSCIMUsers(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	seed(t, s, "ten_a", "prn_1")
	must(t, s.CreatePrincipal(ctx, principal("prn_2", "ten_a")))
	must(t, s.CreatePrincipal(ctx, principal("prn_3", "ten_a")))
	seed(t, s, "ten_b", "prn_b")

	u1 := scimUser("prn_1", "ten_a", "Ada@Example.com", "00u1")
	u1.LinkedBy = store.SCIMLinkedExternalID
	must(t, s.CreateSCIMUser(ctx, u1))
	must(t, s.CreateSCIMUser(ctx, scimUser("prn_2", "ten_a", "bob@example.com", "00u2")))
	// userName is unique per tenant, case-insensitively; other tenants may
	// reuse it.
	wantErr(t, s.CreateSCIMUser(ctx, scimUser("prn_3", "ten_a", "ada@example.COM", "x")), store.ErrConflict, "same userName")
	wantErr(t, s.CreateSCIMUser(ctx, scimUser("prn_1", "ten_a", "other", "x")), store.ErrConflict, "principal already governed")
	must(t, s.CreateSCIMUser(ctx, scimUser("prn_b", "ten_b", "ada@example.com", "00u1")))

	got, err := s.GetSCIMUser(ctx, "prn_1")
	must(t, err)
	u1.Principal = principal("prn_1", "ten_a")
	if d := diff(got, u1); d != "" {
		t.Fatalf("get: %s", d)
	}

	for _, c := range []struct {
		name  string
		f     store.SCIMUserFilter
		off   int
		lim   int
		want  []string
		total int64
	}{
		{"tenant", store.SCIMUserFilter{TenantID: "ten_a"}, 0, 10, []string{"prn_1", "prn_2"}, 2},
		{"page two", store.SCIMUserFilter{TenantID: "ten_a"}, 1, 1, []string{"prn_2"}, 2},
		{"past the end", store.SCIMUserFilter{TenantID: "ten_a"}, 5, 10, nil, 2},
		{"count only", store.SCIMUserFilter{TenantID: "ten_a"}, 0, 0, nil, 2},
		{"userName any case", store.SCIMUserFilter{TenantID: "ten_a", UserName: "ADA@example.com"}, 0, 10, []string{"prn_1"}, 1},
		{"externalId", store.SCIMUserFilter{TenantID: "ten_a", ExternalID: "00u2"}, 0, 10, []string{"prn_2"}, 1},
		{"id", store.SCIMUserFilter{TenantID: "ten_a", PrincipalID: "prn_2"}, 0, 10, []string{"prn_2"}, 1},
		{"id of another tenant", store.SCIMUserFilter{TenantID: "ten_a", PrincipalID: "prn_b"}, 0, 10, nil, 0},
		{"both, disagreeing", store.SCIMUserFilter{TenantID: "ten_a", UserName: "ada@example.com", ExternalID: "00u2"}, 0, 10, nil, 0},
		{"other tenant", store.SCIMUserFilter{TenantID: "ten_b", ExternalID: "00u2"}, 0, 10, nil, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			us, total, err := s.ListSCIMUsers(ctx, c.f, c.off, c.lim)
			must(t, err)
			var ids []string
			for _, u := range us {
				ids = append(ids, u.PrincipalID)
			}
			if d := diff(ids, c.want); d != "" || total != c.total {
				t.Fatalf("got %v total %d, want %v total %d", ids, total, c.want, c.total)
			}
		})
	}

	_, err = s.UpdateSCIMUser(ctx, "prn_2", func(u store.SCIMUser) (store.SCIMUser, error) {
		u.UserName = "ADA@example.com"
		return u, nil
	})
	wantErr(t, err, store.ErrConflict, "rename onto a taken userName")
	// A deleted user frees its userName.
	_, err = s.UpdateSCIMUser(ctx, "prn_1", func(u store.SCIMUser) (store.SCIMUser, error) {
		u.DeletedAt = ptr(at(time.Hour))
		return u, nil
	})
	must(t, err)
	must(t, s.CreateSCIMUser(ctx, scimUser("prn_3", "ten_a", "ada@example.com", "00u3")))
	us, total, err := s.ListSCIMUsers(ctx, store.SCIMUserFilter{TenantID: "ten_a"}, 0, 10)
	must(t, err)
	if total != 2 || len(us) != 2 || us[0].PrincipalID != "prn_2" {
		t.Fatalf("after delete: %d %+v", total, us)
	}
	got, err = s.GetSCIMUser(ctx, "prn_1")
	must(t, err)
	if got.DeletedAt == nil || !got.DeletedAt.Equal(at(time.Hour)) {
		t.Fatalf("deleted user: %+v", got)
	}
}

func testSCIMGroups(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	seed(t, s, "ten_a", "prn_1")
	must(t, s.CreatePrincipal(ctx, principal("prn_2", "ten_a")))
	must(t, s.CreateRole(ctx, role("rol_ops", "ten_a", "ops", "ops:run")))
	must(t, s.CreateRole(ctx, role("rol_dev", "ten_a", "dev", "dev:run")))
	must(t, s.CreateRole(ctx, role("rol_man", "ten_a", "manual", "m")))
	g := store.SCIMGroup{ID: "grp_1", TenantID: "ten_a", DisplayName: "Ops Team", ExternalID: "g1", CreatedAt: t0, UpdatedAt: t0}
	must(t, s.CreateSCIMGroup(ctx, g))
	wantErr(t, s.CreateSCIMGroup(ctx, store.SCIMGroup{ID: "grp_2", TenantID: "ten_a", DisplayName: "ops team", CreatedAt: t0, UpdatedAt: t0}), store.ErrConflict, "same displayName")
	must(t, s.CreateSCIMGroup(ctx, store.SCIMGroup{ID: "grp_3", TenantID: "ten_a", DisplayName: "Devs", CreatedAt: t0, UpdatedAt: t0}))
	got, err := s.GetSCIMGroup(ctx, "grp_1")
	must(t, err)
	if d := diff(got, g); d != "" {
		t.Fatalf("get group: %s", d)
	}
	gs, total, err := s.ListSCIMGroups(ctx, store.SCIMGroupFilter{TenantID: "ten_a", DisplayName: "OPS TEAM"}, 0, 10)
	must(t, err)
	if total != 1 || len(gs) != 1 || gs[0].ID != "grp_1" {
		t.Fatalf("filter by displayName: %d %+v", total, gs)
	}
	_, err = s.UpdateSCIMGroup(ctx, "grp_3", func(g store.SCIMGroup) (store.SCIMGroup, error) { g.DisplayName = "OPS team"; return g, nil })
	wantErr(t, err, store.ErrConflict, "rename onto a taken displayName")

	must(t, s.CreateSCIMUser(ctx, scimUser("prn_1", "ten_a", "one", "")))
	must(t, s.CreateSCIMUser(ctx, scimUser("prn_2", "ten_a", "two", "")))
	must(t, s.CreatePrincipal(ctx, principal("prn_3", "ten_a")))
	must(t, s.AddSCIMGroupMembers(ctx, "grp_1", []string{"prn_1", "prn_2", "prn_3"}))
	must(t, s.AddSCIMGroupMembers(ctx, "grp_1", []string{"prn_1"}))
	must(t, s.AddSCIMGroupMembers(ctx, "grp_3", []string{"prn_1"}))
	members, err := s.ListSCIMGroupMembers(ctx, "grp_1")
	must(t, err)
	if d := diff(members, []string{"prn_1", "prn_2"}); d != "" {
		t.Fatalf("members are live SCIM users only: %s", d)
	}
	gs, total, err = s.ListSCIMGroups(ctx, store.SCIMGroupFilter{TenantID: "ten_a", ID: "grp_3"}, 0, 10)
	must(t, err)
	if total != 1 || gs[0].DisplayName != "Devs" {
		t.Fatalf("filter by id: %d %+v", total, gs)
	}

	// Unmapped groups bind nothing.
	added, removed, err := s.SyncSCIMBindings(ctx, "prn_1", t0)
	must(t, err)
	if len(added)+len(removed) != 0 {
		t.Fatalf("unmapped: %+v %+v", added, removed)
	}
	must(t, s.CreateSCIMGroupMapping(ctx, store.SCIMGroupMapping{TenantID: "ten_a", Group: "ops team", RoleID: "rol_ops", CreatedAt: t0}))
	wantErr(t, s.CreateSCIMGroupMapping(ctx, store.SCIMGroupMapping{TenantID: "ten_a", Group: "OPS TEAM", RoleID: "rol_ops", CreatedAt: t0}), store.ErrConflict, "same mapping")
	must(t, s.CreateSCIMGroupMapping(ctx, store.SCIMGroupMapping{TenantID: "ten_a", Group: "Devs", RoleID: "rol_man", CreatedAt: t0}))
	ms, err := s.ListSCIMGroupMappings(ctx, "ten_a")
	must(t, err)
	if len(ms) != 2 {
		t.Fatalf("mappings: %+v", ms)
	}
	// An operator's binding of a mapped role stays the operator's.
	must(t, s.CreateBinding(ctx, store.Binding{PrincipalID: "prn_1", RoleID: "rol_man", TenantID: "ten_a", CreatedAt: t0}))

	gen0, err := s.Generation(ctx)
	must(t, err)
	added, removed, err = s.SyncSCIMBindings(ctx, "prn_1", t0)
	must(t, err)
	if len(added) != 1 || added[0].RoleID != "rol_ops" || len(removed) != 0 {
		t.Fatalf("sync: added %+v removed %+v", added, removed)
	}
	if gen1, err := s.Generation(ctx); err != nil || gen1 <= gen0 {
		t.Fatalf("a binding by sync must move the generation: %d -> %d (%v)", gen0, gen1, err)
	}
	added, removed, err = s.SyncSCIMBindings(ctx, "prn_1", t0)
	must(t, err)
	if len(added)+len(removed) != 0 {
		t.Fatalf("second sync changed: %+v %+v", added, removed)
	}

	must(t, s.RemoveSCIMGroupMembers(ctx, "grp_1", []string{"prn_1"}))
	must(t, s.RemoveSCIMGroupMembers(ctx, "grp_3", nil))
	added, removed, err = s.SyncSCIMBindings(ctx, "prn_1", t0)
	must(t, err)
	if len(added) != 0 || len(removed) != 1 || removed[0].RoleID != "rol_ops" {
		t.Fatalf("after removal: added %+v removed %+v", added, removed)
	}
	roles, err := s.RolesOfPrincipal(ctx, "prn_1")
	must(t, err)
	if len(roles) != 1 || roles[0].ID != "rol_man" {
		t.Fatalf("the operator's binding must stay: %+v", roles)
	}

	// Unmapping: the mapping goes (matched case-insensitively); a second
	// time, or another tenant's, is not found.
	m, err := s.DeleteSCIMGroupMapping(ctx, "ten_a", "DEVS", "rol_man")
	must(t, err)
	if m.Group != "Devs" || m.RoleID != "rol_man" || m.TenantID != "ten_a" || !m.CreatedAt.Equal(t0) {
		t.Fatalf("deleted mapping %+v", m)
	}
	_, err = s.DeleteSCIMGroupMapping(ctx, "ten_a", "Devs", "rol_man")
	wantErr(t, err, store.ErrNotFound, "unmap twice")
	_, err = s.DeleteSCIMGroupMapping(ctx, "ten_b", "ops team", "rol_ops")
	wantErr(t, err, store.ErrNotFound, "another tenant's mapping")
	if ms, err := s.ListSCIMGroupMappings(ctx, "ten_a"); err != nil || len(ms) != 1 || ms[0].RoleID != "rol_ops" {
		t.Fatalf("mappings after unmapping: %+v %v", ms, err)
	}

	must(t, s.DeleteSCIMGroup(ctx, "grp_1"))
	wantErr(t, s.DeleteSCIMGroup(ctx, "grp_1"), store.ErrNotFound, "delete twice")
	_, err = s.GetSCIMGroup(ctx, "grp_1")
	wantErr(t, err, store.ErrNotFound, "deleted group")
}
