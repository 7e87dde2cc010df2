package sqlstore

import (
	"context"
	"fmt"

	"github.com/authz/authz/store"
)

const tenantCols = `id, name, status, legacy_sunset_at, status_changed_at, status_changed_by, created_at, updated_at`

func scanTenant(r scanner, t *store.Tenant) error {
	var sunset, changed, created, updated timeCol
	if err := r.Scan(&t.ID, &t.Name, &t.Status, &sunset, &changed, &t.StatusChangedBy, &created, &updated); err != nil {
		return err
	}
	t.LegacySunsetAt, t.StatusChangedAt, t.CreatedAt, t.UpdatedAt = sunset.ptr(), changed.T, created.T, updated.T
	return nil
}

func (q *queries) tenantArgs(t store.Tenant) []any {
	return []any{t.ID, t.Name, string(t.Status), q.d.encodeNullTime(t.LegacySunsetAt),
		q.d.encodeTime(t.StatusChangedAt), t.StatusChangedBy, q.d.encodeTime(t.CreatedAt), q.d.encodeTime(t.UpdatedAt)}
}

func (q *queries) getTenant(ctx context.Context, id, lock string) (store.Tenant, error) {
	var t store.Tenant
	err := q.row(ctx, "get tenant", id, func(r scanner) error { return scanTenant(r, &t) },
		`SELECT `+tenantCols+` FROM tenants WHERE id = $1`+lock, id)
	return t, err
}

// GetTenant implements store.Queries.
func (q *queries) GetTenant(ctx context.Context, id string) (store.Tenant, error) {
	return q.getTenant(ctx, id, "")
}

// ListTenants implements store.Queries.
func (q *queries) ListTenants(ctx context.Context, f store.TenantFilter, p store.Page) ([]store.Tenant, string, error) {
	var w where
	w.eq("status", string(f.Status))
	if p.After != "" {
		w.add("id > ?", p.After)
	}
	limit := limitOf(p)
	var out []store.Tenant
	err := q.rows(ctx, "list tenants", "", func(r scanner) error {
		var t store.Tenant
		if err := scanTenant(r, &t); err != nil {
			return err
		}
		out = append(out, t)
		return nil
	}, `SELECT `+tenantCols+` FROM tenants`+w.sql()+` ORDER BY id LIMIT `+w.arg(limit+1), w.args...)
	if err != nil {
		return nil, "", err
	}
	out, next := pageOf(out, limit, func(t store.Tenant) string { return t.ID })
	return out, next, nil
}

// CreateTenant implements store.Mutations.
func (t *txn) CreateTenant(ctx context.Context, tn store.Tenant) error {
	n, err := t.execN(ctx, "create tenant", tn.ID,
		`INSERT INTO tenants (`+tenantCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
		t.tenantArgs(tn)...)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: create tenant %q: id or name %q exists: %w", t.d.Name, tn.ID, tn.Name, store.ErrConflict)
	}
	t.markChanged()
	return nil
}

// UpdateTenant implements store.Mutations.
func (t *txn) UpdateTenant(ctx context.Context, id string, fn func(store.Tenant) (store.Tenant, error)) (store.Tenant, error) {
	cur, err := t.getTenant(ctx, id, t.d.ForUpdate)
	if err != nil {
		return store.Tenant{}, err
	}
	next, err := fn(cur)
	if err != nil {
		return store.Tenant{}, err
	}
	next.ID = id
	if _, err := t.exec(ctx, "update tenant", id,
		`UPDATE tenants SET name = $2, status = $3, legacy_sunset_at = $4, status_changed_at = $5,
		 status_changed_by = $6, created_at = $7, updated_at = $8 WHERE id = $1`,
		t.tenantArgs(next)...); err != nil {
		return store.Tenant{}, err
	}
	t.markChanged()
	return next, nil
}
