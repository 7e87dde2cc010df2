package sqlstore

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authz/authz/store"
)

// SCIM provisioning (issue 20 §1). userName and group display names match
// case-insensitively (RFC 7643 §4.1.1, §4.2); the lowered copy in a *_key
// column is computed here, in Go, so that both databases agree on it.

const scimTokenCols = `id, tenant_id, name, hash, created_at, created_by, revoked_at, revoked_by, last_used_at`

func scanSCIMToken(r scanner, t *store.SCIMToken) error {
	var created, revoked, used timeCol
	if err := r.Scan(&t.ID, &t.TenantID, &t.Name, bytesCol{&t.Hash}, &created, &t.CreatedBy, &revoked, &t.RevokedBy, &used); err != nil {
		return err
	}
	t.CreatedAt, t.RevokedAt, t.LastUsedAt = created.T, revoked.ptr(), used.ptr()
	return nil
}

func (q *queries) scimTokenArgs(t store.SCIMToken) []any {
	return []any{t.ID, t.TenantID, t.Name, t.Hash, q.d.encodeTime(t.CreatedAt), t.CreatedBy,
		q.d.encodeNullTime(t.RevokedAt), t.RevokedBy, q.d.encodeNullTime(t.LastUsedAt)}
}

func (q *queries) getSCIMToken(ctx context.Context, id, lock string) (store.SCIMToken, error) {
	var t store.SCIMToken
	err := q.row(ctx, "get scim token", id, func(r scanner) error { return scanSCIMToken(r, &t) },
		`SELECT `+scimTokenCols+` FROM scim_tokens WHERE id = $1`+lock, id)
	return t, err
}

// GetSCIMToken implements store.Queries.
func (q *queries) GetSCIMToken(ctx context.Context, id string) (store.SCIMToken, error) {
	return q.getSCIMToken(ctx, id, "")
}

// GetSCIMTokenByHash implements store.Queries.
func (q *queries) GetSCIMTokenByHash(ctx context.Context, hash []byte) (store.SCIMToken, error) {
	var t store.SCIMToken
	err := q.row(ctx, "get scim token by hash", "", func(r scanner) error { return scanSCIMToken(r, &t) },
		`SELECT `+scimTokenCols+` FROM scim_tokens WHERE hash = $1`, hash)
	return t, err
}

// ListSCIMTokens implements store.Queries.
func (q *queries) ListSCIMTokens(ctx context.Context, tenantID string, p store.Page) ([]store.SCIMToken, string, error) {
	var w where
	w.eq("tenant_id", tenantID)
	if p.After != "" {
		w.add("id > ?", p.After)
	}
	limit := limitOf(p)
	var out []store.SCIMToken
	err := q.rows(ctx, "list scim tokens", "", func(r scanner) error {
		var t store.SCIMToken
		if err := scanSCIMToken(r, &t); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	}, `SELECT `+scimTokenCols+` FROM scim_tokens`+w.sql()+` ORDER BY id LIMIT `+w.arg(limit+1), w.args...)
	if err != nil {
		return nil, "", err
	}
	out, next := pageOf(out, limit, func(t store.SCIMToken) string { return t.ID })
	return out, next, nil
}

// CreateSCIMToken implements store.Mutations.
func (t *txn) CreateSCIMToken(ctx context.Context, tok store.SCIMToken) error {
	n, err := t.execN(ctx, "create scim token", tok.ID,
		`INSERT INTO scim_tokens (`+scimTokenCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING`,
		t.scimTokenArgs(tok)...)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: create scim token %q: exists: %w", t.d.Name, tok.ID, store.ErrConflict)
	}
	// Caches hold tokens by hash, unknown ones included.
	t.markChanged()
	return nil
}

// UpdateSCIMToken implements store.Mutations.
func (t *txn) UpdateSCIMToken(ctx context.Context, id string, fn func(store.SCIMToken) (store.SCIMToken, error)) (store.SCIMToken, error) {
	cur, err := t.getSCIMToken(ctx, id, t.d.ForUpdate)
	if err != nil {
		return store.SCIMToken{}, err
	}
	next, err := fn(cur)
	if err != nil {
		return store.SCIMToken{}, err
	}
	next.ID = id
	if _, err := t.exec(ctx, "update scim token", id,
		`UPDATE scim_tokens SET tenant_id = $2, name = $3, hash = $4, created_at = $5, created_by = $6,
		 revoked_at = $7, revoked_by = $8, last_used_at = $9 WHERE id = $1`, t.scimTokenArgs(next)...); err != nil {
		return store.SCIMToken{}, err
	}
	// A revocation (or anything but the last use) must reach the replicas'
	// caches within a second; the last-use stamp alone moves nothing.
	if next.TenantID != cur.TenantID || next.Name != cur.Name || !bytes.Equal(next.Hash, cur.Hash) ||
		!sameTime(next.RevokedAt, cur.RevokedAt) || next.RevokedBy != cur.RevokedBy {
		t.markChanged()
	}
	return next, nil
}

func sameTime(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }

// scimUserCols are qualified with u (scim_users) and p (principals): every
// read joins the governed principal.
const scimUserCols = `u.principal_id, u.tenant_id, u.user_name, u.external_id, u.attributes, u.token_id, u.linked_by,
	u.created_at, u.updated_at, u.deleted_at,
	p.id, p.tenant_id, p.kind, p.display_name, p.external_id, p.status, p.status_changed_at, p.status_changed_by,
	p.deleted_at, p.deleted_by, p.created_at, p.updated_at`

const scimUserFrom = ` FROM scim_users u JOIN principals p ON p.id = u.principal_id`

func scanSCIMUser(r scanner, u *store.SCIMUser) error {
	var created, updated, deleted timeCol
	var pc, pd, pcr, pu timeCol
	p := &u.Principal
	if err := r.Scan(&u.PrincipalID, &u.TenantID, &u.UserName, &u.ExternalID, bytesCol{(*[]byte)(&u.Attributes)}, &u.TokenID,
		&u.LinkedBy, &created, &updated, &deleted,
		&p.ID, &p.TenantID, &p.Kind, &p.DisplayName, &p.ExternalID, &p.Status, &pc, &p.StatusChangedBy,
		&pd, &p.DeletedBy, &pcr, &pu); err != nil {
		return err
	}
	u.CreatedAt, u.UpdatedAt, u.DeletedAt = created.T, updated.T, deleted.ptr()
	p.StatusChangedAt, p.DeletedAt, p.CreatedAt, p.UpdatedAt = pc.T, pd.ptr(), pcr.T, pu.T
	return nil
}

func (q *queries) scimUserArgs(u store.SCIMUser) []any {
	attrs := []byte(u.Attributes)
	if attrs == nil {
		attrs = []byte("{}")
	}
	return []any{u.PrincipalID, u.TenantID, u.UserName, strings.ToLower(u.UserName), u.ExternalID, attrs, u.TokenID,
		u.LinkedBy, q.d.encodeTime(u.CreatedAt), q.d.encodeTime(u.UpdatedAt), q.d.encodeNullTime(u.DeletedAt)}
}

func (q *queries) getSCIMUser(ctx context.Context, principalID, lock string) (store.SCIMUser, error) {
	var u store.SCIMUser
	err := q.row(ctx, "get scim user", principalID, func(r scanner) error { return scanSCIMUser(r, &u) },
		`SELECT `+scimUserCols+scimUserFrom+` WHERE u.principal_id = $1`+lock, principalID)
	return u, err
}

// GetSCIMUser implements store.Queries.
func (q *queries) GetSCIMUser(ctx context.Context, principalID string) (store.SCIMUser, error) {
	return q.getSCIMUser(ctx, principalID, "")
}

// ListSCIMUsers implements store.Queries.
func (q *queries) ListSCIMUsers(ctx context.Context, f store.SCIMUserFilter, offset, limit int) ([]store.SCIMUser, int64, error) {
	var w where
	w.add("u.deleted_at IS NULL")
	w.eq("u.tenant_id", f.TenantID)
	w.eq("u.principal_id", f.PrincipalID)
	if f.UserName != "" {
		w.add("u.user_name_key = ?", strings.ToLower(f.UserName))
	}
	w.eq("u.external_id", f.ExternalID)
	var out []store.SCIMUser
	if limit > 0 {
		n := len(w.args)
		err := q.rows(ctx, "list scim users", "", func(r scanner) error {
			var u store.SCIMUser
			if err := scanSCIMUser(r, &u); err != nil {
				return err
			}
			out = append(out, u)
			return nil
		}, `SELECT `+scimUserCols+scimUserFrom+w.sql()+` ORDER BY u.principal_id LIMIT `+w.arg(limit)+` OFFSET `+w.arg(offset), w.args...)
		if err != nil {
			return nil, 0, err
		}
		w.args = w.args[:n]
		// An IdP's lookup by userName or externalId is one short page from
		// the start: its length is the total, without counting again.
		if offset == 0 && len(out) < limit {
			return out, int64(len(out)), nil
		}
	}
	var total int64
	err := q.row(ctx, "count scim users", "", func(r scanner) error { return r.Scan(&total) },
		`SELECT COUNT(*) FROM scim_users u`+w.sql(), w.args...)
	return out, total, err
}

// CreateSCIMUser implements store.Mutations.
func (t *txn) CreateSCIMUser(ctx context.Context, u store.SCIMUser) error {
	n, err := t.execN(ctx, "create scim user", u.PrincipalID,
		`INSERT INTO scim_users (principal_id, tenant_id, user_name, user_name_key, external_id, attributes, token_id,
		 linked_by, created_at, updated_at, deleted_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		 ON CONFLICT DO NOTHING`, t.scimUserArgs(u)...)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: create scim user for principal %q: the principal, or userName %q in tenant %q, is taken: %w",
			t.d.Name, u.PrincipalID, u.UserName, u.TenantID, store.ErrConflict)
	}
	return nil
}

// UpdateSCIMUser implements store.Mutations. A new userName taken by
// another live user of the tenant is ErrConflict.
func (t *txn) UpdateSCIMUser(ctx context.Context, principalID string, fn func(store.SCIMUser) (store.SCIMUser, error)) (store.SCIMUser, error) {
	cur, err := t.getSCIMUser(ctx, principalID, t.d.ForUpdate)
	if err != nil {
		return store.SCIMUser{}, err
	}
	next, err := fn(cur)
	if err != nil {
		return store.SCIMUser{}, err
	}
	next.PrincipalID, next.Principal = principalID, cur.Principal
	if next.DeletedAt == nil && strings.ToLower(next.UserName) != strings.ToLower(cur.UserName) {
		// Checked first: on PostgreSQL a violated unique index would
		// abort the caller's whole transaction.
		var n int64
		if err := t.row(ctx, "check scim userName", principalID, func(r scanner) error { return r.Scan(&n) },
			`SELECT COUNT(*) FROM scim_users WHERE tenant_id = $1 AND user_name_key = $2 AND deleted_at IS NULL AND principal_id <> $3`,
			next.TenantID, strings.ToLower(next.UserName), principalID); err != nil {
			return store.SCIMUser{}, err
		}
		if n > 0 {
			return store.SCIMUser{}, fmt.Errorf("%s: update scim user %q: userName %q is taken: %w", t.d.Name, principalID, next.UserName, store.ErrConflict)
		}
	}
	if _, err := t.exec(ctx, "update scim user", principalID,
		`UPDATE scim_users SET tenant_id = $2, user_name = $3, user_name_key = $4, external_id = $5, attributes = $6,
		 token_id = $7, linked_by = $8, created_at = $9, updated_at = $10, deleted_at = $11 WHERE principal_id = $1`,
		t.scimUserArgs(next)...); err != nil {
		return store.SCIMUser{}, err
	}
	return next, nil
}

const scimGroupCols = `id, tenant_id, display_name, external_id, created_at, updated_at`

func scanSCIMGroup(r scanner, g *store.SCIMGroup) error {
	var created, updated timeCol
	if err := r.Scan(&g.ID, &g.TenantID, &g.DisplayName, &g.ExternalID, &created, &updated); err != nil {
		return err
	}
	g.CreatedAt, g.UpdatedAt = created.T, updated.T
	return nil
}

func (q *queries) getSCIMGroup(ctx context.Context, id, lock string) (store.SCIMGroup, error) {
	var g store.SCIMGroup
	err := q.row(ctx, "get scim group", id, func(r scanner) error { return scanSCIMGroup(r, &g) },
		`SELECT `+scimGroupCols+` FROM scim_groups WHERE id = $1`+lock, id)
	return g, err
}

// GetSCIMGroup implements store.Queries.
func (q *queries) GetSCIMGroup(ctx context.Context, id string) (store.SCIMGroup, error) {
	return q.getSCIMGroup(ctx, id, "")
}

// ListSCIMGroups implements store.Queries.
func (q *queries) ListSCIMGroups(ctx context.Context, f store.SCIMGroupFilter, offset, limit int) ([]store.SCIMGroup, int64, error) {
	var w where
	w.eq("tenant_id", f.TenantID)
	w.eq("id", f.ID)
	if f.DisplayName != "" {
		w.add("display_key = ?", strings.ToLower(f.DisplayName))
	}
	w.eq("external_id", f.ExternalID)
	var total int64
	if err := q.row(ctx, "count scim groups", "", func(r scanner) error { return r.Scan(&total) },
		`SELECT COUNT(*) FROM scim_groups`+w.sql(), w.args...); err != nil {
		return nil, 0, err
	}
	if limit <= 0 || int64(offset) >= total {
		return nil, total, nil
	}
	var out []store.SCIMGroup
	err := q.rows(ctx, "list scim groups", "", func(r scanner) error {
		var g store.SCIMGroup
		if err := scanSCIMGroup(r, &g); err != nil {
			return err
		}
		out = append(out, g)
		return nil
	}, `SELECT `+scimGroupCols+` FROM scim_groups`+w.sql()+` ORDER BY id LIMIT `+w.arg(limit)+` OFFSET `+w.arg(offset), w.args...)
	return out, total, err
}

// ListSCIMGroupMembers implements store.Queries.
func (q *queries) ListSCIMGroupMembers(ctx context.Context, groupID string) ([]string, error) {
	var out []string
	err := q.rows(ctx, "list scim group members", groupID, func(r scanner) error {
		var id string
		if err := r.Scan(&id); err != nil {
			return err
		}
		out = append(out, id)
		return nil
	}, `SELECT gm.principal_id FROM scim_group_members gm
	    JOIN scim_users u ON u.principal_id = gm.principal_id AND u.deleted_at IS NULL
	    WHERE gm.group_id = $1 ORDER BY gm.principal_id`, groupID)
	return out, err
}

// ListSCIMGroupMappings implements store.Queries.
func (q *queries) ListSCIMGroupMappings(ctx context.Context, tenantID string) ([]store.SCIMGroupMapping, error) {
	var w where
	w.eq("tenant_id", tenantID)
	var out []store.SCIMGroupMapping
	err := q.rows(ctx, "list scim group mappings", tenantID, func(r scanner) error {
		var m store.SCIMGroupMapping
		var created timeCol
		if err := r.Scan(&m.TenantID, &m.Group, &m.RoleID, &created); err != nil {
			return err
		}
		m.CreatedAt = created.T
		out = append(out, m)
		return nil
	}, `SELECT tenant_id, group_name, role_id, created_at FROM scim_group_roles`+w.sql()+` ORDER BY tenant_id, group_key, role_id`, w.args...)
	return out, err
}

// CreateSCIMGroup implements store.Mutations.
func (t *txn) CreateSCIMGroup(ctx context.Context, g store.SCIMGroup) error {
	n, err := t.execN(ctx, "create scim group", g.ID,
		`INSERT INTO scim_groups (id, tenant_id, display_name, display_key, external_id, created_at, updated_at)
		 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
		g.ID, g.TenantID, g.DisplayName, strings.ToLower(g.DisplayName), g.ExternalID, t.d.encodeTime(g.CreatedAt), t.d.encodeTime(g.UpdatedAt))
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: create scim group %q: id, or displayName %q in tenant %q, exists: %w", t.d.Name, g.ID, g.DisplayName, g.TenantID, store.ErrConflict)
	}
	return nil
}

// UpdateSCIMGroup implements store.Mutations. A new display name taken by
// another group of the tenant is ErrConflict.
func (t *txn) UpdateSCIMGroup(ctx context.Context, id string, fn func(store.SCIMGroup) (store.SCIMGroup, error)) (store.SCIMGroup, error) {
	cur, err := t.getSCIMGroup(ctx, id, t.d.ForUpdate)
	if err != nil {
		return store.SCIMGroup{}, err
	}
	next, err := fn(cur)
	if err != nil {
		return store.SCIMGroup{}, err
	}
	next.ID = id
	if strings.ToLower(next.DisplayName) != strings.ToLower(cur.DisplayName) {
		var n int64
		if err := t.row(ctx, "check scim group name", id, func(r scanner) error { return r.Scan(&n) },
			`SELECT COUNT(*) FROM scim_groups WHERE tenant_id = $1 AND display_key = $2 AND id <> $3`,
			next.TenantID, strings.ToLower(next.DisplayName), id); err != nil {
			return store.SCIMGroup{}, err
		}
		if n > 0 {
			return store.SCIMGroup{}, fmt.Errorf("%s: update scim group %q: displayName %q is taken: %w", t.d.Name, id, next.DisplayName, store.ErrConflict)
		}
	}
	if _, err := t.exec(ctx, "update scim group", id,
		`UPDATE scim_groups SET tenant_id = $2, display_name = $3, display_key = $4, external_id = $5, created_at = $6,
		 updated_at = $7 WHERE id = $1`, id, next.TenantID, next.DisplayName, strings.ToLower(next.DisplayName), next.ExternalID,
		t.d.encodeTime(next.CreatedAt), t.d.encodeTime(next.UpdatedAt)); err != nil {
		return store.SCIMGroup{}, err
	}
	return next, nil
}

// DeleteSCIMGroup implements store.Mutations.
func (t *txn) DeleteSCIMGroup(ctx context.Context, id string) error {
	if _, err := t.exec(ctx, "delete scim group members", id, `DELETE FROM scim_group_members WHERE group_id = $1`, id); err != nil {
		return err
	}
	n, err := t.execN(ctx, "delete scim group", id, `DELETE FROM scim_groups WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: delete scim group %q: %w", t.d.Name, id, store.ErrNotFound)
	}
	return nil
}

// AddSCIMGroupMembers implements store.Mutations.
func (t *txn) AddSCIMGroupMembers(ctx context.Context, groupID string, principalIDs []string) error {
	for _, p := range principalIDs {
		if _, err := t.exec(ctx, "add scim group member", groupID+" "+p,
			`INSERT INTO scim_group_members (group_id, principal_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, groupID, p); err != nil {
			return err
		}
	}
	return nil
}

// RemoveSCIMGroupMembers implements store.Mutations.
func (t *txn) RemoveSCIMGroupMembers(ctx context.Context, groupID string, principalIDs []string) error {
	if principalIDs == nil {
		_, err := t.exec(ctx, "remove scim group members", groupID, `DELETE FROM scim_group_members WHERE group_id = $1`, groupID)
		return err
	}
	for _, p := range principalIDs {
		if _, err := t.exec(ctx, "remove scim group member", groupID+" "+p,
			`DELETE FROM scim_group_members WHERE group_id = $1 AND principal_id = $2`, groupID, p); err != nil {
			return err
		}
	}
	return nil
}

// CreateSCIMGroupMapping implements store.Mutations.
func (t *txn) CreateSCIMGroupMapping(ctx context.Context, m store.SCIMGroupMapping) error {
	n, err := t.execN(ctx, "create scim group mapping", m.Group,
		`INSERT INTO scim_group_roles (tenant_id, group_key, group_name, role_id, created_at) VALUES ($1, $2, $3, $4, $5)
		 ON CONFLICT DO NOTHING`, m.TenantID, strings.ToLower(m.Group), m.Group, m.RoleID, t.d.encodeTime(m.CreatedAt))
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: map scim group %q to role %q: already mapped: %w", t.d.Name, m.Group, m.RoleID, store.ErrConflict)
	}
	return nil
}

// DeleteSCIMGroupMapping implements store.Mutations.
func (t *txn) DeleteSCIMGroupMapping(ctx context.Context, tenantID, group, roleID string) (store.SCIMGroupMapping, error) {
	var m store.SCIMGroupMapping
	var created timeCol
	err := t.row(ctx, "delete scim group mapping", group, func(r scanner) error {
		return r.Scan(&m.TenantID, &m.Group, &m.RoleID, &created)
	}, `DELETE FROM scim_group_roles WHERE tenant_id = $1 AND group_key = $2 AND role_id = $3
	    RETURNING tenant_id, group_name, role_id, created_at`, tenantID, strings.ToLower(group), roleID)
	m.CreatedAt = created.T
	return m, err
}

// SyncSCIMBindings implements store.Mutations.
func (t *txn) SyncSCIMBindings(ctx context.Context, principalID string, at time.Time) (added, removed []store.Binding, err error) {
	p, err := t.getPrincipal(ctx, principalID, "")
	if err != nil {
		return nil, nil, err
	}
	strs := func(op, query string) ([]string, error) {
		var out []string
		err := t.rows(ctx, op, principalID, func(r scanner) error {
			var s string
			if err := r.Scan(&s); err != nil {
				return err
			}
			out = append(out, s)
			return nil
		}, query, principalID)
		return out, err
	}
	// A deleted principal keeps no role that SCIM gave it.
	var want []string
	if p.Status != store.StatusDeleted {
		want, err = strs("scim roles wanted", `SELECT DISTINCT m.role_id FROM scim_group_members gm
			JOIN scim_groups g ON g.id = gm.group_id
			JOIN scim_group_roles m ON m.tenant_id = g.tenant_id AND m.group_key = g.display_key
			WHERE gm.principal_id = $1 ORDER BY m.role_id`)
		if err != nil {
			return nil, nil, err
		}
	}
	owned, err := strs("scim bindings owned", `SELECT role_id FROM scim_bindings WHERE principal_id = $1`)
	if err != nil {
		return nil, nil, err
	}
	bound, err := strs("bindings", `SELECT role_id FROM bindings WHERE principal_id = $1`)
	if err != nil {
		return nil, nil, err
	}
	for _, r := range want {
		if slices.Contains(bound, r) {
			continue // the operator's binding, or SCIM's already
		}
		b := store.Binding{PrincipalID: principalID, RoleID: r, TenantID: p.TenantID, CreatedAt: at}
		if err := t.CreateBinding(ctx, b); err != nil {
			return nil, nil, err
		}
		if _, err := t.exec(ctx, "record scim binding", principalID+" "+r,
			`INSERT INTO scim_bindings (principal_id, role_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, principalID, r); err != nil {
			return nil, nil, err
		}
		added = append(added, b)
	}
	for _, r := range owned {
		if slices.Contains(want, r) {
			continue
		}
		if _, err := t.exec(ctx, "forget scim binding", principalID+" "+r,
			`DELETE FROM scim_bindings WHERE principal_id = $1 AND role_id = $2`, principalID, r); err != nil {
			return nil, nil, err
		}
		if !slices.Contains(bound, r) {
			continue
		}
		if err := t.DeleteBinding(ctx, principalID, r); err != nil {
			return nil, nil, err
		}
		removed = append(removed, store.Binding{PrincipalID: principalID, RoleID: r, TenantID: p.TenantID})
	}
	return added, removed, nil
}

// The SCIM writes, each in a transaction of its own.

// CreateSCIMToken implements store.Mutations in a transaction of its own.
func (s *Store) CreateSCIMToken(ctx context.Context, tok store.SCIMToken) error {
	return s.inTx(ctx, func(x *txn) error { return x.CreateSCIMToken(ctx, tok) })
}

// UpdateSCIMToken implements store.Mutations in a transaction of its own.
func (s *Store) UpdateSCIMToken(ctx context.Context, id string, fn func(store.SCIMToken) (store.SCIMToken, error)) (store.SCIMToken, error) {
	return do(ctx, s, func(x *txn) (store.SCIMToken, error) { return x.UpdateSCIMToken(ctx, id, fn) })
}

// CreateSCIMUser implements store.Mutations in a transaction of its own.
func (s *Store) CreateSCIMUser(ctx context.Context, u store.SCIMUser) error {
	return s.inTx(ctx, func(x *txn) error { return x.CreateSCIMUser(ctx, u) })
}

// UpdateSCIMUser implements store.Mutations in a transaction of its own.
func (s *Store) UpdateSCIMUser(ctx context.Context, principalID string, fn func(store.SCIMUser) (store.SCIMUser, error)) (store.SCIMUser, error) {
	return do(ctx, s, func(x *txn) (store.SCIMUser, error) { return x.UpdateSCIMUser(ctx, principalID, fn) })
}

// CreateSCIMGroup implements store.Mutations in a transaction of its own.
func (s *Store) CreateSCIMGroup(ctx context.Context, g store.SCIMGroup) error {
	return s.inTx(ctx, func(x *txn) error { return x.CreateSCIMGroup(ctx, g) })
}

// UpdateSCIMGroup implements store.Mutations in a transaction of its own.
func (s *Store) UpdateSCIMGroup(ctx context.Context, id string, fn func(store.SCIMGroup) (store.SCIMGroup, error)) (store.SCIMGroup, error) {
	return do(ctx, s, func(x *txn) (store.SCIMGroup, error) { return x.UpdateSCIMGroup(ctx, id, fn) })
}

// DeleteSCIMGroup implements store.Mutations in a transaction of its own.
func (s *Store) DeleteSCIMGroup(ctx context.Context, id string) error {
	return s.inTx(ctx, func(x *txn) error { return x.DeleteSCIMGroup(ctx, id) })
}

// AddSCIMGroupMembers implements store.Mutations in a transaction of its own.
func (s *Store) AddSCIMGroupMembers(ctx context.Context, groupID string, principalIDs []string) error {
	return s.inTx(ctx, func(x *txn) error { return x.AddSCIMGroupMembers(ctx, groupID, principalIDs) })
}

// RemoveSCIMGroupMembers implements store.Mutations in a transaction of its own.
func (s *Store) RemoveSCIMGroupMembers(ctx context.Context, groupID string, principalIDs []string) error {
	return s.inTx(ctx, func(x *txn) error { return x.RemoveSCIMGroupMembers(ctx, groupID, principalIDs) })
}

// CreateSCIMGroupMapping implements store.Mutations in a transaction of its own.
func (s *Store) CreateSCIMGroupMapping(ctx context.Context, m store.SCIMGroupMapping) error {
	return s.inTx(ctx, func(x *txn) error { return x.CreateSCIMGroupMapping(ctx, m) })
}

// DeleteSCIMGroupMapping implements store.Mutations in a transaction of its own.
func (s *Store) DeleteSCIMGroupMapping(ctx context.Context, tenantID, group, roleID string) (m store.SCIMGroupMapping, err error) {
	err = s.inTx(ctx, func(x *txn) error {
		m, err = x.DeleteSCIMGroupMapping(ctx, tenantID, group, roleID)
		return err
	})
	return m, err
}

// SyncSCIMBindings implements store.Mutations in a transaction of its own.
func (s *Store) SyncSCIMBindings(ctx context.Context, principalID string, at time.Time) (added, removed []store.Binding, err error) {
	err = s.inTx(ctx, func(x *txn) error {
		var err error
		added, removed, err = x.SyncSCIMBindings(ctx, principalID, at)
		return err
	})
	return added, removed, err
}
