package sqlstore

import (
	"context"
	"fmt"
	"time"

	"github.com/authz/authz/store"
)

// deliveredRetention is how long delivered webhooks are kept for
// inspection before PurgeExpired removes them.
const deliveredRetention = 7 * 24 * time.Hour

// abandonedRetention: a webhook still undelivered this long after it was
// queued was given up by the notifier's retries long ago (hours, not
// weeks); it is kept a month for inspection, then purged.
const abandonedRetention = 30 * 24 * time.Hour

// TokenRevoked implements store.Queries.
func (q *queries) TokenRevoked(ctx context.Context, jti string) (bool, error) {
	var n int64
	err := q.row(ctx, "check token revocation", jti, func(r scanner) error { return r.Scan(&n) },
		`SELECT COUNT(*) FROM revoked_tokens WHERE jti = $1`, jti)
	return n > 0, err
}

// GetSetting implements store.Queries.
func (q *queries) GetSetting(ctx context.Context, key string) (string, error) {
	var v string
	err := q.row(ctx, "get setting", key, func(r scanner) error { return r.Scan(&v) },
		`SELECT value FROM settings WHERE key = $1`, key)
	return v, err
}

// InsertAssertionJTI implements store.Mutations: one INSERT that either
// claims the (client, jti) pair or does nothing, so two concurrent uses of
// one assertion cannot both succeed.
func (t *txn) InsertAssertionJTI(ctx context.Context, clientID, jti string, exp time.Time) error {
	n, err := t.execN(ctx, "record assertion jti", clientID,
		`INSERT INTO assertion_jtis (client_id, jti, expires_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
		clientID, jti, t.d.encodeTime(exp))
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: client %q already used this assertion jti: %w", t.d.Name, clientID, store.ErrConflict)
	}
	return nil
}

// RevokeToken implements store.Mutations.
func (t *txn) RevokeToken(ctx context.Context, jti string, exp time.Time) error {
	_, err := t.exec(ctx, "revoke token", jti,
		`INSERT INTO revoked_tokens (jti, expires_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, jti, t.d.encodeTime(exp))
	return err
}

// PurgeExpired implements store.Mutations.
func (t *txn) PurgeExpired(ctx context.Context, now time.Time) (int64, error) {
	var total int64
	for _, stmt := range []struct {
		what, query string
		at          time.Time
	}{
		{"purge assertion jtis", `DELETE FROM assertion_jtis WHERE expires_at < $1`, now},
		{"purge revoked tokens", `DELETE FROM revoked_tokens WHERE expires_at < $1`, now},
		{"purge auth failures", `DELETE FROM auth_failures WHERE expires_at < $1`, now},
		{"purge delivered webhooks", `DELETE FROM webhooks WHERE delivered_at < $1`, now.Add(-deliveredRetention)},
		{"purge abandoned webhooks", `DELETE FROM webhooks WHERE delivered_at IS NULL AND created_at < $1`, now.Add(-abandonedRetention)},
		{"purge console sessions", `DELETE FROM console_sessions WHERE expires_at < $1`, now},
	} {
		n, err := t.execN(ctx, stmt.what, "", stmt.query, t.d.encodeTime(stmt.at))
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// SetSetting implements store.Mutations.
func (t *txn) SetSetting(ctx context.Context, key, value string) error {
	_, err := t.exec(ctx, "set setting", key,
		`INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
		key, value)
	return err
}

// SetSettingIfAbsent implements store.Mutations. When two replicas race,
// the loser's INSERT waits for the winner's commit and then does nothing;
// both read the winner's value.
func (t *txn) SetSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	if _, err := t.exec(ctx, "set setting", key,
		`INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, key, value); err != nil {
		return "", err
	}
	return t.GetSetting(ctx, key)
}
