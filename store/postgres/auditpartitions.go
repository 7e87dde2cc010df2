package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/authz/authz/store"
)

// audit_events is partitioned by day of time (migration 00012). Partition
// names carry their bounds, so that pruning reads them from the catalogue
// without parsing partition expressions:
//
//	audit_events_pYYYYMMDD        [that day 00:00 UTC, the next day)
//	audit_events_before_YYYYMMDD  (everything, that day 00:00 UTC): the
//	                              table as it was before partitioning
//	audit_events_default          what no other partition takes
const (
	partitionDay    = "audit_events_p"
	partitionBefore = "audit_events_before_"
	dayLayout       = "20060102"
)

// PartitionsAhead is how many days after today PrepareAudit makes
// partitions for. The server calls it hourly; a week leaves room for a
// fleet that stops preparing for a few days (events then land in the
// default partition and are pruned row by row).
const PartitionsAhead = 7

// ddlLockTimeout bounds how long creating or dropping a partition waits
// for the exclusive lock on audit_events: while it waits, appends queue
// behind it, so it gives up early and tries again at the next run.
const ddlLockTimeout = "1s"

// PrepareAudit implements store.AuditRetention: the partitions of today and
// the PartitionsAhead days after exist once it returns (unless a lock or
// an overlapping partition stood in the way; see createPartition).
func (s *Store) PrepareAudit(ctx context.Context, now time.Time) error {
	day := now.UTC().Truncate(24 * time.Hour)
	var errs []error
	for i := range PartitionsAhead + 1 {
		if err := s.createPartition(ctx, day.AddDate(0, 0, i)); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// createPartition creates the partition of one day unless it exists. A
// day that an older partition already covers (the one attached by the
// migration) is not an error; nor is a concurrent creation by another
// replica.
func (s *Store) createPartition(ctx context.Context, day time.Time) error {
	name := partitionDay + day.Format(dayLayout)
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&exists); err != nil {
		return fmt.Errorf("postgres: look up audit partition %s: %w", name, err)
	}
	if exists {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+ddlLockTimeout+`'`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF audit_events FOR VALUES FROM ('%s') TO ('%s')`,
			pgx.Identifier{name}.Sanitize(), day.Format(time.RFC3339), day.AddDate(0, 0, 1).Format(time.RFC3339)))
		return err
	})
	var pe *pgconn.PgError
	switch {
	case err == nil:
		s.log.InfoContext(ctx, "created audit partition", "partition", name)
		return nil
	case errors.As(err, &pe) && pe.Code == "42P17": // overlaps a partition (the migrated table's)
		return nil
	case errors.As(err, &pe) && (pe.Code == "42P07" || pe.Code == "23505"): // created meanwhile
		return nil
	case errors.As(err, &pe) && pe.Code == "23514":
		return fmt.Errorf("postgres: audit partition %s: the default partition already holds events of that day; they stay there and are pruned row by row: %s", name, pe.Message)
	default:
		return fmt.Errorf("postgres: create audit partition %s: %w", name, err)
	}
}

// PruneAudit implements store.AuditRetention: partitions wholly below the
// anchor are dropped, then the rows below the anchor that are left (in the
// partition the anchor falls in, in the default partition, or in a
// partition whose drop timed out) are deleted in batches.
func (s *Store) PruneAudit(ctx context.Context, batch int) (store.AuditPruned, error) {
	a, err := s.AuditAnchor(ctx)
	if err != nil || a.Seq == 0 {
		return store.AuditPruned{}, err
	}
	dropped, dropErr := s.dropPartitions(ctx, a)
	out, err := s.Store.PruneAudit(ctx, batch)
	out.Partitions = dropped
	return out, errors.Join(dropErr, err)
}

// dropPartitions drops the partitions that lie wholly in the past and
// hold no event above the anchor. The seq bound is what makes a drop
// safe: every row of the partition is at or below the anchor, so the
// drop deletes exactly what the batched delete would. The time bound
// keeps today's partition and the empty ones made ahead of time (an
// empty partition holds nothing above the anchor either). An event
// stamped in a dropped day and written later (a late writer, a clock far
// behind) lands in the default partition.
func (s *Store) dropPartitions(ctx context.Context, a store.AuditAnchor) (int, error) {
	now := time.Now()
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'audit_events'::regclass ORDER BY c.relname`)
	if err != nil {
		return 0, fmt.Errorf("postgres: list audit partitions: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("postgres: list audit partitions: %w", err)
	}
	var candidates []string
	for _, name := range names {
		if end, ok := partitionEnd(name); ok && !end.After(now) {
			candidates = append(candidates, name)
		}
	}
	if len(candidates) == 0 {
		return 0, nil
	}
	// One transaction for every drop: appends wait once, for one commit,
	// not once per day.
	var gone []string
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '`+ddlLockTimeout+`'`); err != nil {
			return err
		}
		// Nothing can be added to a partition between the check below and
		// its drop: the parent is locked first.
		if _, err := tx.Exec(ctx, `LOCK TABLE audit_events IN ACCESS EXCLUSIVE MODE`); err != nil {
			return err
		}
		for _, name := range candidates {
			ident := pgx.Identifier{name}.Sanitize()
			var above bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+ident+` WHERE seq > $1)`, a.Seq).Scan(&above); err != nil {
				return err
			}
			if above {
				continue
			}
			if _, err := tx.Exec(ctx, `DROP TABLE `+ident); err != nil {
				return err
			}
			gone = append(gone, name)
		}
		return nil
	})
	var pe *pgconn.PgError
	switch {
	case err == nil:
		if len(gone) > 0 {
			s.log.InfoContext(ctx, "dropped audit partitions", "partitions", gone, "anchor_seq", a.Seq)
		}
		return len(gone), nil
	case errors.As(err, &pe) && pe.Code == "55P03": // lock_not_available: appends were busy
		s.log.InfoContext(ctx, "audit partitions not dropped this time: the table's lock was busy; their rows are deleted instead", "partitions", candidates)
		return 0, nil
	default:
		return 0, fmt.Errorf("postgres: drop audit partitions %v: %w", candidates, err)
	}
}

// partitionEnd reads a partition's upper bound from its name.
func partitionEnd(name string) (time.Time, bool) {
	var day string
	var next int
	switch {
	case strings.HasPrefix(name, partitionDay):
		day, next = strings.TrimPrefix(name, partitionDay), 1
	case strings.HasPrefix(name, partitionBefore):
		day = strings.TrimPrefix(name, partitionBefore)
	default:
		return time.Time{}, false
	}
	t, err := time.Parse(dayLayout, day)
	if err != nil {
		return time.Time{}, false
	}
	return t.AddDate(0, 0, next), true
}
