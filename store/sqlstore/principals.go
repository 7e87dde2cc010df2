package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/authz/authz/store"
)

const principalCols = `id, tenant_id, kind, display_name, external_id, status, status_changed_at, status_changed_by,
	deleted_at, deleted_by, created_at, updated_at`

func scanPrincipal(r scanner, p *store.Principal) error {
	var changed, deleted, created, updated timeCol
	if err := r.Scan(&p.ID, &p.TenantID, &p.Kind, &p.DisplayName, &p.ExternalID, &p.Status, &changed,
		&p.StatusChangedBy, &deleted, &p.DeletedBy, &created, &updated); err != nil {
		return err
	}
	p.StatusChangedAt, p.DeletedAt, p.CreatedAt, p.UpdatedAt = changed.T, deleted.ptr(), created.T, updated.T
	return nil
}

func (q *queries) principalArgs(p store.Principal) []any {
	return []any{p.ID, p.TenantID, string(p.Kind), p.DisplayName, p.ExternalID, string(p.Status),
		q.d.encodeTime(p.StatusChangedAt), p.StatusChangedBy, q.d.encodeNullTime(p.DeletedAt), p.DeletedBy,
		q.d.encodeTime(p.CreatedAt), q.d.encodeTime(p.UpdatedAt)}
}

func (q *queries) getPrincipal(ctx context.Context, id, lock string) (store.Principal, error) {
	var p store.Principal
	err := q.row(ctx, "get principal", id, func(r scanner) error { return scanPrincipal(r, &p) },
		`SELECT `+principalCols+` FROM principals WHERE id = $1`+lock, id)
	return p, err
}

// GetPrincipal implements store.Queries.
func (q *queries) GetPrincipal(ctx context.Context, id string) (store.Principal, error) {
	return q.getPrincipal(ctx, id, "")
}

// GetPrincipalByExternalID implements store.Queries.
func (q *queries) GetPrincipalByExternalID(ctx context.Context, tenantID, externalID string) (store.Principal, error) {
	if externalID == "" {
		return store.Principal{}, fmt.Errorf("%s: get principal by external id: empty external id: %w", q.d.Name, store.ErrNotFound)
	}
	var p store.Principal
	err := q.row(ctx, "get principal by external id", externalID, func(r scanner) error { return scanPrincipal(r, &p) },
		// The query repeats the partial index's condition word for word, so
		// that both planners can use the index with a bound parameter.
		`SELECT `+principalCols+` FROM principals
		 WHERE tenant_id = $1 AND external_id = $2 AND status <> 'deleted' AND external_id <> ''`,
		tenantID, externalID)
	return p, err
}

// ListPrincipals implements store.Queries.
func (q *queries) ListPrincipals(ctx context.Context, f store.PrincipalFilter, p store.Page) ([]store.Principal, string, error) {
	var w where
	w.eq("tenant_id", f.TenantID)
	w.eq("status", string(f.Status))
	w.eq("kind", string(f.Kind))
	w.eq("external_id", f.ExternalID)
	if p.After != "" {
		w.add("id > ?", p.After)
	}
	limit := limitOf(p)
	var out []store.Principal
	err := q.rows(ctx, "list principals", "", func(r scanner) error {
		var pr store.Principal
		if err := scanPrincipal(r, &pr); err != nil {
			return err
		}
		out = append(out, pr)
		return nil
	}, `SELECT `+principalCols+` FROM principals`+w.sql()+` ORDER BY id LIMIT `+w.arg(limit+1), w.args...)
	if err != nil {
		return nil, "", err
	}
	out, next := pageOf(out, limit, func(p store.Principal) string { return p.ID })
	return out, next, nil
}

// CreatePrincipal implements store.Mutations. The tenant must exist.
func (t *txn) CreatePrincipal(ctx context.Context, p store.Principal) error {
	n, err := t.execN(ctx, "create principal", p.ID,
		`INSERT INTO principals (`+principalCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
		 ON CONFLICT DO NOTHING`, t.principalArgs(p)...)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: create principal %q: id, or external id %q in tenant %q, exists: %w",
			t.d.Name, p.ID, p.ExternalID, p.TenantID, store.ErrConflict)
	}
	t.markChanged()
	return nil
}

// UpdatePrincipal implements store.Mutations.
func (t *txn) UpdatePrincipal(ctx context.Context, id string, fn func(store.Principal) (store.Principal, error)) (store.Principal, error) {
	cur, err := t.getPrincipal(ctx, id, t.d.ForUpdate)
	if err != nil {
		return store.Principal{}, err
	}
	next, err := fn(cur)
	if err != nil {
		return store.Principal{}, err
	}
	next.ID = id
	if _, err := t.exec(ctx, "update principal", id,
		`UPDATE principals SET tenant_id = $2, kind = $3, display_name = $4, external_id = $5, status = $6,
		 status_changed_at = $7, status_changed_by = $8, deleted_at = $9, deleted_by = $10, created_at = $11,
		 updated_at = $12 WHERE id = $1`, t.principalArgs(next)...); err != nil {
		return store.Principal{}, err
	}
	t.markChanged()
	return next, nil
}

// principalsByExternalIDChunk bounds the IN list of one query, well under
// both backends' parameter limits.
const principalsByExternalIDChunk = 500

// ListPrincipalsByExternalIDs implements store.Queries: one query per 500
// external ids, through principals_tenant_external (migration 8), so that
// an import batch resolves its owners without reading the whole tenant.
func (q *queries) ListPrincipalsByExternalIDs(ctx context.Context, tenantID string, externalIDs []string) ([]store.Principal, error) {
	var out []store.Principal
	for chunk := range slices.Chunk(externalIDs, principalsByExternalIDChunk) {
		var w where
		w.eq("tenant_id", tenantID)
		in := make([]string, len(chunk))
		for i, e := range chunk {
			in[i] = w.arg(e)
		}
		w.add("external_id IN (" + strings.Join(in, ", ") + ")")
		err := q.rows(ctx, "list principals by external id", tenantID, func(r scanner) error {
			var pr store.Principal
			if err := scanPrincipal(r, &pr); err != nil {
				return err
			}
			out = append(out, pr)
			return nil
		}, `SELECT `+principalCols+` FROM principals`+w.sql()+` ORDER BY id`, w.args...)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
