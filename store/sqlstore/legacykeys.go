package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
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
// The counts come from legacy_key_tally (migration 15), which triggers keep
// per tenant and UTC day of last use: active and never used are sums of
// a tenant's rows, used since a time is the sum of the whole days after
// the one it falls in, plus the keys of that one day used at or after it,
// counted through legacy_keys_usage. The tenants are found by skipping
// through legacy_keys_usage from one tenant to the next. No report reads
// a million index entries: right after a bulk import PostgreSQL has no
// visibility map yet and such a count visits every heap row (6 s at a
// million keys, issue 19).
func (q *queries) LegacyKeyStats(ctx context.Context, tenantID string, now time.Time) ([]store.KeyStats, error) {
	var w where
	var tenants string
	if tenantID != "" {
		tenants = `SELECT tenant_id FROM legacy_keys WHERE tenant_id = ` + w.arg(tenantID) + ` LIMIT 1`
	} else {
		tenants = `SELECT MIN(tenant_id) FROM legacy_keys
		    UNION ALL
		    SELECT (SELECT MIN(k.tenant_id) FROM legacy_keys k WHERE k.tenant_id > ten.id)
		    FROM ten WHERE ten.id IS NOT NULL`
	}
	tally := func(cond string) string {
		return `(SELECT COALESCE(SUM(c.n), 0) FROM legacy_key_tally c WHERE c.tenant_id = ten.id` + cond + `)`
	}
	usedSince := func(since time.Time) string {
		day := tallyDay(since)
		next := time.UnixMicro((day + 1) * microsPerDay)
		return `(` + tally(" AND c.day > "+w.arg(day)) + ` + (SELECT COUNT(*) FROM legacy_keys k
		    WHERE k.tenant_id = ten.id AND k.status = 'active' AND k.last_used_at >= ` + w.arg(q.d.encodeTime(since)) + `
		    AND k.last_used_at < ` + w.arg(q.d.encodeTime(next)) + `))`
	}
	used7 := usedSince(now.Add(-7 * 24 * time.Hour))
	used30 := usedSince(now.Add(-30 * 24 * time.Hour))
	var out []store.KeyStats
	err := q.rows(ctx, "legacy key stats", tenantID, func(r scanner) error {
		var s store.KeyStats
		if err := r.Scan(&s.TenantID, &s.Active, &s.Used7d, &s.Used30d, &s.NeverUsed); err != nil {
			return err
		}
		out = append(out, s)
		return nil
	}, `WITH RECURSIVE ten(id) AS (`+tenants+`)
	    SELECT ten.id, `+tally("")+`, `+used7+`, `+used30+`, `+tally(" AND c.day = -1")+`
	    FROM ten WHERE ten.id IS NOT NULL ORDER BY ten.id`, w.args...)
	return out, err
}

// microsPerDay is one day in the unit of legacy_key_tally's day.
const microsPerDay = int64(24 * time.Hour / time.Microsecond)

// tallyDay is legacy_key_tally's day of t: whole UTC days since 1970.
func tallyDay(t time.Time) int64 {
	us := t.UnixMicro()
	d := us / microsPerDay
	if us < 0 && us%microsPerDay != 0 {
		d-- // floor, as PostgreSQL's legacy_key_day
	}
	return d
}

// KeyTally is every tenant's active keys by day of last use as the
// triggers keep them (day -1: never used), for the conformance suite's
// recount.
func (q *queries) KeyTally(ctx context.Context) (map[string]map[int64]int64, error) {
	out := map[string]map[int64]int64{}
	err := q.rows(ctx, "key tally", "", func(r scanner) error {
		var ten string
		var day, n int64
		if err := r.Scan(&ten, &day, &n); err != nil {
			return err
		}
		if out[ten] == nil {
			out[ten] = map[int64]int64{}
		}
		out[ten][day] = n
		return nil
	}, `SELECT tenant_id, day, n FROM legacy_key_tally WHERE n <> 0`)
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
	if err := t.tallyInserted(ctx, []store.LegacyKey{k}); err != nil {
		return err
	}
	t.markChanged()
	return nil
}

// tallyInserted adds newly inserted keys to legacy_key_tally on a backend
// whose schema leaves that to the store (Dialect.TallyInserts): one upsert
// per tenant and day of last use, in that order.
func (t *txn) tallyInserted(ctx context.Context, ks []store.LegacyKey) error {
	if !t.d.TallyInserts {
		return nil
	}
	type cell struct {
		tenant string
		day    int64
	}
	counts := map[cell]int64{}
	for _, k := range ks {
		if k.Status != store.StatusActive {
			continue
		}
		day := int64(-1)
		if k.LastUsedAt != nil {
			day = tallyDay(*k.LastUsedAt)
		}
		counts[cell{k.TenantID, day}]++
	}
	cells := slices.SortedFunc(maps.Keys(counts), func(a, b cell) int {
		if c := strings.Compare(a.tenant, b.tenant); c != 0 {
			return c
		}
		return cmp.Compare(a.day, b.day)
	})
	for _, c := range cells {
		if _, err := t.exec(ctx, "tally inserted keys", c.tenant,
			`INSERT INTO legacy_key_tally (tenant_id, day, n) VALUES ($1, $2, $3)
			 ON CONFLICT (tenant_id, day) DO UPDATE SET n = legacy_key_tally.n + EXCLUDED.n`, c.tenant, c.day, counts[c]); err != nil {
			return err
		}
	}
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
	switch {
	case t.d.RowByRowInserts:
		return t.createLegacyKeysRowByRow(ctx, ks)
	case t.d.ArrayInserts:
		return t.createLegacyKeysArrays(ctx, ks)
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
	if t.d.TallyInserts {
		byID := make(map[string]store.LegacyKey, len(ks))
		for _, k := range ks {
			if _, ok := byID[k.ID]; !ok {
				byID[k.ID] = k
			}
		}
		added := make([]store.LegacyKey, 0, len(inserted))
		for _, id := range inserted {
			added = append(added, byID[id])
		}
		if err := t.tallyInserted(ctx, added); err != nil {
			return nil, err
		}
	}
	if len(inserted) > 0 {
		t.markChanged()
		t.tx.keysAdded += int64(len(inserted))
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
	if err := t.raiseCache(ctx, op); err != nil {
		return nil, err
	}
	p, ok := t.c.(interface {
		PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
	})
	if !ok {
		return nil, fmt.Errorf("%s: %s: the connection cannot prepare statements", t.d.Name, op)
	}
	stmt, err := p.PrepareContext(ctx, t.d.bulkInsert(`INSERT INTO legacy_keys (`+legacyKeyCols+`) VALUES `, 1,
		legacyKeyColCount, ` ON CONFLICT DO NOTHING`))
	if err != nil {
		return nil, t.fail(ctx, err, op, "")
	}
	defer stmt.Close()
	inserted := make([]string, 0, len(ks))
	var added []store.LegacyKey
	for _, k := range ks {
		res, err := stmt.ExecContext(ctx, t.legacyKeyArgs(k)...)
		if err != nil {
			return nil, t.fail(ctx, err, op, k.ID)
		}
		if n, err := res.RowsAffected(); err != nil {
			return nil, t.fail(ctx, err, op, k.ID)
		} else if n == 1 {
			inserted = append(inserted, k.ID)
			if t.d.TallyInserts {
				added = append(added, k)
			}
		}
	}
	if err := t.tallyInserted(ctx, added); err != nil {
		return nil, err
	}
	if len(inserted) > 0 {
		t.markChanged()
		t.tx.keysAdded += int64(len(inserted))
	}
	return inserted, nil
}

// legacyKeysUnnest is CreateLegacyKeys for ArrayInserts: each column an
// array parameter, the rows their unnesting, in the arrays' order.
const legacyKeysUnnest = `INSERT INTO legacy_keys (` + legacyKeyCols + `)
	SELECT id, hash, tenant_id, owner_id, owner_ref, scopes::jsonb, label, environment, source, created_at,
	    expires_at, status, revoked_at, revoked_by, revoked_reason, rotated_from, last_used_at, use_count,
	    expiry_notice_at, updated_at, added_at
	FROM unnest($1::text[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
	    $9::text[], $10::timestamptz[], $11::timestamptz[], $12::text[], $13::timestamptz[], $14::text[], $15::text[],
	    $16::text[], $17::timestamptz[], $18::bigint[], $19::timestamptz[], $20::timestamptz[], $21::timestamptz[])
	    AS u(id, hash, tenant_id, owner_id, owner_ref, scopes, label, environment, source, created_at,
	    expires_at, status, revoked_at, revoked_by, revoked_reason, rotated_from, last_used_at, use_count,
	    expiry_notice_at, updated_at, added_at)
	ON CONFLICT DO NOTHING RETURNING id`

// createLegacyKeysArrays is CreateLegacyKeys for ArrayInserts: one
// statement for the whole batch.
func (t *txn) createLegacyKeysArrays(ctx context.Context, ks []store.LegacyKey) ([]string, error) {
	n := len(ks)
	var (
		ids, tenants, owners, refs, scopes, labels, envs, sources = make([]string, n), make([]string, n), make([]string, n),
			make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		statuses, revokedBy, revokedReason, rotatedFrom = make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		hashes                                          = make([][]byte, n)
		useCounts                                       = make([]int64, n)
		created, updated, added                         = make([]time.Time, n), make([]time.Time, n), make([]time.Time, n)
		expires, revoked, lastUsed, notice              = make([]*time.Time, n), make([]*time.Time, n), make([]*time.Time, n), make([]*time.Time, n)
	)
	utc := func(p *time.Time) *time.Time {
		if p == nil {
			return nil
		}
		u := p.UTC().Truncate(time.Microsecond)
		return &u
	}
	for i, k := range ks {
		ids[i], hashes[i], tenants[i], owners[i], refs[i] = k.ID, k.Hash, k.TenantID, k.OwnerID, k.OwnerRef
		scopes[i], labels[i], envs[i], sources[i] = mustJSON(k.Scopes), k.Label, k.Environment, k.Source
		created[i], expires[i], statuses[i], revoked[i] = k.CreatedAt.UTC().Truncate(time.Microsecond), utc(k.ExpiresAt), string(k.Status), utc(k.RevokedAt)
		revokedBy[i], revokedReason[i], rotatedFrom[i], lastUsed[i] = k.RevokedBy, k.RevokedReason, k.RotatedFrom, utc(k.LastUsedAt)
		useCounts[i], notice[i], updated[i] = k.UseCount, utc(k.ExpiryNoticeAt), k.UpdatedAt.UTC().Truncate(time.Microsecond)
		added[i] = addedAt(k).UTC().Truncate(time.Microsecond)
	}
	inserted := make([]string, 0, n)
	err := t.rows(ctx, "create legacy keys", "", func(r scanner) error {
		var id string
		if err := r.Scan(&id); err != nil {
			return err
		}
		inserted = append(inserted, id)
		return nil
	}, legacyKeysUnnest, ids, hashes, tenants, owners, refs, scopes, labels, envs, sources, created, expires, statuses,
		revoked, revokedBy, revokedReason, rotatedFrom, lastUsed, useCounts, notice, updated, added)
	if err != nil {
		return nil, err
	}
	if len(inserted) > 0 {
		t.markChanged()
		t.tx.keysAdded += int64(len(inserted))
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
	if t.d.ArrayInserts {
		return t.recordKeyUsageArrays(ctx, us)
	}
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

// recordKeyUsageArrays is RecordKeyUsage in two statements whatever the
// number of keys (PostgreSQL): the keys' rows locked in id order, as every
// writer does, then one UPDATE from arrays. legacy_key_tally's statement
// trigger then runs once per flush, and takes its rows in (tenant, day)
// order; an UPDATE per key ran it once per key, and took the tally's rows
// in the keys' order, which two flushes could interleave into a deadlock.
// us is sorted by key id.
func (t *txn) recordKeyUsageArrays(ctx context.Context, us []store.KeyUsage) error {
	var ids []string
	var counts []int64
	var lasts []time.Time
	for _, u := range us {
		at := u.LastUsedAt.UTC().Truncate(time.Microsecond)
		if n := len(ids); n > 0 && ids[n-1] == u.KeyID {
			counts[n-1] += u.Count
			if at.After(lasts[n-1]) {
				lasts[n-1] = at
			}
			continue
		}
		ids, counts, lasts = append(ids, u.KeyID), append(counts, u.Count), append(lasts, at)
	}
	if len(ids) == 0 {
		return nil
	}
	if _, err := t.exec(ctx, "record key usage", "", `SELECT 1 FROM legacy_keys WHERE id = ANY($1) ORDER BY id`+t.d.ForUpdate, ids); err != nil {
		return err
	}
	_, err := t.exec(ctx, "record key usage", "",
		`UPDATE legacy_keys k SET use_count = k.use_count + u.n,
		 last_used_at = CASE WHEN k.last_used_at IS NULL OR k.last_used_at < u.at THEN u.at ELSE k.last_used_at END
		 FROM unnest($1::text[], $2::bigint[], $3::timestamptz[]) AS u(id, n, at)
		 WHERE k.id = u.id`, ids, counts, lasts)
	return err
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

// raiseCache runs Dialect.BulkCache once in the transaction; inTx gives the
// cache back when the transaction ends (Store.releaseCache).
func (t *txn) raiseCache(ctx context.Context, op string) error {
	if t.d.BulkCache == "" || t.tx.bulkCache {
		return nil
	}
	t.tx.bulkCache = true
	if _, err := t.c.ExecContext(ctx, t.d.BulkCache); err != nil {
		return t.fail(ctx, err, op, "")
	}
	return nil
}
