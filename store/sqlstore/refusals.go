package sqlstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/authz/authz/store"
)

// ListRefusalCounts implements store.RefusalQueries. Across every tenant
// the rows are summed per hour and error_code, so that the answer stays
// within hours × codes whatever the number of tenants.
func (q *queries) ListRefusalCounts(ctx context.Context, f store.RefusalFilter) ([]store.RefusalCount, error) {
	since := q.d.encodeTime(f.Since.UTC().Truncate(time.Hour))
	query := `SELECT hour, error_code, CAST(SUM(n) AS BIGINT) FROM refusal_counts WHERE hour >= $1
	          GROUP BY hour, error_code ORDER BY hour, error_code`
	args := []any{since}
	tenant := ""
	if !f.AllTenants {
		tenant = f.TenantID
		query = `SELECT hour, error_code, n FROM refusal_counts WHERE hour >= $1 AND tenant_id = $2
		         ORDER BY hour, error_code`
		args = append(args, tenant)
	}
	var out []store.RefusalCount
	err := q.rows(ctx, "list refusal counts", tenant, func(r scanner) error {
		c := store.RefusalCount{TenantID: tenant}
		var hour timeCol
		if err := r.Scan(&hour, &c.ErrorCode, &c.N); err != nil {
			return err
		}
		c.Hour = hour.T
		out = append(out, c)
		return nil
	}, query, args...)
	return out, err
}

// RecordRefusals implements store.RefusalMutations. Like RecordHourlyUse it
// does not move Generation.
func (t *txn) RecordRefusals(ctx context.Context, cs []store.RefusalCount) error {
	// One order for every writer, so that two replicas' flushes never
	// deadlock on each other's rows.
	cs = slices.Clone(cs)
	for i := range cs {
		cs[i].Hour = cs[i].Hour.UTC().Truncate(time.Hour)
	}
	slices.SortFunc(cs, func(a, b store.RefusalCount) int {
		if c := strings.Compare(a.TenantID, b.TenantID); c != 0 {
			return c
		}
		if c := a.Hour.Compare(b.Hour); c != 0 {
			return c
		}
		return strings.Compare(a.ErrorCode, b.ErrorCode)
	})
	for _, c := range cs {
		if c.N <= 0 {
			continue
		}
		if _, err := t.exec(ctx, "record refusals", c.TenantID,
			`INSERT INTO refusal_counts (tenant_id, hour, error_code, n) VALUES ($1, $2, $3, $4)
			 ON CONFLICT (tenant_id, hour, error_code) DO UPDATE SET n = refusal_counts.n + excluded.n`,
			c.TenantID, t.d.encodeTime(c.Hour), c.ErrorCode, c.N); err != nil {
			return err
		}
	}
	return nil
}

// RecordRefusals implements store.RefusalMutations in a transaction of its own.
func (s *Store) RecordRefusals(ctx context.Context, cs []store.RefusalCount) error {
	return s.inTx(ctx, func(x *txn) error { return x.RecordRefusals(ctx, cs) })
}
