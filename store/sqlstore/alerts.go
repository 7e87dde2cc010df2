package sqlstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/authz/authz/store"
)

// UsesSince implements store.AlertQueries.
func (q *queries) UsesSince(ctx context.Context, credential string, since time.Time) (int64, error) {
	var n int64
	err := q.row(ctx, "sum credential uses", credential, func(r scanner) error { return r.Scan(&n) },
		`SELECT COALESCE(SUM(uses), 0) FROM credential_uses_hourly WHERE credential = $1 AND hour >= $2`,
		credential, q.d.encodeTime(since.UTC().Truncate(time.Hour)))
	return n, err
}

// ListCredentialNetworks implements store.AlertQueries.
func (q *queries) ListCredentialNetworks(ctx context.Context, credential string, limit int) ([]store.CredentialNetwork, error) {
	if limit <= 0 || limit > store.MaxLimit {
		limit = store.MaxLimit
	}
	var out []store.CredentialNetwork
	err := q.rows(ctx, "list credential networks", credential, func(r scanner) error {
		n := store.CredentialNetwork{Credential: credential}
		var first, last timeCol
		if err := r.Scan(&n.Prefix, &first, &last); err != nil {
			return err
		}
		n.FirstSeen, n.LastSeen = first.T, last.T
		out = append(out, n)
		return nil
	}, sqlNetworkList, credential, limit)
	return out, err
}

// The statements of the alert detectors' record of credential networks,
// which runs for every credential's first use (and every new network):
// on SQLite they are prepared once per process (prepared_tx.go).
const (
	sqlNetworkList = `SELECT prefix, first_seen, last_seen FROM credential_networks WHERE credential = $1
	    ORDER BY first_seen, prefix LIMIT $2`
	sqlNetworkAdd = `INSERT INTO credential_networks (credential, prefix, first_seen, last_seen) VALUES ($1, $2, $3, $3)
		 ON CONFLICT (credential, prefix) DO NOTHING`
	sqlNetworkTouch = `UPDATE credential_networks SET last_seen = $3 WHERE credential = $1 AND prefix = $2 AND last_seen < $3`
)

// RecordHourlyUse implements store.AlertMutations. It does not move
// Generation: usage is not something a cache holds.
func (t *txn) RecordHourlyUse(ctx context.Context, us []store.HourlyUse) error {
	// One order for every writer, so that two flushers never deadlock.
	us = slices.Clone(us)
	slices.SortFunc(us, func(a, b store.HourlyUse) int {
		if c := strings.Compare(a.Credential, b.Credential); c != 0 {
			return c
		}
		return a.Hour.Compare(b.Hour)
	})
	for _, u := range us {
		if u.Uses <= 0 {
			continue
		}
		if _, err := t.exec(ctx, "record hourly use", u.Credential,
			`INSERT INTO credential_uses_hourly (credential, hour, uses) VALUES ($1, $2, $3)
			 ON CONFLICT (credential, hour) DO UPDATE SET uses = credential_uses_hourly.uses + excluded.uses`,
			u.Credential, t.d.encodeTime(u.Hour.UTC().Truncate(time.Hour)), u.Uses); err != nil {
			return err
		}
	}
	return nil
}

// AddCredentialNetwork implements store.AlertMutations: the insert that
// does nothing on conflict tells which replica saw the prefix first.
func (t *txn) AddCredentialNetwork(ctx context.Context, n store.CredentialNetwork) (bool, error) {
	ins, err := t.execN(ctx, "add credential network", n.Credential, sqlNetworkAdd,
		n.Credential, n.Prefix, t.d.encodeTime(n.FirstSeen))
	if err != nil || ins > 0 {
		return ins > 0, err
	}
	_, err = t.exec(ctx, "touch credential network", n.Credential, sqlNetworkTouch,
		n.Credential, n.Prefix, t.d.encodeTime(n.LastSeen))
	return false, err
}

// ClaimAlert implements store.AlertMutations. An expired mark is replaced
// (it would be purged anyway), so a key may be reused after its window.
func (t *txn) ClaimAlert(ctx context.Context, key string, at, until time.Time) (bool, error) {
	n, err := t.execN(ctx, "claim alert", key,
		`INSERT INTO alert_marks (key, count, fired_at, expires_at) VALUES ($1, 1, $2, $3)
		 ON CONFLICT (key) DO UPDATE SET fired_at = excluded.fired_at, expires_at = excluded.expires_at
		 WHERE alert_marks.expires_at <= excluded.fired_at`,
		key, t.d.encodeTime(at), t.d.encodeTime(until))
	return n > 0, err
}

// CountAlert implements store.AlertMutations: one upsert, so that
// concurrent callers on any replica serialise on the row.
func (t *txn) CountAlert(ctx context.Context, key string, at, until time.Time) (int64, error) {
	var n int64
	err := t.row(ctx, "count alert", key, func(r scanner) error { return r.Scan(&n) },
		`INSERT INTO alert_marks (key, count, fired_at, expires_at) VALUES ($1, 1, $2, $3)
		 ON CONFLICT (key) DO UPDATE SET
		   count = CASE WHEN alert_marks.expires_at <= excluded.fired_at THEN 1 ELSE alert_marks.count + 1 END,
		   fired_at = CASE WHEN alert_marks.expires_at <= excluded.fired_at THEN excluded.fired_at ELSE alert_marks.fired_at END,
		   expires_at = CASE WHEN alert_marks.expires_at <= excluded.fired_at THEN excluded.expires_at ELSE alert_marks.expires_at END
		 RETURNING count`,
		key, t.d.encodeTime(at), t.d.encodeTime(until))
	return n, err
}

// CountAlert implements store.AlertMutations in a transaction of its own.
func (s *Store) CountAlert(ctx context.Context, key string, at, until time.Time) (int64, error) {
	return do(ctx, s, func(x *txn) (int64, error) { return x.CountAlert(ctx, key, at, until) })
}

// PurgeAlertState implements store.AlertMutations.
func (t *txn) PurgeAlertState(ctx context.Context, now, usesBefore time.Time) (int64, error) {
	a, err := t.execN(ctx, "purge hourly uses", "", `DELETE FROM credential_uses_hourly WHERE hour < $1`, t.d.encodeTime(usesBefore))
	if err != nil {
		return 0, err
	}
	b, err := t.execN(ctx, "purge alert marks", "", `DELETE FROM alert_marks WHERE expires_at < $1`, t.d.encodeTime(now))
	if err != nil {
		return 0, err
	}
	// Refusal counts are kept longer than use counts: the console charts
	// them (store.RefusalRetention).
	c, err := t.execN(ctx, "purge refusal counts", "", `DELETE FROM refusal_counts WHERE hour < $1`,
		t.d.encodeTime(now.Add(-store.RefusalRetention).UTC().Truncate(time.Hour)))
	return a + b + c, err
}

// RecordHourlyUse implements store.AlertMutations in a transaction of its own.
func (s *Store) RecordHourlyUse(ctx context.Context, us []store.HourlyUse) error {
	return s.inTx(ctx, func(x *txn) error { return x.RecordHourlyUse(ctx, us) })
}

// AddCredentialNetwork implements store.AlertMutations in a transaction of its own.
func (s *Store) AddCredentialNetwork(ctx context.Context, n store.CredentialNetwork) (bool, error) {
	return do(ctx, s, func(x *txn) (bool, error) { return x.AddCredentialNetwork(ctx, n) })
}

// ClaimAlert implements store.AlertMutations in a transaction of its own.
func (s *Store) ClaimAlert(ctx context.Context, key string, at, until time.Time) (bool, error) {
	return do(ctx, s, func(x *txn) (bool, error) { return x.ClaimAlert(ctx, key, at, until) })
}

// PurgeAlertState implements store.AlertMutations in a transaction of its own.
func (s *Store) PurgeAlertState(ctx context.Context, now, usesBefore time.Time) (int64, error) {
	return do(ctx, s, func(x *txn) (int64, error) { return x.PurgeAlertState(ctx, now, usesBefore) })
}
