package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/authz/authz/store"
)

const audienceCols = `id, identifier, tenant_id, created_at, updated_at`

func scanAudience(r scanner, a *store.Audience) error {
	var created, updated timeCol
	if err := r.Scan(&a.ID, &a.Identifier, &a.TenantID, &created, &updated); err != nil {
		return err
	}
	a.CreatedAt, a.UpdatedAt = created.T, updated.T
	return nil
}

// getAudience reads one audience by column (id or identifier) with its
// shares.
func (q *queries) getAudience(ctx context.Context, col, v, lock string) (store.Audience, error) {
	var a store.Audience
	if err := q.row(ctx, "get audience", v, func(s scanner) error { return scanAudience(s, &a) },
		`SELECT `+audienceCols+` FROM audiences WHERE `+col+` = $1`+lock, v); err != nil {
		return store.Audience{}, err
	}
	out := []store.Audience{a}
	if err := q.loadShares(ctx, out); err != nil {
		return store.Audience{}, err
	}
	return out[0], nil
}

// loadShares fills SharedWith of every audience in as with one query.
func (q *queries) loadShares(ctx context.Context, as []store.Audience) error {
	if len(as) == 0 {
		return nil
	}
	var w where
	ph := make([]string, len(as))
	idx := make(map[string]int, len(as))
	for i, a := range as {
		ph[i] = w.arg(a.ID)
		idx[a.ID] = i
	}
	return q.rows(ctx, "list audience shares", "", func(s scanner) error {
		var aud, ten string
		if err := s.Scan(&aud, &ten); err != nil {
			return err
		}
		if i, ok := idx[aud]; ok {
			as[i].SharedWith = append(as[i].SharedWith, ten)
		}
		return nil
	}, `SELECT audience_id, tenant_id FROM audience_shares WHERE audience_id IN (`+strings.Join(ph, ", ")+
		`) ORDER BY audience_id, tenant_id`, w.args...)
}

// GetAudience implements store.Queries.
func (q *queries) GetAudience(ctx context.Context, id string) (store.Audience, error) {
	return q.getAudience(ctx, "id", id, "")
}

// GetAudienceByIdentifier implements store.Queries.
func (q *queries) GetAudienceByIdentifier(ctx context.Context, identifier string) (store.Audience, error) {
	return q.getAudience(ctx, "identifier", identifier, "")
}

// ListAudiences implements store.Queries, by id.
func (q *queries) ListAudiences(ctx context.Context, f store.AudienceFilter, p store.Page) ([]store.Audience, string, error) {
	var w where
	if f.TenantID != "" {
		w.add("(tenant_id = ? OR id IN (SELECT audience_id FROM audience_shares WHERE tenant_id = ?))", f.TenantID, f.TenantID)
	}
	if p.After != "" {
		w.add("id > ?", p.After)
	}
	limit := limitOf(p)
	var out []store.Audience
	err := q.rows(ctx, "list audiences", "", func(s scanner) error {
		var a store.Audience
		if err := scanAudience(s, &a); err != nil {
			return err
		}
		out = append(out, a)
		return nil
	}, `SELECT `+audienceCols+` FROM audiences`+w.sql()+` ORDER BY id LIMIT `+w.arg(limit+1), w.args...)
	if err != nil {
		return nil, "", err
	}
	out, next := pageOf(out, limit, func(a store.Audience) string { return a.ID })
	if err := q.loadShares(ctx, out); err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// sharesOf normalises a share list: sorted, without duplicates or the
// owner itself.
func sharesOf(a store.Audience) []string {
	var out []string
	for _, t := range a.SharedWith {
		if t != "" && t != a.TenantID {
			out = append(out, t)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func (t *txn) insertShares(ctx context.Context, id string, tenants []string) error {
	for _, ten := range tenants {
		if _, err := t.exec(ctx, "share audience", id,
			`INSERT INTO audience_shares (audience_id, tenant_id) VALUES ($1, $2)`, id, ten); err != nil {
			return err
		}
	}
	return nil
}

// CreateAudience implements store.Mutations.
func (t *txn) CreateAudience(ctx context.Context, a store.Audience) error {
	n, err := t.execN(ctx, "create audience", a.ID,
		`INSERT INTO audiences (`+audienceCols+`) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		a.ID, a.Identifier, a.TenantID, t.d.encodeTime(a.CreatedAt), t.d.encodeTime(a.UpdatedAt))
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: create audience %q: id, or identifier %q, exists: %w", t.d.Name, a.ID, a.Identifier, store.ErrConflict)
	}
	if err := t.insertShares(ctx, a.ID, sharesOf(a)); err != nil {
		return err
	}
	t.markChanged()
	return nil
}

// UpdateAudience implements store.Mutations. Only the shares and
// updated_at change.
func (t *txn) UpdateAudience(ctx context.Context, id string, fn func(store.Audience) (store.Audience, error)) (store.Audience, error) {
	cur, err := t.getAudience(ctx, "id", id, t.d.ForUpdate)
	if err != nil {
		return store.Audience{}, err
	}
	next, err := fn(cur)
	if err != nil {
		return store.Audience{}, err
	}
	next.ID, next.Identifier, next.TenantID, next.CreatedAt = cur.ID, cur.Identifier, cur.TenantID, cur.CreatedAt
	next.SharedWith = sharesOf(next)
	if _, err := t.exec(ctx, "update audience", id, `UPDATE audiences SET updated_at = $2 WHERE id = $1`,
		id, t.d.encodeTime(next.UpdatedAt)); err != nil {
		return store.Audience{}, err
	}
	if _, err := t.exec(ctx, "unshare audience", id, `DELETE FROM audience_shares WHERE audience_id = $1`, id); err != nil {
		return store.Audience{}, err
	}
	if err := t.insertShares(ctx, id, next.SharedWith); err != nil {
		return store.Audience{}, err
	}
	t.markChanged()
	return next, nil
}

// DeleteAudience implements store.Mutations.
func (t *txn) DeleteAudience(ctx context.Context, id string) error {
	if _, err := t.exec(ctx, "unshare audience", id, `DELETE FROM audience_shares WHERE audience_id = $1`, id); err != nil {
		return err
	}
	n, err := t.execN(ctx, "delete audience", id, `DELETE FROM audiences WHERE id = $1`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: delete audience %q: %w", t.d.Name, id, store.ErrNotFound)
	}
	t.markChanged()
	return nil
}

// CreateAudience implements store.Mutations in a transaction of its own.
func (s *Store) CreateAudience(ctx context.Context, a store.Audience) error {
	return s.inTx(ctx, func(x *txn) error { return x.CreateAudience(ctx, a) })
}

// UpdateAudience implements store.Mutations in a transaction of its own.
func (s *Store) UpdateAudience(ctx context.Context, id string, fn func(store.Audience) (store.Audience, error)) (store.Audience, error) {
	return do(ctx, s, func(x *txn) (store.Audience, error) { return x.UpdateAudience(ctx, id, fn) })
}

// DeleteAudience implements store.Mutations in a transaction of its own.
func (s *Store) DeleteAudience(ctx context.Context, id string) error {
	return s.inTx(ctx, func(x *txn) error { return x.DeleteAudience(ctx, id) })
}
