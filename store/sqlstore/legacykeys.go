package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authz/authz/store"
)

const legacyKeyCols = `id, hash, tenant_id, owner_id, owner_ref, scopes, label, environment, source, created_at,
	expires_at, status, revoked_at, revoked_by, revoked_reason, rotated_from, last_used_at, use_count,
	expiry_notice_at, updated_at, added_at`

// legacyKeyColCount is how many columns legacyKeyCols names: the number of
// bind parameters one row of a bulk insert takes.
const legacyKeyColCount = 21

// legacyKeyColsAs is legacyKeyCols qualified with a table alias.
func legacyKeyColsAs(alias string) string {
	cols := strings.Split(legacyKeyCols, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

func scanLegacyKey(r scanner, k *store.LegacyKey, extra ...any) error {
	var created, expires, revoked, lastUsed, notice, updated, added timeCol
	dest := []any{&k.ID, bytesCol{&k.Hash}, &k.TenantID, &k.OwnerID, &k.OwnerRef, jsonCol{&k.Scopes}, &k.Label,
		&k.Environment, &k.Source, &created, &expires, &k.Status, &revoked, &k.RevokedBy, &k.RevokedReason,
		&k.RotatedFrom, &lastUsed, &k.UseCount, &notice, &updated, &added}
	if err := r.Scan(append(dest, extra...)...); err != nil {
		return err
	}
	k.CreatedAt, k.ExpiresAt, k.RevokedAt, k.LastUsedAt, k.ExpiryNoticeAt, k.UpdatedAt, k.AddedAt =
		created.T, expires.ptr(), revoked.ptr(), lastUsed.ptr(), notice.ptr(), updated.T, added.T
	if !added.Valid {
		k.AddedAt = created.T
	}
	return nil
}

func (q *queries) legacyKeyArgs(k store.LegacyKey) []any {
	return []any{k.ID, k.Hash, k.TenantID, k.OwnerID, k.OwnerRef, mustJSON(k.Scopes), k.Label, k.Environment,
		k.Source, q.d.encodeTime(k.CreatedAt), q.d.encodeNullTime(k.ExpiresAt), string(k.Status),
		q.d.encodeNullTime(k.RevokedAt), k.RevokedBy, k.RevokedReason, k.RotatedFrom, q.d.encodeNullTime(k.LastUsedAt),
		k.UseCount, q.d.encodeNullTime(k.ExpiryNoticeAt), q.d.encodeTime(k.UpdatedAt), q.d.encodeTime(addedAt(k))}
}

// addedAt is k.AddedAt, CreatedAt when unset.
func addedAt(k store.LegacyKey) time.Time {
	if k.AddedAt.IsZero() {
		return k.CreatedAt
	}
	return k.AddedAt
}

func (q *queries) getLegacyKey(ctx context.Context, id, lock string) (store.LegacyKey, error) {
	var k store.LegacyKey
	err := q.row(ctx, "get legacy key", id, func(r scanner) error { return scanLegacyKey(r, &k) },
		`SELECT `+legacyKeyCols+` FROM legacy_keys WHERE id = $1`+lock, id)
	return k, err
}

// GetLegacyKey implements store.Queries.
func (q *queries) GetLegacyKey(ctx context.Context, id string) (store.LegacyKey, error) {
	return q.getLegacyKey(ctx, id, "")
}

// GetLegacyKeyByHash implements store.Queries. The hash is the unique
// index's key: the lookup is one index probe, and never compares secrets.
func (q *queries) GetLegacyKeyByHash(ctx context.Context, hash []byte) (store.LegacyKey, error) {
	var k store.LegacyKey
	// The hash is never put in an error message.
	err := q.row(ctx, "get legacy key by hash", "", func(r scanner) error { return scanLegacyKey(r, &k) },
		`SELECT `+legacyKeyCols+` FROM legacy_keys WHERE hash = $1`, hash)
	return k, err
}

// ListLegacyKeys implements store.Queries.
func (q *queries) ListLegacyKeys(ctx context.Context, f store.LegacyKeyFilter, p store.Page) ([]store.LegacyKey, string, error) {
	var w where
	w.eq("tenant_id", f.TenantID)
	w.eq("owner_id", f.OwnerID)
	w.eq("owner_ref", f.OwnerRef)
	w.eq("status", string(f.Status))
	if f.ExpiresBefore != nil {
		w.add("expires_at < ?", q.d.encodeTime(*f.ExpiresBefore))
	}
	if f.ExpiryNoticePending {
		w.add("expiry_notice_at IS NULL")
	}
	if p.After != "" {
		w.add("id > ?", p.After)
	}
	limit := limitOf(p)
	var out []store.LegacyKey
	err := q.rows(ctx, "list legacy keys", "", func(r scanner) error {
		var k store.LegacyKey
		if err := scanLegacyKey(r, &k); err != nil {
			return err
		}
		out = append(out, k)
		return nil
	}, `SELECT `+legacyKeyCols+` FROM legacy_keys`+w.sql()+` ORDER BY id LIMIT `+w.arg(limit+1), w.args...)
	if err != nil {
		return nil, "", err
	}
	out, next := pageOf(out, limit, func(k store.LegacyKey) string { return k.ID })
	return out, next, nil
}

// ListOrphanKeys implements store.Queries.
func (q *queries) ListOrphanKeys(ctx context.Context, f store.OrphanKeyFilter, p store.Page) ([]store.OrphanKey, string, error) {
	tenantID := f.TenantID
	var w where
	w.add("k.status = 'active'")
	w.add("(p.id IS NULL OR p.status <> 'active' OR t.id IS NULL OR t.status <> 'active')")
	w.eq("k.tenant_id", tenantID)
	switch {
	case f.UsedSince.IsZero():
	case f.Used:
		w.add("k.last_used_at >= ?", q.d.encodeTime(f.UsedSince))
	default:
		w.add("(k.last_used_at IS NULL OR k.last_used_at < ?)", q.d.encodeTime(f.UsedSince))
	}
	if p.After != "" {
		w.add("k.id > ?", p.After)
	}
	limit := limitOf(p)
	var out []store.OrphanKey
	err := q.rows(ctx, "list orphan keys", tenantID, func(r scanner) error {
		var o store.OrphanKey
		var owner, tenant nullString
		if err := scanLegacyKey(r, &o.Key, &owner, &tenant); err != nil {
			return err
		}
		o.OwnerStatus, o.TenantStatus = store.Status(owner), store.Status(tenant)
		out = append(out, o)
		return nil
	}, `SELECT `+legacyKeyColsAs("k")+`, p.status, t.status
	    FROM legacy_keys k
	    LEFT JOIN principals p ON p.id = k.owner_id
	    LEFT JOIN tenants t ON t.id = k.tenant_id`+w.sql()+` ORDER BY k.id LIMIT `+w.arg(limit+1), w.args...)
	if err != nil {
		return nil, "", err
	}
	out, next := pageOf(out, limit, func(o store.OrphanKey) string { return o.Key.ID })
	return out, next, nil
}

// LegacyKeyStats implements store.Queries. A key counts as used in the last
// 7 (30) days when its last use is at or after now minus 7 (30) days. Every
// tenant with keys appears, even one whose keys are all revoked.
//
// Each count is a range of legacy_keys_usage (tenant, status,
// last_used_at), and the tenants are found by skipping through it from one
// tenant to the next, so no key row is read: at a million keys the report
// costs index ranges, not a scan of the table.
func (q *queries) LegacyKeyStats(ctx context.Context, tenantID string, now time.Time) ([]store.KeyStats, error) {
	var w where
	since7 := w.arg(q.d.encodeTime(now.Add(-7 * 24 * time.Hour)))
	since30 := w.arg(q.d.encodeTime(now.Add(-30 * 24 * time.Hour)))
	var tenants string
	if tenantID != "" {
		tenants = `SELECT tenant_id FROM legacy_keys WHERE tenant_id = ` + w.arg(tenantID) + ` LIMIT 1`
	} else {
		tenants = `SELECT MIN(tenant_id) FROM legacy_keys
		    UNION ALL
		    SELECT (SELECT MIN(k.tenant_id) FROM legacy_keys k WHERE k.tenant_id > ten.id)
		    FROM ten WHERE ten.id IS NOT NULL`
	}
	count := func(cond string) string {
		return `(SELECT COUNT(*) FROM legacy_keys k WHERE k.tenant_id = ten.id AND k.status = 'active'` + cond + `)`
	}
	var out []store.KeyStats
	err := q.rows(ctx, "legacy key stats", tenantID, func(r scanner) error {
		var s store.KeyStats
		if err := r.Scan(&s.TenantID, &s.Active, &s.Used7d, &s.Used30d, &s.NeverUsed); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	}, `WITH RECURSIVE ten(id) AS (`+tenants+`)
	    SELECT ten.id, `+count("")+`, `+count(" AND k.last_used_at >= "+since7)+`,
	        `+count(" AND k.last_used_at >= "+since30)+`, `+count(" AND k.last_used_at IS NULL")+`
	    FROM ten WHERE ten.id IS NOT NULL ORDER BY ten.id`, w.args...)
	return out, err
}

// HolderStats implements store.Queries. Holders are the distinct non-empty
// owners of keys (whether or not the principal exists), ordered by tenant
// and principal; LastKeyUse covers revoked keys too. It reads
// legacy_keys_holder only (owner_id > ” is owner_id <> ” as an index
// range), in the index's order, so the grouping needs no sort.
func (q *queries) HolderStats(ctx context.Context, tenantID string, since time.Time) ([]store.HolderStats, error) {
	var w where
	sinceArg := w.arg(q.d.encodeTime(since))
	w.add("k.owner_id > ''")
	if tenantID != "" {
		// Written so that no index can serve it: the planner would
		// otherwise read every key of the tenant through
		// legacy_keys_usage, orphans included (98 % of a million in the
		// issue's import), rather than the tenant's holders'
		// keys through legacy_keys_holder.
		w.add("k.tenant_id || '' = ?", tenantID)
	}
	var out []store.HolderStats
	err := q.rows(ctx, "holder stats", tenantID, func(r scanner) error {
		var h store.HolderStats
		var last, added timeCol
		if err := r.Scan(&h.TenantID, &h.PrincipalID, &h.ActiveKeys, &h.KeysUsedSince, &last, &added, &h.ClientsUsedSince); err != nil {
			return err
		}
		h.LastKeyUse, h.LastKeyAdded = last.ptr(), added.ptr()
		out = append(out, h)
		return nil
	}, `SELECT k.tenant_id, k.owner_id,
	        COUNT(*) FILTER (WHERE k.status = 'active'),
	        COUNT(*) FILTER (WHERE k.status = 'active' AND k.last_used_at >= `+sinceArg+`),
	        MAX(k.last_used_at),
	        MAX(k.added_at) FILTER (WHERE k.status = 'active'),
	        (SELECT COUNT(*) FROM clients c WHERE c.owner_id = k.owner_id AND c.last_used_at >= `+sinceArg+`)
	    FROM legacy_keys k`+w.sql()+`
	    GROUP BY k.owner_id, k.tenant_id`, w.args...)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.HolderStats) int {
		if c := strings.Compare(a.TenantID, b.TenantID); c != 0 {
			return c
		}
		return strings.Compare(a.PrincipalID, b.PrincipalID)
	})
	return out, nil
}

// CreateLegacyKey implements store.Mutations. Neither the tenant nor the
// owner has to exist: a broken import is exactly what keys must survive.
func (t *txn) CreateLegacyKey(ctx context.Context, k store.LegacyKey) error {
	n, err := t.execN(ctx, "create legacy key", k.ID,
		`INSERT INTO legacy_keys (`+legacyKeyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
		 $14, $15, $16, $17, $18, $19, $20, $21) ON CONFLICT DO NOTHING`, t.legacyKeyArgs(k)...)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: create legacy key %q: its id or hash exists: %w", t.d.Name, k.ID, store.ErrConflict)
	}
	t.markChanged()
	return nil
}

// CreateLegacyKeys implements store.Mutations: multi-row inserts, as many
// rows per statement as the database's parameter limit allows, each
// skipping rows whose id or hash exists and returning the ids it inserted.
//
// A goroutine encodes the next statement's arguments while the database
// runs the current one, so that on a multi-core machine a large import costs
// about the larger of the two, not their sum.
func (t *txn) CreateLegacyKeys(ctx context.Context, ks []store.LegacyKey) ([]string, error) {
	if t.d.RowByRowInserts {
		return t.createLegacyKeysRowByRow(ctx, ks)
	}
	per := max(t.d.MaxParams/legacyKeyColCount, 1)
	stmts := make(chan bulkStmt, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		defer close(stmts)
		full := "" // every full chunk has the same text: build it once
		for chunk := range slices.Chunk(ks, per) {
			st := bulkStmt{args: make([]any, 0, len(chunk)*legacyKeyColCount)}
			for _, k := range chunk {
				st.args = append(st.args, t.legacyKeyArgs(k)...)
			}
			if len(chunk) == per && full != "" {
				st.query = full
			} else {
				st.query = t.d.bulkInsert(`INSERT INTO legacy_keys (`+legacyKeyCols+`) VALUES `, len(chunk),
					legacyKeyColCount, ` ON CONFLICT DO NOTHING RETURNING id`)
				if len(chunk) == per {
					full = st.query
				}
			}
			select {
			case stmts <- st:
			case <-done:
				return
			}
		}
	}()
	inserted := make([]string, 0, len(ks))
	for st := range stmts {
		err := t.rows(ctx, "create legacy keys", "", func(r scanner) error {
			var id string
			if err := r.Scan(&id); err != nil {
				return err
			}
			inserted = append(inserted, id)
			return nil
		}, st.query, st.args...)
		if err != nil {
			return nil, err
		}
	}
	if len(inserted) > 0 {
		t.markChanged()
	}
	return inserted, nil
}

// createLegacyKeysRowByRow is CreateLegacyKeys for RowByRowInserts: one
// prepared statement, executed per row; a row that inserted nothing had
// its id or hash taken.
func (t *txn) createLegacyKeysRowByRow(ctx context.Context, ks []store.LegacyKey) ([]string, error) {
	const op = "create legacy keys"
	if err := t.check(op, ""); err != nil {
		return nil, err
	}
	p, ok := t.c.(interface {
		PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
	})
	if !ok {
		return nil, fmt.Errorf("%s: %s: the connection cannot prepare statements", t.d.Name, op)
	}
	stmt, err := p.PrepareContext(ctx, `INSERT INTO legacy_keys (`+legacyKeyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
		$9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21) ON CONFLICT DO NOTHING`)
	if err != nil {
		return nil, t.fail(ctx, err, op, "")
	}
	defer stmt.Close()
	inserted := make([]string, 0, len(ks))
	for _, k := range ks {
		res, err := stmt.ExecContext(ctx, t.legacyKeyArgs(k)...)
		if err != nil {
			return nil, t.fail(ctx, err, op, k.ID)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, t.fail(ctx, err, op, k.ID)
		} else if n == 1 {
			inserted = append(inserted, k.ID)
		}
	}
	if len(inserted) > 0 {
		t.markChanged()
	}
	return inserted, nil
}

// bulkStmt is one multi-row statement with its arguments.
type bulkStmt struct {
	query string
	args  []any
}

// UpdateLegacyKey implements store.Mutations.
func (t *txn) UpdateLegacyKey(ctx context.Context, id string, fn func(store.LegacyKey) (store.LegacyKey, error)) (store.LegacyKey, error) {
	cur, err := t.getLegacyKey(ctx, id, t.d.ForUpdate)
	if err != nil {
		return store.LegacyKey{}, err
	}
	next, err := fn(cur)
	if err != nil {
		return store.LegacyKey{}, err
	}
	next.ID = id
	if _, err := t.exec(ctx, "update legacy key", id,
		`UPDATE legacy_keys SET hash = $2, tenant_id = $3, owner_id = $4, owner_ref = $5, scopes = $6, label = $7,
		 environment = $8, source = $9, created_at = $10, expires_at = $11, status = $12, revoked_at = $13,
		 revoked_by = $14, revoked_reason = $15, rotated_from = $16, last_used_at = $17, use_count = $18,
		 expiry_notice_at = $19, updated_at = $20, added_at = $21 WHERE id = $1`, t.legacyKeyArgs(next)...); err != nil {
		return store.LegacyKey{}, err
	}
	t.markChanged()
	return next, nil
}

// errEmptyRef guards RemapLegacyKeys: an empty reference would match every
// issued key of the tenant.
var errEmptyRef = errors.New("empty owner reference")

// RemapLegacyKeys implements store.Mutations. Keys already pointing at
// newOwnerID are not counted.
func (t *txn) RemapLegacyKeys(ctx context.Context, tenantID, oldRef, newOwnerID string) (int64, error) {
	if oldRef == "" {
		return 0, fmt.Errorf("%s: remap legacy keys of tenant %q: %w", t.d.Name, tenantID, errEmptyRef)
	}
	n, err := t.execN(ctx, "remap legacy keys", oldRef,
		`UPDATE legacy_keys SET owner_id = $3
		 WHERE tenant_id = $1 AND (owner_ref = $2 OR owner_id = $2) AND owner_id <> $3`,
		tenantID, oldRef, newOwnerID)
	if err != nil {
		return 0, err
	}
	if n > 0 {
		t.markChanged()
	}
	return n, nil
}

// RecordKeyUsage implements store.Mutations. It does not move Generation.
// Unknown keys are skipped.
func (t *txn) RecordKeyUsage(ctx context.Context, us []store.KeyUsage) error {
	us = slices.Clone(us)
	slices.SortFunc(us, func(a, b store.KeyUsage) int { return strings.Compare(a.KeyID, b.KeyID) })
	for _, u := range us {
		if _, err := t.exec(ctx, "record key usage", u.KeyID,
			`UPDATE legacy_keys SET use_count = use_count + $2,
			 last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $3 THEN $3 ELSE last_used_at END
			 WHERE id = $1`, u.KeyID, u.Count, t.d.encodeTime(u.LastUsedAt)); err != nil {
			return err
		}
	}
	return nil
}

// GetLegacyKeysByHash implements store.Queries: one statement per chunk of
// at most 1,000 hashes, each an index probe.
func (q *queries) GetLegacyKeysByHash(ctx context.Context, hashes [][]byte) ([]store.LegacyKey, error) {
	var out []store.LegacyKey
	for chunk := range slices.Chunk(hashes, min(q.d.MaxParams, 1000)) {
		marks := make([]string, len(chunk))
		args := make([]any, len(chunk))
		for i, h := range chunk {
			marks[i], args[i] = fmt.Sprintf("$%d", i+1), h
		}
		err := q.rows(ctx, "get legacy keys by hash", "", func(r scanner) error {
			var k store.LegacyKey
			if err := scanLegacyKey(r, &k); err != nil {
				return err
			}
			out = append(out, k)
			return nil
		}, `SELECT `+legacyKeyCols+` FROM legacy_keys WHERE hash IN (`+strings.Join(marks, ", ")+`)`, args...)
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Key conflicts (store.KeyClaim).

const keyClaimCols = `conflict_id, key_id, tenant_id, holder, proof, prior_status, claimed_at, claimed_by,
	resolved_at, resolved_by, outcome`

// ListKeyClaims implements store.Queries.
func (q *queries) ListKeyClaims(ctx context.Context, keyID string) ([]store.KeyClaim, error) {
	var out []store.KeyClaim
	err := q.rows(ctx, "list key claims", keyID, func(r scanner) error {
		var c store.KeyClaim
		var claimed, resolved timeCol
		if err := r.Scan(&c.ConflictID, &c.KeyID, &c.TenantID, &c.Holder, &c.Proof, &c.PriorStatus, &claimed,
			&c.ClaimedBy, &resolved, &c.ResolvedBy, &c.Outcome); err != nil {
			return err
		}
		c.ClaimedAt, c.ResolvedAt = claimed.T, resolved.ptr()
		out = append(out, c)
		return nil
	}, `SELECT `+keyClaimCols+` FROM key_claims
	    WHERE conflict_id IN (SELECT conflict_id FROM key_claims WHERE key_id = $1 AND resolved_at IS NULL)
	    ORDER BY holder DESC, claimed_at, key_id`, keyID)
	return out, err
}

// AddKeyClaims implements store.Mutations.
func (t *txn) AddKeyClaims(ctx context.Context, cs []store.KeyClaim) error {
	for _, c := range cs {
		if _, err := t.exec(ctx, "add key claim", c.KeyID,
			`INSERT INTO key_claims (`+keyClaimCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			c.ConflictID, c.KeyID, c.TenantID, c.Holder, c.Proof, string(c.PriorStatus), t.d.encodeTime(c.ClaimedAt),
			c.ClaimedBy, t.d.encodeNullTime(c.ResolvedAt), c.ResolvedBy, c.Outcome); err != nil {
			return err
		}
	}
	if len(cs) > 0 {
		t.markChanged()
	}
	return nil
}

// ResolveKeyClaims implements store.Mutations.
func (t *txn) ResolveKeyClaims(ctx context.Context, conflictID, winnerKeyID string, at time.Time, by string) error {
	n, err := t.execN(ctx, "resolve key claims", conflictID,
		`UPDATE key_claims SET resolved_at = $3, resolved_by = $4,
		 outcome = CASE WHEN key_id = $2 THEN 'won' ELSE 'dropped' END
		 WHERE conflict_id = $1 AND resolved_at IS NULL`,
		conflictID, winnerKeyID, t.d.encodeTime(at), by)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: resolve key conflict %q: no open conflict: %w", t.d.Name, conflictID, store.ErrNotFound)
	}
	t.markChanged()
	return nil
}
