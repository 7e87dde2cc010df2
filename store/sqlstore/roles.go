package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/authz/authz/store"
)

const roleCols = `id, tenant_id, name, permissions, created_at, updated_at`

func scanRole(r scanner, ro *store.Role) error {
	var created, updated timeCol
	if err := r.Scan(&ro.ID, &ro.TenantID, &ro.Name, jsonCol{&ro.Permissions}, &created, &updated); err != nil {
		return err
	}
	ro.CreatedAt, ro.UpdatedAt = created.T, updated.T
	return nil
}

func (q *queries) roleArgs(r store.Role) []any {
	return []any{r.ID, r.TenantID, r.Name, mustJSON(r.Permissions), q.d.encodeTime(r.CreatedAt), q.d.encodeTime(r.UpdatedAt)}
}

func (q *queries) getRole(ctx context.Context, id, lock string) (store.Role, error) {
	var r store.Role
	err := q.row(ctx, "get role", id, func(s scanner) error { return scanRole(s, &r) },
		`SELECT `+roleCols+` FROM roles WHERE id = $1`+lock, id)
	return r, err
}

// GetRole implements store.Queries.
func (q *queries) GetRole(ctx context.Context, id string) (store.Role, error) {
	return q.getRole(ctx, id, "")
}

// GetRoleByName implements store.Queries.
func (q *queries) GetRoleByName(ctx context.Context, tenantID, name string) (store.Role, error) {
	var r store.Role
	err := q.row(ctx, "get role by name", name, func(s scanner) error { return scanRole(s, &r) },
		`SELECT `+roleCols+` FROM roles WHERE tenant_id = $1 AND name = $2`, tenantID, name)
	return r, err
}

// ListRoles implements store.Queries.
func (q *queries) ListRoles(ctx context.Context, f store.RoleFilter, p store.Page) ([]store.Role, string, error) {
	var w where
	w.eq("tenant_id", f.TenantID)
	if p.After != "" {
		w.add("id > ?", p.After)
	}
	limit := limitOf(p)
	var out []store.Role
	err := q.rows(ctx, "list roles", "", func(s scanner) error {
		var r store.Role
		if err := scanRole(s, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	}, `SELECT `+roleCols+` FROM roles`+w.sql()+` ORDER BY id LIMIT `+w.arg(limit+1), w.args...)
	if err != nil {
		return nil, "", err
	}
	out, next := pageOf(out, limit, func(r store.Role) string { return r.ID })
	return out, next, nil
}

// RolesOfPrincipal implements store.Queries.
func (q *queries) RolesOfPrincipal(ctx context.Context, principalID string) ([]store.Role, error) {
	var out []store.Role
	err := q.rows(ctx, "roles of principal", principalID, func(s scanner) error {
		var r store.Role
		if err := scanRole(s, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	}, `SELECT r.id, r.tenant_id, r.name, r.permissions, r.created_at, r.updated_at
	    FROM bindings b JOIN roles r ON r.id = b.role_id
	    WHERE b.principal_id = $1 ORDER BY r.name, r.id`, principalID)
	return out, err
}

// bindingCursor is the listing key of a binding: bindings have no id of
// their own. Identifiers never contain a space.
func bindingCursor(b store.Binding) string { return b.PrincipalID + " " + b.RoleID }

// ListBindings implements store.Queries. Bindings are ordered by
// (principal, role).
func (q *queries) ListBindings(ctx context.Context, f store.BindingFilter, p store.Page) ([]store.Binding, string, error) {
	var w where
	w.eq("tenant_id", f.TenantID)
	w.eq("principal_id", f.PrincipalID)
	w.eq("role_id", f.RoleID)
	if p.After != "" {
		prn, rol, ok := strings.Cut(p.After, " ")
		if !ok {
			return nil, "", fmt.Errorf("%s: list bindings: cursor %q: %w", q.d.Name, p.After, store.ErrBadCursor)
		}
		w.add("(principal_id > ? OR (principal_id = ? AND role_id > ?))", prn, prn, rol)
	}
	limit := limitOf(p)
	var out []store.Binding
	err := q.rows(ctx, "list bindings", "", func(s scanner) error {
		var b store.Binding
		var created timeCol
		if err := s.Scan(&b.PrincipalID, &b.RoleID, &b.TenantID, &created); err != nil {
			return err
		}
		b.CreatedAt = created.T
		out = append(out, b)
		return nil
	}, `SELECT principal_id, role_id, tenant_id, created_at FROM bindings`+w.sql()+
		` ORDER BY principal_id, role_id LIMIT `+w.arg(limit+1), w.args...)
	if err != nil {
		return nil, "", err
	}
	out, next := pageOf(out, limit, bindingCursor)
	return out, next, nil
}

// CreateRole implements store.Mutations. The tenant must exist.
func (t *txn) CreateRole(ctx context.Context, r store.Role) error {
	n, err := t.execN(ctx, "create role", r.ID,
		`INSERT INTO roles (`+roleCols+`) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING`, t.roleArgs(r)...)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: create role %q: id, or name %q in tenant %q, exists: %w",
			t.d.Name, r.ID, r.Name, r.TenantID, store.ErrConflict)
	}
	t.markChanged()
	return nil
}

// UpdateRole implements store.Mutations.
func (t *txn) UpdateRole(ctx context.Context, id string, fn func(store.Role) (store.Role, error)) (store.Role, error) {
	cur, err := t.getRole(ctx, id, t.d.ForUpdate)
	if err != nil {
		return store.Role{}, err
	}
	next, err := fn(cur)
	if err != nil {
		return store.Role{}, err
	}
	next.ID = id
	if _, err := t.exec(ctx, "update role", id,
		`UPDATE roles SET tenant_id = $2, name = $3, permissions = $4, created_at = $5, updated_at = $6 WHERE id = $1`,
		t.roleArgs(next)...); err != nil {
		return store.Role{}, err
	}
	t.markChanged()
	return next, nil
}

// DeleteRole implements store.Mutations.
func (t *txn) DeleteRole(ctx context.Context, id string) error {
	if _, err := t.exec(ctx, "delete bindings of role", id, `DELETE FROM bindings WHERE role_id = $1`, id); err != nil {
		return err
	}
	n, err := t.execN(ctx, "delete role", id, `DELETE FROM roles WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: delete role %q: %w", t.d.Name, id, store.ErrNotFound)
	}
	t.markChanged()
	return nil
}

// CreateBinding implements store.Mutations. The principal and the role
// must exist.
func (t *txn) CreateBinding(ctx context.Context, b store.Binding) error {
	n, err := t.execN(ctx, "create binding", b.PrincipalID+" "+b.RoleID,
		`INSERT INTO bindings (principal_id, role_id, tenant_id, created_at) VALUES ($1, $2, $3, $4)
		 ON CONFLICT DO NOTHING`, b.PrincipalID, b.RoleID, b.TenantID, t.d.encodeTime(b.CreatedAt))
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: bind role %q to principal %q: already bound: %w", t.d.Name, b.RoleID, b.PrincipalID, store.ErrConflict)
	}
	t.markChanged()
	return nil
}

// DeleteBinding implements store.Mutations.
func (t *txn) DeleteBinding(ctx context.Context, principalID, roleID string) error {
	n, err := t.execN(ctx, "delete binding", principalID+" "+roleID,
		`DELETE FROM bindings WHERE principal_id = $1 AND role_id = $2`, principalID, roleID)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: unbind role %q from principal %q: %w", t.d.Name, roleID, principalID, store.ErrNotFound)
	}
	t.markChanged()
	return nil
}
