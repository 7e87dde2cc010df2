package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

func testTenants(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	a := tenant("ten_a")
	a.LegacySunsetAt = ptr(at(90 * 24 * time.Hour))
	must(t, s.CreateTenant(ctx, a))

	got, err := s.GetTenant(ctx, "ten_a")
	must(t, err)
	if d := diff(got, a); d != "" {
		t.Fatalf("GetTenant after CreateTenant:%s", d)
	}

	for _, c := range []struct {
		name string
		t    store.Tenant
	}{
		{"same id", func() store.Tenant { x := tenant("ten_a"); x.Name = "other"; return x }()},
		{"same name", func() store.Tenant { x := tenant("ten_b"); x.Name = a.Name; return x }()},
	} {
		wantErr(t, s.CreateTenant(ctx, c.t), store.ErrConflict, "CreateTenant with "+c.name)
	}
	_, err = s.GetTenant(ctx, "ten_missing")
	wantErr(t, err, store.ErrNotFound, "GetTenant of a missing tenant")

	// A non-UTC, sub-microsecond time comes back in UTC, truncated.
	local := time.Date(2031, 3, 14, 16, 9, 26, 535897999, time.FixedZone("CET", 3600))
	updated, err := s.UpdateTenant(ctx, "ten_a", func(x store.Tenant) (store.Tenant, error) {
		x.Status = store.StatusSuspended
		x.StatusChangedAt = local
		x.StatusChangedBy = "admin:cli_x"
		x.LegacySunsetAt = nil
		return x, nil
	})
	must(t, err)
	if updated.Status != store.StatusSuspended {
		t.Fatalf("UpdateTenant returned status %q", updated.Status)
	}
	got, err = s.GetTenant(ctx, "ten_a")
	must(t, err)
	if got.Status != store.StatusSuspended || got.LegacySunsetAt != nil || got.StatusChangedBy != "admin:cli_x" {
		t.Fatalf("GetTenant after UpdateTenant = %+v", got)
	}
	if !got.StatusChangedAt.Equal(t0) || got.StatusChangedAt.Location() != time.UTC {
		t.Fatalf("StatusChangedAt = %v, want %v in UTC at microsecond precision", got.StatusChangedAt, t0)
	}

	errNo := errors.New("refused by fn")
	_, err = s.UpdateTenant(ctx, "ten_a", func(x store.Tenant) (store.Tenant, error) {
		x.Name = "must not stick"
		return x, errNo
	})
	wantErr(t, err, errNo, "UpdateTenant whose fn fails")
	if got, _ := s.GetTenant(ctx, "ten_a"); got.Name != a.Name {
		t.Fatalf("a failed update wrote the name %q", got.Name)
	}
	_, err = s.UpdateTenant(ctx, "ten_missing", func(x store.Tenant) (store.Tenant, error) { return x, nil })
	wantErr(t, err, store.ErrNotFound, "UpdateTenant of a missing tenant")

	must(t, s.CreateTenant(ctx, tenant("ten_b")))
	_, err = s.UpdateTenant(ctx, "ten_b", func(x store.Tenant) (store.Tenant, error) { x.Name = a.Name; return x, nil })
	wantErr(t, err, store.ErrConflict, "renaming a tenant to a taken name")

	list, next, err := s.ListTenants(ctx, store.TenantFilter{Status: store.StatusSuspended}, store.Page{})
	must(t, err)
	if len(list) != 1 || list[0].ID != "ten_a" || next != "" {
		t.Fatalf("ListTenants(suspended) = %d tenants, next %q", len(list), next)
	}
}

func testPrincipals(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	must(t, s.CreateTenant(ctx, tenant("ten_a")))
	must(t, s.CreateTenant(ctx, tenant("ten_b")))
	p := principal("prn_1", "ten_a")
	p.ExternalID = "emp-1"
	p.Kind = store.KindUser
	must(t, s.CreatePrincipal(ctx, p))

	got, err := s.GetPrincipal(ctx, "prn_1")
	must(t, err)
	if d := diff(got, p); d != "" {
		t.Fatalf("GetPrincipal:%s", d)
	}
	got, err = s.GetPrincipalByExternalID(ctx, "ten_a", "emp-1")
	must(t, err)
	if got.ID != "prn_1" {
		t.Fatalf("GetPrincipalByExternalID = %q", got.ID)
	}

	dupExt := principal("prn_2", "ten_a")
	dupExt.ExternalID = "emp-1"
	otherTenant := principal("prn_3", "ten_b")
	otherTenant.ExternalID = "emp-1"
	for _, c := range []struct {
		name string
		p    store.Principal
		want error
	}{
		{"duplicate id", principal("prn_1", "ten_b"), store.ErrConflict},
		{"duplicate external id in the tenant", dupExt, store.ErrConflict},
		{"same external id in another tenant", otherTenant, nil},
		{"no external id, twice", principal("prn_4", "ten_a"), nil},
		{"no external id, twice (2)", principal("prn_5", "ten_a"), nil},
		{"missing tenant", principal("prn_6", "ten_missing"), store.ErrNotFound},
	} {
		err := s.CreatePrincipal(ctx, c.p)
		if c.want == nil {
			must(t, err)
		} else {
			wantErr(t, err, c.want, "CreatePrincipal with "+c.name)
		}
	}

	for _, c := range []struct{ tenant, ext string }{{"ten_a", "nobody"}, {"ten_b", ""}, {"ten_missing", "emp-1"}} {
		_, err := s.GetPrincipalByExternalID(ctx, c.tenant, c.ext)
		wantErr(t, err, store.ErrNotFound, "GetPrincipalByExternalID("+c.tenant+", "+c.ext+")")
	}

	// Deleting keeps a tombstone and frees the external id.
	deletedAt := at(time.Hour)
	_, err = s.UpdatePrincipal(ctx, "prn_1", func(x store.Principal) (store.Principal, error) {
		x.Status, x.DeletedAt, x.DeletedBy = store.StatusDeleted, &deletedAt, "admin:cli_root"
		return x, nil
	})
	must(t, err)
	tomb, err := s.GetPrincipal(ctx, "prn_1")
	must(t, err)
	if tomb.Status != store.StatusDeleted || tomb.DeletedAt == nil || !tomb.DeletedAt.Equal(deletedAt) || tomb.DeletedBy != "admin:cli_root" {
		t.Fatalf("tombstone = %+v", tomb)
	}
	_, err = s.GetPrincipalByExternalID(ctx, "ten_a", "emp-1")
	wantErr(t, err, store.ErrNotFound, "GetPrincipalByExternalID of a deleted principal")
	must(t, s.CreatePrincipal(ctx, dupExt)) // the external id is free again
	_, err = s.UpdatePrincipal(ctx, "prn_1", func(x store.Principal) (store.Principal, error) {
		x.Status = store.StatusActive // resurrecting would duplicate emp-1
		return x, nil
	})
	wantErr(t, err, store.ErrConflict, "reactivating a tombstone whose external id was taken")

	for _, c := range []struct {
		name string
		f    store.PrincipalFilter
		want []string
	}{
		{"tenant", store.PrincipalFilter{TenantID: "ten_a"}, []string{"prn_1", "prn_2", "prn_4", "prn_5"}},
		{"status", store.PrincipalFilter{TenantID: "ten_a", Status: store.StatusDeleted}, []string{"prn_1"}},
		{"kind", store.PrincipalFilter{Kind: store.KindUser}, []string{"prn_1"}},
		{"external id", store.PrincipalFilter{ExternalID: "emp-1"}, []string{"prn_1", "prn_2", "prn_3"}},
		{"all", store.PrincipalFilter{}, []string{"prn_1", "prn_2", "prn_3", "prn_4", "prn_5"}},
	} {
		list, _, err := s.ListPrincipals(ctx, c.f, store.Page{})
		must(t, err)
		var ids []string
		for _, p := range list {
			ids = append(ids, p.ID)
		}
		if d := diff(ids, c.want); d != "" {
			t.Errorf("ListPrincipals by %s:%s", c.name, d)
		}
	}
}

func testClients(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	seed(t, s, "ten_a", "prn_1")
	c := client("cli_1", "ten_a", "prn_1")
	c.AuthMethod = store.AuthPrivateKeyJWT
	c.JWKS = json.RawMessage(`{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"BB"}]}`)
	c.Secrets = []store.ClientSecret{
		{ID: "sec_new", Hash: []byte{0, 1, 2, 255}, CreatedAt: at(time.Hour)},
		{ID: "sec_old", Hash: []byte{9, 9}, CreatedAt: t0, ExpiresAt: ptr(at(25 * time.Hour))},
	}
	c.AccessTokenTTL = 90 * time.Second
	c.GrantTypes = []string{store.GrantClientCredentials, store.GrantTokenExchange}
	c.Audiences = nil // nil and empty lists are kept apart
	c.Scopes = []string{}
	must(t, s.CreateClient(ctx, c))

	got, err := s.GetClient(ctx, "cli_1")
	must(t, err)
	if d := diff(got, c); d != "" {
		t.Fatalf("GetClient:%s", d)
	}

	for _, x := range []struct {
		name string
		c    store.Client
		want error
	}{
		{"duplicate id", client("cli_1", "ten_a", "prn_1"), store.ErrConflict},
		{"missing owner", client("cli_2", "ten_a", "prn_missing"), store.ErrNotFound},
		{"missing tenant", client("cli_3", "ten_missing", "prn_1"), store.ErrNotFound},
	} {
		wantErr(t, s.CreateClient(ctx, x.c), x.want, "CreateClient with "+x.name)
	}

	_, err = s.UpdateClient(ctx, "cli_1", func(x store.Client) (store.Client, error) {
		x.Secrets = x.Secrets[:1]
		x.Status = store.StatusSuspended
		x.JWKS = nil
		return x, nil
	})
	must(t, err)
	got, err = s.GetClient(ctx, "cli_1")
	must(t, err)
	if len(got.Secrets) != 1 || got.Secrets[0].ID != "sec_new" || got.Status != store.StatusSuspended || got.JWKS != nil {
		t.Fatalf("GetClient after update = %+v", got)
	}

	// Usage only moves forward and does not need the client to exist.
	must(t, s.RecordClientUsage(ctx, []store.ClientUsage{{ClientID: "cli_1", LastUsedAt: at(2 * time.Hour)}, {ClientID: "cli_gone", LastUsedAt: t0}}))
	must(t, s.RecordClientUsage(ctx, []store.ClientUsage{{ClientID: "cli_1", LastUsedAt: at(time.Hour)}}))
	got, _ = s.GetClient(ctx, "cli_1")
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at(2*time.Hour)) {
		t.Fatalf("LastUsedAt = %v, want %v", got.LastUsedAt, at(2*time.Hour))
	}

	must(t, s.CreateClient(ctx, client("cli_2", "ten_a", "prn_1")))
	list, _, err := s.ListClients(ctx, store.ClientFilter{TenantID: "ten_a", OwnerID: "prn_1", Status: store.StatusActive}, store.Page{})
	must(t, err)
	if len(list) != 1 || list[0].ID != "cli_2" {
		t.Fatalf("ListClients(active) = %+v", list)
	}

	// Deleting a client ends its status-list epoch with it.
	idx, err := s.AllocateStatusIndex(ctx, "client:cli_1", t0)
	must(t, err)
	must(t, s.DeleteClient(ctx, "cli_1", t0.Add(time.Minute)))
	_, err = s.GetClient(ctx, "cli_1")
	wantErr(t, err, store.ErrNotFound, "GetClient after DeleteClient")
	_, err = s.GetStatusIndex(ctx, "client:cli_1")
	wantErr(t, err, store.ErrNotFound, "GetStatusIndex after DeleteClient")
	entries, err := s.ListStatusEntries(ctx, idx-1, 1)
	must(t, err)
	if len(entries) != 1 || entries[0].Idx != idx || entries[0].InvalidatedAt == nil || !entries[0].InvalidatedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("status entry of the deleted client = %+v, want index %d invalidated at %v", entries, idx, t0.Add(time.Minute))
	}
	wantErr(t, s.DeleteClient(ctx, "cli_1", t0), store.ErrNotFound, "DeleteClient twice")
}

func testRolesAndBindings(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	seed(t, s, "ten_a", "prn_1")
	must(t, s.CreatePrincipal(ctx, principal("prn_2", "ten_a")))
	must(t, s.CreateTenant(ctx, tenant("ten_b")))
	reader := role("rol_r", "ten_a", "reader", "orders:read")
	writer := role("rol_w", "ten_a", "writer", "orders:read", "orders:write")
	must(t, s.CreateRole(ctx, reader))
	must(t, s.CreateRole(ctx, writer))
	must(t, s.CreateRole(ctx, role("rol_b", "ten_b", "reader"))) // same name, other tenant

	wantErr(t, s.CreateRole(ctx, role("rol_x", "ten_a", "reader")), store.ErrConflict, "a second role named reader")
	wantErr(t, s.CreateRole(ctx, role("rol_r", "ten_b", "other")), store.ErrConflict, "a duplicate role id")

	got, err := s.GetRoleByName(ctx, "ten_a", "writer")
	must(t, err)
	if d := diff(got, writer); d != "" {
		t.Fatalf("GetRoleByName:%s", d)
	}
	_, err = s.GetRoleByName(ctx, "ten_a", "admin")
	wantErr(t, err, store.ErrNotFound, "GetRoleByName of a missing role")
	_, err = s.UpdateRole(ctx, "rol_w", func(r store.Role) (store.Role, error) { r.Name = "reader"; return r, nil })
	wantErr(t, err, store.ErrConflict, "renaming a role to a taken name")
	_, err = s.UpdateRole(ctx, "rol_w", func(r store.Role) (store.Role, error) {
		r.Permissions = append(r.Permissions, "orders:delete")
		return r, nil
	})
	must(t, err)

	for _, b := range []store.Binding{
		{PrincipalID: "prn_1", RoleID: "rol_r", TenantID: "ten_a", CreatedAt: t0},
		{PrincipalID: "prn_1", RoleID: "rol_w", TenantID: "ten_a", CreatedAt: t0},
		{PrincipalID: "prn_2", RoleID: "rol_r", TenantID: "ten_a", CreatedAt: t0},
	} {
		must(t, s.CreateBinding(ctx, b))
	}
	wantErr(t, s.CreateBinding(ctx, store.Binding{PrincipalID: "prn_1", RoleID: "rol_r", TenantID: "ten_a", CreatedAt: t0}),
		store.ErrConflict, "binding the same role twice")
	wantErr(t, s.CreateBinding(ctx, store.Binding{PrincipalID: "prn_1", RoleID: "rol_missing", TenantID: "ten_a", CreatedAt: t0}),
		store.ErrNotFound, "binding a missing role")

	for _, c := range []struct {
		tenant string
		want   []string
	}{{"ten_a", []string{"rol_r", "rol_w"}}, {"ten_b", []string{"rol_b"}}, {"", []string{"rol_b", "rol_r", "rol_w"}}} {
		rs, _, err := s.ListRoles(ctx, store.RoleFilter{TenantID: c.tenant}, store.Page{})
		must(t, err)
		var ids []string
		for _, r := range rs {
			ids = append(ids, r.ID)
		}
		if d := diff(ids, c.want); d != "" {
			t.Errorf("ListRoles(%q):%s", c.tenant, d)
		}
	}

	roles, err := s.RolesOfPrincipal(ctx, "prn_1")
	must(t, err)
	if len(roles) != 2 || roles[0].Name != "reader" || roles[1].Name != "writer" || len(roles[1].Permissions) != 3 {
		t.Fatalf("RolesOfPrincipal(prn_1) = %+v", roles)
	}

	for _, c := range []struct {
		name string
		f    store.BindingFilter
		want int
	}{
		{"tenant", store.BindingFilter{TenantID: "ten_a"}, 3},
		{"principal", store.BindingFilter{PrincipalID: "prn_1"}, 2},
		{"role", store.BindingFilter{RoleID: "rol_r"}, 2},
		{"other tenant", store.BindingFilter{TenantID: "ten_b"}, 0},
	} {
		bs, _, err := s.ListBindings(ctx, c.f, store.Page{})
		must(t, err)
		if len(bs) != c.want {
			t.Errorf("ListBindings by %s: %d bindings, want %d", c.name, len(bs), c.want)
		}
	}

	must(t, s.DeleteBinding(ctx, "prn_1", "rol_w"))
	wantErr(t, s.DeleteBinding(ctx, "prn_1", "rol_w"), store.ErrNotFound, "DeleteBinding twice")

	// Deleting a role removes its bindings.
	must(t, s.DeleteRole(ctx, "rol_r"))
	wantErr(t, s.DeleteRole(ctx, "rol_r"), store.ErrNotFound, "DeleteRole twice")
	_, err = s.GetRole(ctx, "rol_r")
	wantErr(t, err, store.ErrNotFound, "GetRole after DeleteRole")
	bs, _, err := s.ListBindings(ctx, store.BindingFilter{TenantID: "ten_a"}, store.Page{})
	must(t, err)
	if len(bs) != 0 {
		t.Fatalf("bindings left after deleting their role: %+v", bs)
	}
	roles, err = s.RolesOfPrincipal(ctx, "prn_1")
	must(t, err)
	if len(roles) != 0 {
		t.Fatalf("RolesOfPrincipal after DeleteRole = %+v", roles)
	}
}
