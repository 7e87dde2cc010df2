package sqlstore

import (
	"context"
	"time"

	"github.com/authz/authz/store"
)

// CountAuthFailures implements store.Mutations in a transaction of its own.
func (s *Store) CountAuthFailures(ctx context.Context, fs []store.AuthFailure, now time.Time, window time.Duration) ([]store.AuthFailure, error) {
	return do(ctx, s, func(x *txn) ([]store.AuthFailure, error) { return x.CountAuthFailures(ctx, fs, now, window) })
}

// ClearAuthFailures implements store.Mutations in a transaction of its own.
func (s *Store) ClearAuthFailures(ctx context.Context, key string, now time.Time) error {
	return s.inTx(ctx, func(x *txn) error { return x.ClearAuthFailures(ctx, key, now) })
}

// CountAuthFailures implements store.Mutations: per counter, an insert
// that makes sure the row exists, then a locked read-modify-write, so that
// concurrent failures on any replica are each counted once.
func (t *txn) CountAuthFailures(ctx context.Context, fs []store.AuthFailure, now time.Time, window time.Duration) ([]store.AuthFailure, error) {
	now = now.UTC().Truncate(time.Microsecond)
	out := make([]store.AuthFailure, 0, len(fs))
	for _, f := range fs {
		if _, err := t.exec(ctx, "count auth failure", f.Key,
			`INSERT INTO auth_failures (key, count, window_start, expires_at) VALUES ($1, 0, $2, $3) ON CONFLICT DO NOTHING`,
			f.Key, t.d.encodeTime(now), t.d.encodeTime(now.Add(window))); err != nil {
			return nil, err
		}
		var start, lockedAt, lockedUntil timeCol
		if err := t.row(ctx, "count auth failure", f.Key, func(r scanner) error {
			return r.Scan(&f.Count, &start, &lockedAt, &lockedUntil)
		}, `SELECT count, window_start, locked_at, locked_until FROM auth_failures WHERE key = $1`+t.d.ForUpdate, f.Key); err != nil {
			return nil, err
		}
		f.WindowStart, f.LockedAt, f.LockedUntil = start.T, lockedAt.T, lockedUntil.T
		f.Reached = false
		if !now.Before(f.LockedUntil) {
			if now.Sub(f.WindowStart) > window {
				f.Count, f.WindowStart = 0, now
			}
			f.Count++
			if f.Threshold > 0 && f.Count >= f.Threshold {
				f.Count, f.WindowStart, f.Reached = 0, now, true
				if f.LockFor > 0 {
					f.LockedAt, f.LockedUntil = now, now.Add(f.LockFor)
				}
			}
		}
		expires := f.WindowStart.Add(window)
		if f.LockedUntil.After(expires) {
			expires = f.LockedUntil
		}
		if _, err := t.exec(ctx, "count auth failure", f.Key,
			`UPDATE auth_failures SET count = $2, window_start = $3, locked_at = $4, locked_until = $5, expires_at = $6 WHERE key = $1`,
			f.Key, f.Count, t.d.encodeTime(f.WindowStart), t.d.encodeNullTime(nonZero(f.LockedAt)), t.d.encodeNullTime(nonZero(f.LockedUntil)),
			t.d.encodeTime(expires)); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// ClearAuthFailures implements store.Mutations.
func (t *txn) ClearAuthFailures(ctx context.Context, key string, now time.Time) error {
	_, err := t.exec(ctx, "clear auth failures", key,
		`DELETE FROM auth_failures WHERE key = $1 AND (locked_until IS NULL OR locked_until <= $2)`, key, t.d.encodeTime(now))
	return err
}

// ListAuthLocks implements store.Queries.
func (q *queries) ListAuthLocks(ctx context.Context, lockedSince, now time.Time) ([]store.AuthFailure, error) {
	var out []store.AuthFailure
	err := q.rows(ctx, "list auth locks", "", func(r scanner) error {
		var f store.AuthFailure
		var start, lockedAt, lockedUntil timeCol
		if err := r.Scan(&f.Key, &f.Count, &start, &lockedAt, &lockedUntil); err != nil {
			return err
		}
		f.WindowStart, f.LockedAt, f.LockedUntil = start.T, lockedAt.T, lockedUntil.T
		out = append(out, f)
		return nil
	}, `SELECT key, count, window_start, locked_at, locked_until FROM auth_failures
		WHERE locked_at IS NOT NULL AND locked_at >= $1 AND locked_until > $2 ORDER BY locked_at, key`,
		q.d.encodeTime(lockedSince), q.d.encodeTime(now))
	return out, err
}

func nonZero(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
