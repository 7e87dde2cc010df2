package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authz/authz/store"
)

// Status-list indices. A credential holds at most one current entry
// (invalidated_at NULL, enforced by a partial unique index). Allocation
// takes the smallest index in status_free, where purged indices go, or else
// the next never-used one from the status_alloc counter: both O(log n),
// however large the list grows.

// GetStatusIndex implements store.Queries.
func (q *queries) GetStatusIndex(ctx context.Context, credential string) (int64, error) {
	var idx int64
	err := q.row(ctx, "get status index", credential, func(r scanner) error { return r.Scan(&idx) },
		`SELECT idx FROM status_entries WHERE credential = $1 AND invalidated_at IS NULL`, credential)
	return idx, err
}

// statusEntryCols and statusEntryJoins read an entry with the state of its
// credential's chain; scanStatusEntry reads one row of them.
const (
	statusEntryCols  = `e.idx, e.credential, e.invalidated_at, COALESCE(c.status, k.status), k.expires_at, p.status, t.status`
	statusEntryJoins = `FROM status_entries e
	    LEFT JOIN clients c ON e.kind = 'client' AND c.id = e.ref
	    LEFT JOIN legacy_keys k ON e.kind = 'key' AND k.id = e.ref
	    LEFT JOIN principals p ON p.id = COALESCE(c.owner_id, k.owner_id)
	    LEFT JOIN tenants t ON t.id = COALESCE(c.tenant_id, k.tenant_id)`
)

func scanStatusEntry(r scanner) (store.StatusEntry, error) {
	var e store.StatusEntry
	var invalidated, expires timeCol
	var cred, owner, tenant nullString
	if err := r.Scan(&e.Idx, &e.Credential, &invalidated, &cred, &expires, &owner, &tenant); err != nil {
		return e, err
	}
	e.InvalidatedAt, e.CredentialExpiresAt = invalidated.ptr(), expires.ptr()
	e.CredentialStatus, e.OwnerStatus, e.TenantStatus = store.Status(cred), store.Status(owner), store.Status(tenant)
	return e, nil
}

// ListStatusEntries implements store.Queries. limit <= 0 means
// store.DefaultLimit; it is not capped, so that a status list can be built
// in few round trips.
func (q *queries) ListStatusEntries(ctx context.Context, afterIdx int64, limit int) ([]store.StatusEntry, error) {
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	var out []store.StatusEntry
	err := q.rows(ctx, "list status entries", "", func(r scanner) error {
		e, err := scanStatusEntry(r)
		out = append(out, e)
		return err
	}, `SELECT `+statusEntryCols+` `+statusEntryJoins+`
	    WHERE e.idx > $1 ORDER BY e.idx LIMIT $2`, afterIdx, limit)
	return out, err
}

// statusExceptionsQuery finds the status exceptions (see
// store.Queries.ListStatusExceptions) from the small sets of objects that
// are not active, each through an index (migration 00002), then reads them
// like ListStatusEntries. $1 is now, $2 since. Branches that would grow for ever (revoked keys, expired keys,
// deleted principals) are bounded by since; suspensions are reversible and
// so are always read. The two %s are Dialect.InSet for the credentials and
// for the candidate indices.
//
// The plan matters more than the text: a build must cost in proportion to
// the candidates, never to the entries. SQLite has no statistics here and
// would start from every key: the small sets are MATERIALIZED and come
// first in CROSS JOINs, which SQLite keeps in the order written.
// PostgreSQL, from its statistics, can expect a suspended tenant to hold
// every key and would then hash every entry; InSet hides the sets' sizes
// from it, so that it looks each candidate up by index.
const statusExceptionsQuery = `WITH
	  owners (id) AS MATERIALIZED (
	    SELECT id FROM principals WHERE status = 'suspended'
	    UNION ALL SELECT id FROM principals WHERE status = 'deleted' AND status_changed_at >= $2),
	  tenants_off (id) AS MATERIALIZED (SELECT id FROM tenants WHERE status <> 'active'),
	  creds (credential) AS (
	    SELECT 'client:' || id FROM clients WHERE status <> 'active'
	    UNION ALL SELECT 'key:' || id FROM legacy_keys WHERE status = 'revoked' AND revoked_at >= $2
	    UNION ALL SELECT 'key:' || id FROM legacy_keys WHERE expires_at <= $1 AND expires_at >= $2
	    UNION ALL SELECT 'key:' || k.id FROM owners o CROSS JOIN legacy_keys k WHERE k.owner_id = o.id
	    UNION ALL SELECT 'client:' || c.id FROM owners o CROSS JOIN clients c WHERE c.owner_id = o.id
	    UNION ALL SELECT 'key:' || k.id FROM tenants_off x CROSS JOIN legacy_keys k WHERE k.tenant_id = x.id
	    UNION ALL SELECT 'client:' || c.id FROM tenants_off x CROSS JOIN clients c WHERE c.tenant_id = x.id),
	  cand (idx) AS (
	    SELECT idx FROM status_entries WHERE invalidated_at IS NOT NULL
	    UNION ALL SELECT idx FROM status_entries WHERE invalidated_at IS NULL AND %s)
	SELECT ` + statusEntryCols + ` ` + statusEntryJoins + `
	WHERE %s ORDER BY e.idx`

// ListStatusExceptions implements store.Queries.
func (q *queries) ListStatusExceptions(ctx context.Context, now, since, horizon time.Time, each func(store.StatusEntry) error) (store.StatusExtent, error) {
	x := store.StatusExtent{Top: -1}
	last := int64(-1)
	var stopped error // each's, returned as it is
	err := q.rows(ctx, "list status exceptions", "", func(r scanner) error {
		e, err := scanStatusEntry(r)
		if err != nil {
			return err
		}
		last = e.Idx
		stopped = each(e)
		return stopped
	}, fmt.Sprintf(statusExceptionsQuery, q.d.inSet("credential", "SELECT credential FROM creds"), q.d.inSet("e.idx", "SELECT idx FROM cand")),
		q.d.encodeTime(now), q.d.encodeTime(since))
	if stopped != nil {
		return x, stopped
	}
	if err != nil {
		return x, err
	}
	var top sql.NullInt64
	// Every index below next_idx is allocated but those freed by purges.
	if err := q.row(ctx, "measure status list", "", func(r scanner) error { return r.Scan(&top, &x.Count) },
		`SELECT (SELECT MAX(idx) FROM status_entries),
		        (SELECT next_idx FROM status_alloc WHERE id = 1) - (SELECT COUNT(*) FROM status_free)`); err != nil {
		return x, err
	}
	if top.Valid {
		x.Top = top.Int64
	}
	// Read apart, an entry allocated meanwhile may be above top.
	x.Top = max(x.Top, last)
	var next timeCol
	err = q.row(ctx, "next key expiry", "", func(r scanner) error { return r.Scan(&next) },
		`SELECT k.expires_at FROM legacy_keys k
		 WHERE k.expires_at > $1 AND k.expires_at <= $2 AND EXISTS (
		   SELECT 1 FROM status_entries s WHERE s.credential = 'key:' || k.id AND s.invalidated_at IS NULL)
		 ORDER BY k.expires_at LIMIT 1`, q.d.encodeTime(now), q.d.encodeTime(horizon))
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return x, err
	}
	x.NextExpiry = next.ptr()
	return x, nil
}

// lockStatus serialises allocation and purge across processes.
func (t *txn) lockStatus(ctx context.Context) error {
	if t.d.LockStatusIndex == "" {
		return nil
	}
	_, err := t.exec(ctx, "lock status list", "", t.d.LockStatusIndex)
	return err
}

// The statements of an allocation. On SQLite they are prepared once per
// process (prepared_tx.go): a first use of a credential runs them all, and
// parsing them was a third of an allocation's CPU.
const (
	sqlStatusCurrent  = `SELECT idx FROM status_entries WHERE credential = $1 AND invalidated_at IS NULL`
	sqlStatusFree     = `SELECT idx FROM status_free ORDER BY idx LIMIT $1`
	sqlStatusTakeFree = `DELETE FROM status_free WHERE idx <= $1`
	sqlStatusBump     = `UPDATE status_alloc SET next_idx = next_idx + $1 WHERE id = 1 RETURNING next_idx - $1`
	sqlStatusInsert1  = `INSERT INTO status_entries (idx, credential, kind, ref, allocated_at) VALUES ($1, $2, $3, $4, $5)`
	// The same for ArrayInserts (PostgreSQL): a batch in one statement
	// each instead of a round trip per credential.
	sqlStatusCurrentAny = `SELECT credential, idx FROM status_entries WHERE credential = ANY($1::text[]) AND invalidated_at IS NULL`
	sqlStatusInsertAny  = `INSERT INTO status_entries (idx, credential, kind, ref, allocated_at)
	    SELECT i, c, k, r, $5 FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u(i, c, k, r)`
)

// AllocateStatusIndex implements store.Mutations.
func (t *txn) AllocateStatusIndex(ctx context.Context, credential string, now time.Time) (int64, error) {
	idx, err := t.AllocateStatusIndexes(ctx, []string{credential}, now)
	if err != nil {
		return 0, err
	}
	return idx[0], nil
}

// AllocateStatusIndexes implements store.Mutations: under the status
// lock, the current indices of the credentials, then one free-list read
// and one counter move for all those that have none, then their entries.
func (t *txn) AllocateStatusIndexes(ctx context.Context, credentials []string, now time.Time) ([]int64, error) {
	if len(credentials) == 0 {
		return nil, nil
	}
	for _, c := range credentials {
		if kind, ref, ok := strings.Cut(c, ":"); !ok || kind == "" || ref == "" {
			return nil, fmt.Errorf("%s: allocate status index: credential %q is not \"client:<id>\" or \"key:<id>\"", t.d.Name, c)
		}
	}
	if err := t.lockStatus(ctx); err != nil {
		return nil, err
	}
	distinct := make([]string, 0, len(credentials))
	seen := make(map[string]bool, len(credentials))
	for _, c := range credentials {
		if !seen[c] {
			seen[c] = true
			distinct = append(distinct, c)
		}
	}
	current, err := t.currentStatusIndices(ctx, distinct)
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, c := range distinct {
		if _, ok := current[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		idx, err := t.takeStatusIndices(ctx, len(missing))
		if err != nil {
			return nil, err
		}
		if err := t.insertStatusEntries(ctx, missing, idx, now); err != nil {
			return nil, err
		}
		for i, c := range missing {
			current[c] = idx[i]
		}
	}
	out := make([]int64, len(credentials))
	for i, c := range credentials {
		out[i] = current[c]
	}
	return out, nil
}

// currentStatusIndices returns the current index of each credential that
// has one.
func (t *txn) currentStatusIndices(ctx context.Context, credentials []string) (map[string]int64, error) {
	current := make(map[string]int64, len(credentials))
	if t.d.ArrayInserts {
		err := t.rows(ctx, "get status indices", "", func(r scanner) error {
			var c string
			var idx int64
			if err := r.Scan(&c, &idx); err != nil {
				return err
			}
			current[c] = idx
			return nil
		}, sqlStatusCurrentAny, credentials)
		return current, err
	}
	for _, c := range credentials {
		var idx int64
		err := t.row(ctx, "get status index", c, func(r scanner) error { return r.Scan(&idx) }, sqlStatusCurrent, c)
		switch {
		case err == nil:
			current[c] = idx
		case !errors.Is(err, store.ErrNotFound):
			return nil, err
		}
	}
	return current, nil
}

// takeStatusIndices takes n indices: the smallest free ones (purged), then
// never-used ones from the counter. The status lock is held, so the
// smallest free indices are exactly those up to the largest one read.
func (t *txn) takeStatusIndices(ctx context.Context, n int) ([]int64, error) {
	out := make([]int64, 0, n)
	err := t.rows(ctx, "find free status indices", "", func(r scanner) error {
		var idx int64
		err := r.Scan(&idx)
		out = append(out, idx)
		return err
	}, sqlStatusFree, n)
	if err != nil {
		return nil, err
	}
	if len(out) > 0 {
		if _, err := t.exec(ctx, "take free status indices", "", sqlStatusTakeFree, out[len(out)-1]); err != nil {
			return nil, err
		}
	}
	if rest := n - len(out); rest > 0 {
		var first int64
		if err := t.row(ctx, "allocate status indices", "", func(r scanner) error { return r.Scan(&first) },
			sqlStatusBump, rest); err != nil {
			return nil, err
		}
		for i := range int64(rest) {
			out = append(out, first+i)
		}
	}
	return out, nil
}

// insertStatusEntries records credentials[i] at idx[i].
func (t *txn) insertStatusEntries(ctx context.Context, credentials []string, idx []int64, now time.Time) error {
	at := t.d.encodeTime(now)
	if t.d.ArrayInserts {
		kinds, refs := make([]string, len(credentials)), make([]string, len(credentials))
		for i, c := range credentials {
			kinds[i], refs[i], _ = strings.Cut(c, ":")
		}
		_, err := t.exec(ctx, "record status indices", "", sqlStatusInsertAny, idx, credentials, kinds, refs, at)
		return err
	}
	for i, c := range credentials {
		kind, ref, _ := strings.Cut(c, ":")
		if _, err := t.exec(ctx, "record status index", c, sqlStatusInsert1, idx[i], c, kind, ref, at); err != nil {
			return err
		}
	}
	return nil
}

// InvalidateStatusIndex implements store.Mutations.
func (t *txn) InvalidateStatusIndex(ctx context.Context, credential string, at time.Time) error {
	n, err := t.execN(ctx, "invalidate status index", credential,
		`UPDATE status_entries SET invalidated_at = $2 WHERE credential = $1 AND invalidated_at IS NULL`,
		credential, t.d.encodeTime(at))
	if n > 0 {
		// Caches of the credential's index, and the published list, must
		// learn of it at once: it is what RFC 7009 revocation changes.
		t.markChanged()
	}
	return err
}

// PurgeStatusEntries implements store.Mutations.
func (t *txn) PurgeStatusEntries(ctx context.Context, invalidatedBefore time.Time) (int64, error) {
	if err := t.lockStatus(ctx); err != nil {
		return 0, err
	}
	before := t.d.encodeTime(invalidatedBefore)
	if _, err := t.exec(ctx, "free status indices", "",
		`INSERT INTO status_free (idx) SELECT idx FROM status_entries WHERE invalidated_at < $1`, before); err != nil {
		return 0, err
	}
	return t.execN(ctx, "purge status entries", "", `DELETE FROM status_entries WHERE invalidated_at < $1`, before)
}
