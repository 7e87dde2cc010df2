package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/authz/authz/store"
)

// ListExpiringKeys implements store.Queries through legacy_keys_expiry:
// it reads the keys in the window and no others, however many keys there
// are.
func (q *queries) ListExpiringKeys(ctx context.Context, tenantID string, from, to time.Time, p store.Page) ([]store.LegacyKey, string, error) {
	var w where
	w.add("status = 'active'")
	w.add("expires_at > ?", q.d.encodeTime(from))
	w.add("expires_at < ?", q.d.encodeTime(to))
	if tenantID != "" {
		// Not indexable on purpose: with tenant_id = ? the planner
		// walks legacy_keys_usage through every active key of the tenant
		// (3.5 s at a million on SQLite) instead of the expiry window.
		w.add("tenant_id || '' = ?", tenantID)
	}
	if p.After != "" {
		at, id, ok := parseExpiryCursor(p.After)
		if !ok {
			return nil, "", fmt.Errorf("%s: list expiring keys: malformed cursor %q", q.d.Name, p.After)
		}
		t := w.arg(q.d.encodeTime(at))
		w.add("(expires_at > "+t+" OR (expires_at = "+t+" AND id > ?))", id)
	}
	limit := limitOf(p)
	var out []store.LegacyKey
	err := q.rows(ctx, "list expiring keys", tenantID, func(r scanner) error {
		var k store.LegacyKey
		if err := scanLegacyKey(r, &k); err != nil {
			return err
		}
		out = append(out, k)
		return nil
	}, `SELECT `+legacyKeyCols+` FROM legacy_keys`+w.sql()+` ORDER BY expires_at, id LIMIT `+w.arg(limit+1), w.args...)
	if err != nil {
		return nil, "", err
	}
	out, next := pageOf(out, limit, func(k store.LegacyKey) string {
		return strconv.FormatInt(k.ExpiresAt.UnixMicro(), 10) + "." + k.ID
	})
	return out, next, nil
}

// parseExpiryCursor reads "<expiry in Unix µs>.<key id>".
func parseExpiryCursor(s string) (time.Time, string, bool) {
	us, id, ok := strings.Cut(s, ".")
	n, err := strconv.ParseInt(us, 10, 64)
	if !ok || err != nil || id == "" {
		return time.Time{}, "", false
	}
	return time.UnixMicro(n).UTC(), id, true
}

// ListMigrationHistory implements store.Queries.
func (q *queries) ListMigrationHistory(ctx context.Context, tenantID string, since time.Time) ([]store.MigrationDay, error) {
	var w where
	w.add("day >= ?", q.d.encodeTime(since))
	w.eq("tenant_id", tenantID)
	var out []store.MigrationDay
	err := q.rows(ctx, "list migration history", tenantID, func(r scanner) error {
		var d store.MigrationDay
		var day, updated timeCol
		if err := r.Scan(&d.TenantID, &day, jsonCol{&d.Counts}, &d.ActiveKeys, &updated); err != nil {
			return err
		}
		d.Day, d.UpdatedAt = day.T, updated.T
		out = append(out, d)
		return nil
	}, `SELECT tenant_id, day, counts, active_keys, updated_at FROM migration_history`+w.sql()+` ORDER BY day, tenant_id`, w.args...)
	return out, err
}

// PutMigrationDays implements store.Mutations.
func (t *txn) PutMigrationDays(ctx context.Context, days []store.MigrationDay) error {
	for _, d := range days {
		counts, err := json.Marshal(d.Counts)
		if err != nil {
			return fmt.Errorf("%s: encode migration counts: %w", t.d.Name, err)
		}
		if _, err := t.exec(ctx, "put migration day", d.TenantID,
			`INSERT INTO migration_history (tenant_id, day, counts, active_keys, updated_at) VALUES ($1, $2, $3, $4, $5)
			 ON CONFLICT (tenant_id, day) DO UPDATE SET counts = excluded.counts, active_keys = excluded.active_keys,
			 updated_at = excluded.updated_at`,
			d.TenantID, t.d.encodeTime(d.Day), string(counts), d.ActiveKeys, t.d.encodeTime(d.UpdatedAt)); err != nil {
			return err
		}
	}
	return nil
}

// PruneMigrationHistory implements store.Mutations.
func (t *txn) PruneMigrationHistory(ctx context.Context, before time.Time) (int64, error) {
	return t.execN(ctx, "prune migration history", "", `DELETE FROM migration_history WHERE day < $1`, t.d.encodeTime(before))
}

// PutMigrationDays implements store.Mutations in a transaction of its own.
func (s *Store) PutMigrationDays(ctx context.Context, days []store.MigrationDay) error {
	return s.inTx(ctx, func(x *txn) error { return x.PutMigrationDays(ctx, days) })
}

// PruneMigrationHistory implements store.Mutations in a transaction of its own.
func (s *Store) PruneMigrationHistory(ctx context.Context, before time.Time) (int64, error) {
	return do(ctx, s, func(x *txn) (int64, error) { return x.PruneMigrationHistory(ctx, before) })
}
