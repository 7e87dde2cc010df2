package legacykeys

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/authz/authz/store"
)

// errNoticed skips a key another replica notified first.
var errNoticed = errors.New("legacykeys: notice already queued")

// ScanExpiry queues the expiry notices that are due, each once per key:
// key.expiring when an active key expires within ExpiryNotice, and
// key.expired (with a key.expire audit event) once it has expired.
// ExpiryNoticeAt records what was sent: before the expiry it marks the
// key.expiring notice, at or after it the key.expired one. The mark and
// the notice commit together, so replicas scanning at once send each
// notice once, and a failed scan is retried by the next.
func (s *Service) ScanExpiry(ctx context.Context) error {
	now := s.clock()
	var due []store.LegacyKey
	f := store.LegacyKeyFilter{Status: store.StatusActive, ExpiresBefore: ptrTo(now.Add(s.expiryNotice))}
	err := s.eachKey(ctx, f, func(k store.LegacyKey) error {
		if k.ExpiresAt != nil && noticeDue(k, now) != "" {
			due = append(due, k)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, k := range due {
		if err := s.notice(ctx, k.ID, now); err != nil {
			if ctx.Err() != nil {
				return errors.Join(append(errs, err)...)
			}
			s.log.WarnContext(ctx, "key expiry notice failed; retried at the next scan", "key_id", k.ID, "err", err)
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// noticeDue says which notice k needs at now, if any.
func noticeDue(k store.LegacyKey, now time.Time) string {
	if k.Status != store.StatusActive || k.ExpiresAt == nil {
		return ""
	}
	exp := *k.ExpiresAt
	sent := k.ExpiryNoticeAt
	if !now.Before(exp) {
		if sent == nil || sent.Before(exp) {
			return EventKeyExpired
		}
		return ""
	}
	if sent == nil {
		return EventKeyExpiring
	}
	return ""
}

func (s *Service) notice(ctx context.Context, id string, now time.Time) error {
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		var event string
		k, err := tx.UpdateLegacyKey(ctx, id, func(k store.LegacyKey) (store.LegacyKey, error) {
			if event = noticeDue(k, now); event == "" {
				return k, errNoticed
			}
			k.ExpiryNoticeAt = ptrTo(now)
			return k, nil
		})
		if err != nil {
			return err
		}
		n := noticeOf(k)
		if event == EventKeyExpiring {
			return s.notify(ctx, tx, EventKeyExpiring, expiringNotice{keyNotice: n, DaysLeft: daysUntil(now, *k.ExpiresAt)})
		}
		// Time expired the key, not whoever triggered the scan.
		ev := s.eventOn(ctx, ActionExpire, credential(k.ID), k.TenantID, map[string]any{"expires_at": k.ExpiresAt})
		ev.Actor = "system"
		if err := s.auditAll(ctx, tx, ev); err != nil {
			return err
		}
		return s.notify(ctx, tx, EventKeyExpired, n)
	})
	if errors.Is(err, errNoticed) || errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("legacykeys: expiry notice for key %s: %w", id, err)
	}
	return nil
}

type expiringNotice struct {
	keyNotice
	DaysLeft int `json:"days_left"`
}
