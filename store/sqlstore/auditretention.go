package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authz/authz/store"
)

// AuditAnchor implements store.Queries.
func (q *queries) AuditAnchor(ctx context.Context) (store.AuditAnchor, error) {
	return q.auditAnchor(ctx, "")
}

// LockAuditAnchor implements store.Tx (SQLite: the transaction already
// holds the write lock).
func (t *txn) LockAuditAnchor(ctx context.Context) (store.AuditAnchor, error) {
	return t.auditAnchor(ctx, t.d.ForUpdate)
}

func (q *queries) auditAnchor(ctx context.Context, lock string) (store.AuditAnchor, error) {
	var a store.AuditAnchor
	var at, pruned timeCol
	err := q.row(ctx, "read audit anchor", "", func(r scanner) error {
		return r.Scan(&a.Seq, bytesCol{&a.Hash}, &at, &pruned)
	}, `SELECT seq, hash, time, pruned_at FROM audit_anchor WHERE id = 1`+lock)
	a.Time, a.PrunedAt = at.T, pruned.T
	return a, err
}

// SetAuditAnchor implements store.Tx: a conditional move, so that the
// anchor only ever goes forward.
func (t *txn) SetAuditAnchor(ctx context.Context, a store.AuditAnchor) error {
	if a.Seq <= 0 || len(a.Hash) == 0 {
		return fmt.Errorf("%s: set audit anchor: seq %d with a hash of %d bytes is no event", t.d.Name, a.Seq, len(a.Hash))
	}
	n, err := t.execN(ctx, "set audit anchor", "",
		`UPDATE audit_anchor SET seq = $1, hash = $2, time = $3, pruned_at = $4 WHERE id = 1 AND seq < $1`,
		a.Seq, a.Hash, t.d.encodeTime(a.Time), t.d.encodeTime(a.PrunedAt))
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: set audit anchor to seq %d: the anchor is already there or beyond: %w", t.d.Name, a.Seq, store.ErrConflict)
	}
	return nil
}

// AuditSegmentEnd implements store.Queries. The time index finds the
// latest event before until without reading the events after it.
func (q *queries) AuditSegmentEnd(ctx context.Context, after int64, until time.Time) (store.AuditEndpoint, error) {
	var e store.AuditEndpoint
	var at timeCol
	err := q.row(ctx, "find audit segment end", "", func(r scanner) error {
		return r.Scan(&e.Seq, bytesCol{&e.Hash}, &at)
	}, `SELECT seq, hash, time FROM audit_events WHERE seq > $1 AND time < $2 ORDER BY time DESC, seq DESC LIMIT 1`,
		after, q.d.encodeTime(until))
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return store.AuditEndpoint{}, nil
		}
		return store.AuditEndpoint{}, err
	}
	e.Time = at.T
	return e, nil
}

// PruneAudit implements store.AuditRetention: the events at or below the
// anchor go, batch rows per transaction. Between batches the writer
// connection is free, so token issuance's audit flushes interleave with
// the prune instead of waiting for it.
func (s *Store) PruneAudit(ctx context.Context, batch int) (store.AuditPruned, error) {
	var out store.AuditPruned
	if batch <= 0 {
		batch = 1000
	}
	a, err := s.AuditAnchor(ctx)
	if err != nil || a.Seq == 0 {
		return out, err
	}
	for {
		var n int64
		began := time.Now()
		err := s.inTx(ctx, func(t *txn) error {
			var err error
			n, err = t.execN(ctx, "prune audit events", "",
				`DELETE FROM audit_events WHERE `+t.d.inSet("seq",
					`SELECT seq FROM audit_events WHERE seq <= $1 ORDER BY seq LIMIT $2`), a.Seq, batch)
			return err
		})
		if err != nil {
			return out, err
		}
		out.Rows += n
		if n < int64(batch) {
			return out, nil
		}
		// Leave the writer (and the CPU) to issuance most of the time: a
		// prune runs for long but takes a quarter of either at most.
		select {
		case <-ctx.Done():
			return out, ctx.Err()
		case <-time.After(pruneIdle * time.Since(began)):
		}
	}
}

// pruneIdle is how much longer than each batch took PruneAudit waits
// before the next one: with 3 the prune holds the writer a quarter of
// the time. Measured in docs/benchmarks.md (audit retention).
const pruneIdle = 3

// PrepareAudit implements store.AuditRetention: nothing to prepare for a
// table that is not partitioned.
func (s *Store) PrepareAudit(context.Context, time.Time) error { return nil }

// TryLease implements store.AuditRetention with one statement: the row is
// inserted, or taken over when it expired or is already holder's.
func (s *Store) TryLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	var got string
	err := s.inTx(ctx, func(t *txn) error {
		return t.row(ctx, "take lease", name, func(r scanner) error { return r.Scan(&got) },
			`INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3)
			 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			 WHERE leases.holder = excluded.holder OR leases.expires_at <= $4
			 RETURNING holder`, name, holder, t.d.encodeTime(now.Add(ttl)), t.d.encodeTime(now))
	})
	if errors.Is(err, store.ErrNotFound) { // the row exists and is someone else's
		return false, nil
	}
	return err == nil && got == holder, err
}

// ReleaseLease implements store.AuditRetention.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	return s.inTx(ctx, func(t *txn) error {
		_, err := t.exec(ctx, "release lease", name, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder)
		return err
	})
}
