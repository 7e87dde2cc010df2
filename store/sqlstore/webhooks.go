package sqlstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/authz/authz/store"
)

const webhookCols = `id, event_type, payload, created_at, attempts, next_attempt_at, delivered_at, last_error`

func scanWebhook(r scanner, w *store.Webhook) error {
	var created, next, delivered timeCol
	if err := r.Scan(&w.ID, &w.EventType, bytesCol{(*[]byte)(&w.Payload)}, &created, &w.Attempts, &next, &delivered,
		&w.LastError); err != nil {
		return err
	}
	w.CreatedAt, w.NextAttemptAt, w.DeliveredAt = created.T, next.T, delivered.ptr()
	return nil
}

// ListWebhooks implements store.Queries.
func (q *queries) ListWebhooks(ctx context.Context, f store.WebhookFilter, p store.Page) ([]store.Webhook, string, error) {
	var w where
	if f.Pending {
		w.add("delivered_at IS NULL")
	}
	if p.After != "" {
		w.add("id > ?", p.After)
	}
	limit := limitOf(p)
	var out []store.Webhook
	err := q.rows(ctx, "list webhooks", "", func(r scanner) error {
		var wh store.Webhook
		if err := scanWebhook(r, &wh); err != nil {
			return err
		}
		out = append(out, wh)
		return nil
	}, `SELECT `+webhookCols+` FROM webhooks`+w.sql()+` ORDER BY id LIMIT `+w.arg(limit+1), w.args...)
	if err != nil {
		return nil, "", err
	}
	out, next := pageOf(out, limit, func(w store.Webhook) string { return w.ID })
	return out, next, nil
}

// EnqueueWebhook implements store.Mutations.
func (t *txn) EnqueueWebhook(ctx context.Context, w store.Webhook) error {
	n, err := t.execN(ctx, "enqueue webhook", w.ID,
		`INSERT INTO webhooks (`+webhookCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING`,
		w.ID, w.EventType, nullBytes(w.Payload), t.d.encodeTime(w.CreatedAt), w.Attempts,
		t.d.encodeTime(w.NextAttemptAt), t.d.encodeNullTime(w.DeliveredAt), w.LastError)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: enqueue webhook %q: exists: %w", t.d.Name, w.ID, store.ErrConflict)
	}
	return nil
}

// ClaimWebhooks implements store.Mutations. On PostgreSQL the candidate rows
// are locked with SKIP LOCKED, so a concurrent claimer takes other rows
// instead of waiting; the lease then keeps them from being claimed again
// until it runs out. The result is ordered by creation.
func (t *txn) ClaimWebhooks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Webhook, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []store.Webhook
	err := t.rows(ctx, "claim webhooks", "", func(r scanner) error {
		var w store.Webhook
		if err := scanWebhook(r, &w); err != nil {
			return err
		}
		out = append(out, w)
		return nil
	}, `UPDATE webhooks SET next_attempt_at = $1 WHERE id IN (
	        SELECT id FROM webhooks WHERE delivered_at IS NULL AND next_attempt_at <= $2
	        ORDER BY next_attempt_at, id LIMIT $3`+t.d.SkipLocked+`)
	    RETURNING `+webhookCols, t.d.encodeTime(now.Add(lease)), t.d.encodeTime(now), limit)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b store.Webhook) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// MarkWebhookDelivered implements store.Mutations.
func (t *txn) MarkWebhookDelivered(ctx context.Context, id string, at time.Time) error {
	n, err := t.execN(ctx, "mark webhook delivered", id,
		`UPDATE webhooks SET delivered_at = $2 WHERE id = $1`, id, t.d.encodeTime(at))
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: mark webhook %q delivered: %w", t.d.Name, id, store.ErrNotFound)
	}
	return nil
}

// MarkWebhookFailed implements store.Mutations.
func (t *txn) MarkWebhookFailed(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error {
	n, err := t.execN(ctx, "mark webhook failed", id,
		`UPDATE webhooks SET attempts = $2, next_attempt_at = $3, last_error = $4 WHERE id = $1`,
		id, attempts, t.d.encodeTime(next), lastErr)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%s: mark webhook %q failed: %w", t.d.Name, id, store.ErrNotFound)
	}
	return nil
}
