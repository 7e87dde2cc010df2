package legacykeys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/reqmeta"
	"github.com/authz/authz/store"
)

// AuditFunc appends an audit event inside tx (audit.Append, adapted).
type AuditFunc func(ctx context.Context, tx store.Tx, ev store.AuditEvent) error

// Notifier queues a webhook through m, the transaction of the change it
// announces (notify.Notifier satisfies it).
type Notifier interface {
	Enqueue(ctx context.Context, m store.Mutations, eventType string, data any) error
}

// Webhook event types this package sends.
const (
	EventKeyExpiring = "key.expiring"
	EventKeyExpired  = "key.expired"
	EventKeyRevoked  = "key.revoked"
)

// Audit actions this package records.
const (
	ActionIssue    = "key.issue"
	ActionImport   = "key.import"
	ActionRevoke   = "key.revoke"
	ActionRotate   = "key.rotate"
	ActionReassign = "key.reassign"
	ActionRemap    = "key.remap"
	ActionExpire   = "key.expire"
	// ActionLockout is written by the token endpoint's rate limiter;
	// Diagnose reads it.
	ActionLockout = "key.lockout"
)

// DefaultExpiryNotice is how long before expiry key.expiring is sent.
const DefaultExpiryNotice = 14 * 24 * time.Hour

// Limits on what an administrator may attach to a key.
const (
	maxLabelLen       = 200
	maxEnvironmentLen = 64
	maxScopeLen       = 128
	maxScopes         = 100
	maxReasonLen      = 500
)

// ServiceConfig configures a Service. Store, Hasher and Audit are required.
type ServiceConfig struct {
	Store  store.Store
	Hasher *Hasher
	Audit  AuditFunc
	// Notifier queues key.revoked, key.expiring and key.expired (nil: none).
	Notifier Notifier
	// ExpiryNotice is how far ahead key.expiring is sent (0: 14 days).
	ExpiryNotice time.Duration
	Now          func() time.Time
	Logger       *slog.Logger
}

// Service is the lifecycle of legacy keys: issue, revoke, rotate, reassign,
// import, remap, diagnose, reports and expiry notices. Every change commits
// in one transaction with its audit event and, where one applies, its
// webhook. The keys it returns never carry their hash.
type Service struct {
	st           store.Store
	hasher       *Hasher
	audit        AuditFunc
	notifier     Notifier
	expiryNotice time.Duration
	now          func() time.Time
	log          *slog.Logger
}

// NewService returns a Service. It panics if Store, Hasher or Audit is
// missing: that is a wiring bug, not a runtime condition.
func NewService(cfg ServiceConfig) *Service {
	if cfg.Store == nil || cfg.Hasher == nil || cfg.Audit == nil {
		panic("legacykeys: NewService needs Store, Hasher and Audit")
	}
	s := &Service{
		st:           cfg.Store,
		hasher:       cfg.Hasher,
		audit:        cfg.Audit,
		notifier:     cfg.Notifier,
		expiryNotice: cfg.ExpiryNotice,
		now:          cfg.Now,
		log:          cfg.Logger,
	}
	if s.expiryNotice <= 0 {
		s.expiryNotice = DefaultExpiryNotice
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// clock returns now at the precision the store keeps, so that what a
// method returns equals what a later read gives.
func (s *Service) clock() time.Time {
	return s.now().UTC().Truncate(time.Microsecond)
}

// IssueRequest asks for a new key for a principal.
type IssueRequest struct {
	OwnerID string
	// Scopes the key may be exchanged for; empty: whatever the owner's
	// roles grant.
	Scopes []string
	// ExpiresIn sets the expiry; 0: the key does not expire.
	ExpiresIn          time.Duration
	Label, Environment string
}

// Issue creates a key in the owner's tenant and returns it once, in
// plaintext; only its hash is stored. A deleted owner cannot be given a key.
func (s *Service) Issue(ctx context.Context, req IssueRequest) (string, store.LegacyKey, error) {
	if req.OwnerID == "" {
		return "", store.LegacyKey{}, errcode.New(errcode.RequestInvalid, "owner is required: the principal the key acts for")
	}
	if req.ExpiresIn < 0 {
		return "", store.LegacyKey{}, errcode.Newf(errcode.RequestInvalid, "expires_in must not be negative (got %v); leave it out for a key that does not expire", req.ExpiresIn)
	}
	scopes, err := cleanScopes(req.Scopes)
	if err != nil {
		return "", store.LegacyKey{}, err
	}
	if err := checkText("label", req.Label, maxLabelLen); err != nil {
		return "", store.LegacyKey{}, err
	}
	if err := checkText("environment", req.Environment, maxEnvironmentLen); err != nil {
		return "", store.LegacyKey{}, err
	}
	now := s.clock()
	key, id := Generate()
	k := store.LegacyKey{
		ID: id, Hash: s.hasher.Hash(key), OwnerID: req.OwnerID, Scopes: scopes,
		Label: req.Label, Environment: req.Environment, Source: store.SourceIssued,
		CreatedAt: now, Status: store.StatusActive, UpdatedAt: now,
	}
	if req.ExpiresIn > 0 {
		k.ExpiresAt = ptrTo(now.Add(req.ExpiresIn))
	}
	err = s.st.Tx(ctx, func(tx store.Tx) error {
		owner, err := s.usableOwner(ctx, tx, req.OwnerID)
		if err != nil {
			return err
		}
		k.TenantID = owner.TenantID
		if err := tx.CreateLegacyKey(ctx, k); err != nil {
			return fmt.Errorf("legacykeys: create key: %w", err)
		}
		return s.auditAll(ctx, tx, s.event(ctx, ActionIssue, k, map[string]any{
			"owner_id": k.OwnerID, "scopes": k.Scopes, "expires_at": k.ExpiresAt,
			"label": k.Label, "environment": k.Environment, "source": k.Source,
		}))
	})
	if err != nil {
		return "", store.LegacyKey{}, err
	}
	return key, redact(k), nil
}

// usableOwner returns the principal that may own a key: it must exist and
// not be deleted (a suspended owner may: its keys work again on resume).
func (s *Service) usableOwner(ctx context.Context, q store.Queries, id string) (store.Principal, error) {
	p, err := q.GetPrincipal(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return p, errcode.Newf(errcode.NotFound, "no principal %q; check the id with `authz principal list`", id)
	}
	if err != nil {
		return p, fmt.Errorf("legacykeys: get principal %s: %w", id, err)
	}
	if p.Status == store.StatusDeleted {
		return p, errcode.Newf(errcode.RequestInvalid, "principal %s was deleted; a deleted principal cannot own a key", id)
	}
	return p, nil
}

// Revoke revokes a key for good, recording who did it and why, and queues
// key.revoked. Revoking a revoked key is a conflict that names when and by
// whom it was revoked.
func (s *Service) Revoke(ctx context.Context, id, reason string) (store.LegacyKey, error) {
	if reason == "" {
		return store.LegacyKey{}, errcode.New(errcode.RequestInvalid, "a reason is required to revoke a key; it is shown to whoever diagnoses the key later")
	}
	if err := checkText("reason", reason, maxReasonLen); err != nil {
		return store.LegacyKey{}, err
	}
	now := s.clock()
	actor := actorOf(ctx)
	var out store.LegacyKey
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		var before store.LegacyKey
		k, err := tx.UpdateLegacyKey(ctx, id, func(k store.LegacyKey) (store.LegacyKey, error) {
			if k.Status == store.StatusRevoked {
				return k, errcode.Newf(errcode.Conflict, "key %s was already revoked%s by %s", k.ID, at(k.RevokedAt), k.RevokedBy)
			}
			before = k
			k.Status = store.StatusRevoked
			k.RevokedAt = ptrTo(now)
			k.RevokedBy = actor
			k.RevokedReason = reason
			k.UpdatedAt = now
			return k, nil
		})
		if err != nil {
			return keyErr("revoke", id, err)
		}
		out = k
		if err := tx.InvalidateStatusIndex(ctx, credential(k.ID), now); err != nil {
			return fmt.Errorf("legacykeys: invalidate status of key %s: %w", k.ID, err)
		}
		if err := s.auditAll(ctx, tx, s.event(ctx, ActionRevoke, k, map[string]any{
			"status":         change{before.Status, k.Status},
			"revoked_reason": change{nil, reason},
		})); err != nil {
			return err
		}
		return s.notify(ctx, tx, EventKeyRevoked, revokedNotice{
			keyNotice: noticeOf(k), RevokedAt: now, RevokedBy: actor, Reason: reason,
		})
	})
	if err != nil {
		return store.LegacyKey{}, err
	}
	return redact(out), nil
}

// Rotate issues a new key for the same owner, tenant, scopes, label and
// environment (and the same lifetime, if the old key had one), and makes
// the old key expire after overlap (0: at once), so holders can switch
// without downtime. An expired key can be rotated: that is how a holder
// whose key lapsed gets a new one. A revoked key cannot, nor the key of a
// deleted or missing owner (reassign or remap it first).
func (s *Service) Rotate(ctx context.Context, id string, overlap time.Duration) (string, store.LegacyKey, store.LegacyKey, error) {
	if overlap < 0 {
		return "", store.LegacyKey{}, store.LegacyKey{}, errcode.Newf(errcode.RequestInvalid, "overlap must not be negative (got %v)", overlap)
	}
	now := s.clock()
	key, freshID := Generate()
	var fresh, old store.LegacyKey
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		cur, err := tx.GetLegacyKey(ctx, id)
		if err != nil {
			return keyErr("rotate", id, err)
		}
		if cur.Status == store.StatusRevoked {
			return errcode.Newf(errcode.Conflict, "key %s is revoked; issue a new key instead of rotating it", id)
		}
		// The new key would inherit a broken owner: repair first.
		owner, err := tx.GetPrincipal(ctx, cur.OwnerID)
		switch {
		case cur.OwnerID == "" || errors.Is(err, store.ErrNotFound):
			return errcode.Newf(errcode.RequestInvalid, "the owner of key %s does not exist; remap or reassign the key before rotating it", id)
		case err != nil:
			return fmt.Errorf("legacykeys: get owner of key %s: %w", id, err)
		case owner.Status == store.StatusDeleted:
			return errcode.Newf(errcode.RequestInvalid, "the owner %s of key %s was deleted; reassign the key before rotating it", owner.ID, id)
		}
		fresh = store.LegacyKey{
			ID: freshID, Hash: s.hasher.Hash(key), TenantID: cur.TenantID, OwnerID: cur.OwnerID,
			OwnerRef: cur.OwnerRef, Scopes: cur.Scopes, Label: cur.Label, Environment: cur.Environment,
			Source: store.SourceIssued, CreatedAt: now, Status: store.StatusActive,
			RotatedFrom: cur.ID, UpdatedAt: now,
		}
		if cur.ExpiresAt != nil {
			if life := cur.ExpiresAt.Sub(cur.CreatedAt); life > 0 {
				fresh.ExpiresAt = ptrTo(now.Add(life))
			}
		}
		if err := tx.CreateLegacyKey(ctx, fresh); err != nil {
			return fmt.Errorf("legacykeys: create key: %w", err)
		}
		end := now.Add(overlap)
		var before *time.Time
		old, err = tx.UpdateLegacyKey(ctx, id, func(k store.LegacyKey) (store.LegacyKey, error) {
			if k.Status == store.StatusRevoked {
				return k, errcode.Newf(errcode.Conflict, "key %s was revoked meanwhile", id)
			}
			before = k.ExpiresAt
			if k.ExpiresAt == nil || k.ExpiresAt.After(end) {
				k.ExpiresAt = ptrTo(end)
				// The holder must hear that the old key now ends sooner.
				k.ExpiryNoticeAt = nil
			}
			k.UpdatedAt = now
			return k, nil
		})
		if err != nil {
			return keyErr("rotate", id, err)
		}
		return s.auditAll(ctx, tx,
			s.event(ctx, ActionRotate, old, map[string]any{
				"expires_at": change{before, old.ExpiresAt}, "rotated_to": fresh.ID, "overlap": overlap.String(),
			}),
			s.event(ctx, ActionIssue, fresh, map[string]any{
				"owner_id": fresh.OwnerID, "scopes": fresh.Scopes, "expires_at": fresh.ExpiresAt,
				"label": fresh.Label, "environment": fresh.Environment, "source": fresh.Source, "rotated_from": old.ID,
			}),
		)
	})
	if err != nil {
		return "", store.LegacyKey{}, store.LegacyKey{}, err
	}
	return key, redact(fresh), redact(old), nil
}

// Reassign gives a key to another principal of the same tenant; it is how
// the key of a deleted, missing or departed owner is saved. Tokens already
// issued for the previous owner are invalidated (their status-list entry
// ends), so they cannot come back to life under the new owner's status.
// Reassigning to the current owner changes nothing.
func (s *Service) Reassign(ctx context.Context, id, newOwnerID string) (store.LegacyKey, error) {
	if newOwnerID == "" {
		return store.LegacyKey{}, errcode.New(errcode.RequestInvalid, "the new owner is required")
	}
	now := s.clock()
	var out store.LegacyKey
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		owner, err := s.usableOwner(ctx, tx, newOwnerID)
		if err != nil {
			return err
		}
		var before store.LegacyKey
		changed := false
		k, err := tx.UpdateLegacyKey(ctx, id, func(k store.LegacyKey) (store.LegacyKey, error) {
			if k.Status == store.StatusRevoked {
				return k, errcode.Newf(errcode.Conflict, "key %s is revoked; a revoked key cannot be reassigned", k.ID)
			}
			if owner.TenantID != k.TenantID {
				return k, errcode.Newf(errcode.RequestInvalid, "principal %s belongs to tenant %s but key %s to tenant %s; a key stays in its tenant", owner.ID, owner.TenantID, k.ID, k.TenantID)
			}
			before, changed = k, k.OwnerID != owner.ID
			k.OwnerID = owner.ID
			if changed {
				k.UpdatedAt = now
			}
			return k, nil
		})
		if err != nil {
			return keyErr("reassign", id, err)
		}
		out = k
		if !changed {
			return nil
		}
		if err := tx.InvalidateStatusIndex(ctx, credential(k.ID), now); err != nil {
			return fmt.Errorf("legacykeys: invalidate status of key %s: %w", k.ID, err)
		}
		return s.auditAll(ctx, tx, s.event(ctx, ActionReassign, k, map[string]any{
			"owner_id": change{before.OwnerID, k.OwnerID},
		}))
	})
	if err != nil {
		return store.LegacyKey{}, err
	}
	return redact(out), nil
}

// change is one field's before and after in an audit event's details.
type change struct {
	From any `json:"from"`
	To   any `json:"to"`
}

// event builds an audit event about key k. Details never include hashes.
func (s *Service) event(ctx context.Context, action string, k store.LegacyKey, details any) store.AuditEvent {
	return s.eventOn(ctx, action, credential(k.ID), k.TenantID, details)
}

func (s *Service) eventOn(ctx context.Context, action, target, tenantID string, details any) store.AuditEvent {
	m := reqmeta.From(ctx)
	raw, err := json.Marshal(details)
	if err != nil {
		// Details are built here from plain values; this cannot happen.
		raw = nil
	}
	return store.AuditEvent{
		ID: store.NewID(store.PrefixEvent), Time: s.clock(), Actor: actorOf(ctx), Action: action,
		Target: target, TenantID: tenantID, Outcome: "success",
		RequestID: m.RequestID, ClientAddr: m.ClientAddr, Details: raw,
	}
}

func (s *Service) auditAll(ctx context.Context, tx store.Tx, evs ...store.AuditEvent) error {
	for _, ev := range evs {
		if err := s.audit(ctx, tx, ev); err != nil {
			return fmt.Errorf("legacykeys: audit %s: %w", ev.Action, err)
		}
	}
	return nil
}

func (s *Service) notify(ctx context.Context, m store.Mutations, eventType string, data any) error {
	if s.notifier == nil {
		return nil
	}
	if err := s.notifier.Enqueue(ctx, m, eventType, data); err != nil {
		return fmt.Errorf("legacykeys: queue %s: %w", eventType, err)
	}
	return nil
}

// keyNotice is the data of the key webhooks: what a receiver needs to tell
// the holder, and never the hash.
type keyNotice struct {
	KeyID       string     `json:"key_id"`
	TenantID    string     `json:"tenant_id"`
	OwnerID     string     `json:"owner_id,omitempty"`
	Label       string     `json:"label,omitempty"`
	Environment string     `json:"environment,omitempty"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
}

type revokedNotice struct {
	keyNotice
	RevokedAt time.Time `json:"revoked_at"`
	RevokedBy string    `json:"revoked_by"`
	Reason    string    `json:"reason"`
}

func noticeOf(k store.LegacyKey) keyNotice {
	return keyNotice{KeyID: k.ID, TenantID: k.TenantID, OwnerID: k.OwnerID, Label: k.Label, Environment: k.Environment, ExpiresAt: k.ExpiresAt}
}

// actorOf names who acts, from the request metadata; background work with
// none is the system.
func actorOf(ctx context.Context) string {
	if a := reqmeta.From(ctx).Actor; a != "" {
		return a
	}
	return "system"
}

// credential is a key's name in the status list and in audit targets.
func credential(keyID string) string { return "key:" + keyID }

// keyErr turns a storage outcome about key id into what the caller sees:
// refusals pass through, not-found becomes NotFound, the rest is wrapped.
func keyErr(op, id string, err error) error {
	if _, ok := errcode.As(err); ok {
		return err
	}
	if errors.Is(err, store.ErrNotFound) {
		return errcode.Newf(errcode.NotFound, "no key %q; check the id with `authz key list`", id)
	}
	return fmt.Errorf("legacykeys: %s key %s: %w", op, id, err)
}

// redact drops the hash from a key handed out of the package.
func redact(k store.LegacyKey) store.LegacyKey {
	k.Hash = nil
	return k
}

func ptrTo[T any](v T) *T { return &v }

// cleanScopes checks scopes against RFC 6749 §3.3 scope-token syntax and
// drops duplicates, keeping the order given.
func cleanScopes(in []string) ([]string, error) {
	if len(in) > maxScopes {
		return nil, errcode.Newf(errcode.RequestInvalid, "a key may list at most %d scopes; got %d", maxScopes, len(in))
	}
	out := []string{}
	seen := make(map[string]bool, len(in))
	for _, sc := range in {
		if msg := scopeProblem(sc); msg != "" {
			return nil, errcode.New(errcode.RequestInvalid, msg)
		}
		if !seen[sc] {
			seen[sc] = true
			out = append(out, sc)
		}
	}
	return out, nil
}

func scopeProblem(sc string) string {
	if sc == "" {
		return "a scope is empty"
	}
	if len(sc) > maxScopeLen {
		return fmt.Sprintf("a scope is %d characters long; scopes are at most %d", len(sc), maxScopeLen)
	}
	for i := 0; i < len(sc); i++ {
		if c := sc[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return fmt.Sprintf("scope %q has a character not allowed in an OAuth scope (RFC 6749 §3.3) at position %d", sc, i+1)
		}
	}
	return ""
}

// checkText accepts free text up to max bytes without control characters
// (they would corrupt the tables the CLI prints).
func checkText(field, v string, max int) error {
	if len(v) > max {
		return errcode.Newf(errcode.RequestInvalid, "%s is %d bytes long; at most %d", field, len(v), max)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return errcode.Newf(errcode.RequestInvalid, "%s contains a control character", field)
		}
	}
	return nil
}
