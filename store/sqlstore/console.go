package sqlstore

import (
	"context"
	"time"

	"github.com/authz/authz/store"
)

const consoleColumns = `hash, kind, principal_id, created_at, last_seen_at, expires_at, created_by`

func scanConsole(r scanner, s *store.ConsoleSession) error {
	var created, seen, expires timeCol
	if err := r.Scan(&s.Hash, &s.Kind, &s.PrincipalID, &created, &seen, &expires, &s.CreatedBy); err != nil {
		return err
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = created.T, seen.T, expires.T
	return nil
}

// GetConsoleSession implements store.Queries.
func (q *queries) GetConsoleSession(ctx context.Context, hash string) (store.ConsoleSession, error) {
	var s store.ConsoleSession
	err := q.row(ctx, "get console session", "", func(r scanner) error { return scanConsole(r, &s) },
		`SELECT `+consoleColumns+` FROM console_sessions WHERE hash = $1`, hash)
	return s, err
}

// CreateConsoleSession implements store.Mutations.
func (t *txn) CreateConsoleSession(ctx context.Context, s store.ConsoleSession) error {
	_, err := t.exec(ctx, "create console session", "",
		`INSERT INTO console_sessions (`+consoleColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		s.Hash, s.Kind, s.PrincipalID, t.d.encodeTime(s.CreatedAt), t.d.encodeTime(s.LastSeenAt), t.d.encodeTime(s.ExpiresAt), s.CreatedBy)
	return err
}

// ConsumeConsoleLink implements store.Mutations: DELETE ... RETURNING is
// one statement, so two concurrent uses of a link cannot both get it.
func (t *txn) ConsumeConsoleLink(ctx context.Context, hash string) (store.ConsoleSession, error) {
	var s store.ConsoleSession
	err := t.row(ctx, "consume console link", "", func(r scanner) error { return scanConsole(r, &s) },
		`DELETE FROM console_sessions WHERE hash = $1 AND kind = $2 RETURNING `+consoleColumns, hash, store.ConsoleLink)
	return s, err
}

// TouchConsoleSession implements store.Mutations.
func (t *txn) TouchConsoleSession(ctx context.Context, hash string, at time.Time) error {
	_, err := t.exec(ctx, "touch console session", "",
		`UPDATE console_sessions SET last_seen_at = $2 WHERE hash = $1 AND last_seen_at < $2`, hash, t.d.encodeTime(at))
	return err
}

// DeleteConsoleSession implements store.Mutations.
func (t *txn) DeleteConsoleSession(ctx context.Context, hash string) error {
	_, err := t.exec(ctx, "delete console session", "", `DELETE FROM console_sessions WHERE hash = $1`, hash)
	return err
}

// CreateConsoleSession implements store.Mutations in a transaction of its own.
func (s *Store) CreateConsoleSession(ctx context.Context, cs store.ConsoleSession) error {
	return s.inTx(ctx, func(x *txn) error { return x.CreateConsoleSession(ctx, cs) })
}

// ConsumeConsoleLink implements store.Mutations in a transaction of its own.
func (s *Store) ConsumeConsoleLink(ctx context.Context, hash string) (store.ConsoleSession, error) {
	return do(ctx, s, func(x *txn) (store.ConsoleSession, error) { return x.ConsumeConsoleLink(ctx, hash) })
}

// TouchConsoleSession implements store.Mutations in a transaction of its own.
func (s *Store) TouchConsoleSession(ctx context.Context, hash string, at time.Time) error {
	return s.inTx(ctx, func(x *txn) error { return x.TouchConsoleSession(ctx, hash, at) })
}

// DeleteConsoleSession implements store.Mutations in a transaction of its own.
func (s *Store) DeleteConsoleSession(ctx context.Context, hash string) error {
	return s.inTx(ctx, func(x *txn) error { return x.DeleteConsoleSession(ctx, hash) })
}
