package legacykeys

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// Cross-tenant key conflicts (issue 22 §1, issue 18 §6).
//
// A key's hash is unique across tenants, so whichever tenant imports a key
// first used to own it, and a later import by the key's real tenant was
// answered "already present": anyone who knew a key's SHA-256 could bind
// it to their own principal. Now a key named by two tenants belongs to
// neither until an authz:admin decides. Each tenant's claim is a key row of
// its own tenant; the row that holds the key's real hash (the holder) and
// every other claim are marked StatusConflicted, refused at exchange with
// key_conflict, and recorded as store.KeyClaim members of one conflict.
// The importing tenant admin is answered exactly as if the key were new to
// its tenant (issue 18 §6: the answer must not tell whether the hash exists
// elsewhere); the system administrators get an audit event in the system
// tenant and the alert.key_conflict webhook.

// Audit actions and the webhook of key conflicts.
const (
	ActionConflict        = "key.conflict"
	ActionConflictResolve = "key.conflict_resolve"
	EventKeyConflict      = "alert.key_conflict"
)

// Proofs of a claim: how the tenant named the key.
const (
	ProofRawKey = "raw_key" // the key itself: its holder's possession
	ProofSHA256 = "sha256"  // only its digest, which old databases and dumps carry
	ProofIssued = "issued"  // authz generated it for that tenant
)

// standInHash is what a claim's row stores instead of the key's hash: it is
// derived from the hash and the tenant, so it is unique per (key, tenant)
// and lets a re-import by the same tenant find its claim, and it is 33
// bytes long, so no key (whose hash is 32 bytes) ever hashes to it.
func standInHash(hash []byte, tenantID string) []byte {
	d := sha256.Sum256(append(append([]byte("authz key claim v1\x00"), hash...), tenantID...))
	return append([]byte{0}, d[:]...)
}

// claimID is the id of tenantID's claim row for the key with hash.
func claimID(hash []byte, tenantID string) string {
	d := sha256.Sum256(append(append([]byte("authz key claim id v1\x00"), hash...), tenantID...))
	return store.PrefixKey + idEncoding.EncodeToString(d[:10])
}

// claimMember is one member of a conflict as the alert, the system audit
// event and a system administrator's diagnosis show it.
type claimMember struct {
	KeyID    string `json:"key_id"`
	TenantID string `json:"tenant_id"`
	Proof    string `json:"proof"`
	Holder   bool   `json:"holder"`
}

type conflictAlert struct {
	ConflictID string        `json:"conflict_id"`
	KeyID      string        `json:"key_id"`
	Claims     []claimMember `json:"claims"`
	ClaimedBy  string        `json:"claimed_by"`
	DetectedAt time.Time     `json:"detected_at"`
}

// claimForeign is called for an import candidate whose key (same hash) is
// held by another tenant. It reports whether the candidate became a new
// (conflicted) claim, to be counted as imported; false means the
// candidate's tenant claimed the key before (open, won or dropped), so it
// is already present.
func (s *Service) claimForeign(ctx context.Context, tx store.Tx, held, cand store.LegacyKey, proof string, now time.Time, dryRun bool) (bool, error) {
	stand := standInHash(cand.Hash, cand.TenantID)
	_, err := tx.GetLegacyKeyByHash(ctx, stand)
	switch {
	case err == nil:
		return false, nil // this tenant's claim exists (open, won or dropped)
	case !errors.Is(err, store.ErrNotFound):
		return false, fmt.Errorf("legacykeys: import: look up claim: %w", err)
	}
	c := cand
	c.ID, c.Hash = claimID(cand.Hash, cand.TenantID), stand
	c.Status = store.StatusConflicted
	if err := tx.CreateLegacyKey(ctx, c); err != nil {
		return false, fmt.Errorf("legacykeys: import: create claim: %w", err)
	}
	members, err := tx.ListKeyClaims(ctx, held.ID)
	if err != nil {
		return false, fmt.Errorf("legacykeys: import: read conflict of key %s: %w", held.ID, err)
	}
	actor := actorOf(ctx)
	var add []store.KeyClaim
	conflictID := ""
	if len(members) > 0 {
		conflictID = members[0].ConflictID
	} else {
		conflictID = store.NewID(store.PrefixKeyConflict)
		holder := store.KeyClaim{
			ConflictID: conflictID, KeyID: held.ID, TenantID: held.TenantID, Holder: true,
			Proof: ProofSHA256, PriorStatus: held.Status, ClaimedAt: held.CreatedAt, ClaimedBy: "",
		}
		if held.Source == store.SourceIssued {
			holder.Proof = ProofIssued
		}
		add = append(add, holder)
		members = append(members, holder)
		if held.Status == store.StatusActive {
			// The holder may be the squatter: refuse it too, and end the
			// tokens it was given (they may carry the wrong principal).
			if _, err := tx.UpdateLegacyKey(ctx, held.ID, func(k store.LegacyKey) (store.LegacyKey, error) {
				k.Status, k.UpdatedAt = store.StatusConflicted, now
				return k, nil
			}); err != nil {
				return false, fmt.Errorf("legacykeys: import: mark key %s conflicted: %w", held.ID, err)
			}
			if err := tx.InvalidateStatusIndex(ctx, credential(held.ID), now); err != nil {
				return false, fmt.Errorf("legacykeys: invalidate status of key %s: %w", held.ID, err)
			}
		}
	}
	mine := store.KeyClaim{
		ConflictID: conflictID, KeyID: c.ID, TenantID: c.TenantID, Proof: proof,
		PriorStatus: store.StatusActive, ClaimedAt: now, ClaimedBy: actor,
	}
	add = append(add, mine)
	members = append(members, mine)
	if err := tx.AddKeyClaims(ctx, add); err != nil {
		return false, fmt.Errorf("legacykeys: import: record conflict: %w", err)
	}
	all := make([]claimMember, len(members))
	for i, m := range members {
		all[i] = claimMember{KeyID: m.KeyID, TenantID: m.TenantID, Proof: m.Proof, Holder: m.Holder}
	}
	// Each tenant's own log names only its own key; the system tenant's
	// event, seen by authz:admin only, names every claim.
	evs := []store.AuditEvent{
		s.eventOn(ctx, ActionConflict, credential(held.ID), store.SystemTenantID, map[string]any{
			"conflict_id": conflictID, "claims": all,
		}),
		s.eventOn(ctx, ActionConflict, credential(c.ID), c.TenantID, map[string]any{
			"conflict_id": conflictID, "status": store.StatusConflicted,
		}),
	}
	if len(add) == 2 {
		evs = append(evs, s.eventOn(ctx, ActionConflict, credential(held.ID), held.TenantID, map[string]any{
			"conflict_id": conflictID, "status": change{held.Status, statusAfterClaim(held.Status)},
		}))
	}
	if err := s.auditAll(ctx, tx, evs...); err != nil {
		return false, err
	}
	if err := s.notify(ctx, tx, EventKeyConflict, conflictAlert{
		ConflictID: conflictID, KeyID: held.ID, Claims: all, ClaimedBy: actor, DetectedAt: now,
	}); err != nil {
		return false, err
	}
	if dryRun {
		// Nothing stays, but someone tried: worth a line in the log.
		s.log.WarnContext(ctx, "dry-run import names a legacy key held by another tenant", "key_id", held.ID, "claimed_by", actor)
	} else {
		s.log.WarnContext(ctx, "legacy key claimed by a second tenant", "conflict_id", conflictID, "key_id", held.ID, "claimed_by", actor)
	}
	return true, nil
}

func statusAfterClaim(st store.Status) store.Status {
	if st == store.StatusActive {
		return store.StatusConflicted
	}
	return st
}

// Resolution is what ResolveConflict did.
type Resolution struct {
	ConflictID string `json:"conflict_id"`
	// Winner is the key row that now holds the key, in the winning tenant.
	Winner store.LegacyKey `json:"-"`
	// Dropped are the other claims, now revoked.
	Dropped []store.LegacyKey `json:"-"`
}

// ResolveConflict ends the open conflict that key keyID is part of: the
// claim of winnerTenant stands (its row holds the key and is restored to
// its status before the conflict), every other claim is dropped (its row
// revoked, and its outstanding tokens invalidated). The change is audited
// in every member's tenant and, naming all, in the system tenant. Only an
// authz:admin may call it (the admin API checks).
func (s *Service) ResolveConflict(ctx context.Context, keyID, winnerTenant string) (Resolution, error) {
	if winnerTenant == "" {
		return Resolution{}, errcode.New(errcode.RequestInvalid, "the winning tenant is required: the tenant whose claim of the key stands")
	}
	now := s.clock()
	actor := actorOf(ctx)
	var out Resolution
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		members, err := tx.ListKeyClaims(ctx, keyID)
		if err != nil {
			return fmt.Errorf("legacykeys: read conflict of key %s: %w", keyID, err)
		}
		if len(members) == 0 {
			if _, err := tx.GetLegacyKey(ctx, keyID); err != nil {
				return keyErr("resolve conflict of", keyID, err)
			}
			return errcode.Newf(errcode.Conflict, "key %s is in no open conflict; nothing to resolve", keyID)
		}
		var holder, winner *store.KeyClaim
		tenants := make([]string, 0, len(members))
		for i := range members {
			m := &members[i]
			tenants = append(tenants, m.TenantID)
			if m.Holder {
				holder = m
			}
			if m.TenantID == winnerTenant {
				winner = m
			}
		}
		if winner == nil {
			return errcode.Newf(errcode.RequestInvalid, "tenant %q has no claim in conflict %s; the claims are from tenants %v", winnerTenant, members[0].ConflictID, tenants)
		}
		if holder == nil {
			return fmt.Errorf("legacykeys: conflict %s has no holder", members[0].ConflictID)
		}
		out.ConflictID = winner.ConflictID
		hk, err := tx.GetLegacyKey(ctx, holder.KeyID)
		if err != nil {
			return fmt.Errorf("legacykeys: get key %s: %w", holder.KeyID, err)
		}
		realHash := hk.Hash
		reason := fmt.Sprintf("dropped when key conflict %s was resolved: another tenant's claim of this key stands", out.ConflictID)
		drop := func(m store.KeyClaim, hash []byte) (store.LegacyKey, error) {
			k, err := tx.UpdateLegacyKey(ctx, m.KeyID, func(k store.LegacyKey) (store.LegacyKey, error) {
				if hash != nil {
					k.Hash = hash
				}
				if k.Status != store.StatusRevoked {
					k.Status, k.RevokedAt, k.RevokedBy, k.RevokedReason = store.StatusRevoked, ptrTo(now), actor, reason
				}
				k.UpdatedAt = now
				return k, nil
			})
			if err != nil {
				return k, fmt.Errorf("legacykeys: drop claim %s: %w", m.KeyID, err)
			}
			if err := tx.InvalidateStatusIndex(ctx, credential(k.ID), now); err != nil {
				return k, fmt.Errorf("legacykeys: invalidate status of key %s: %w", k.ID, err)
			}
			return k, nil
		}
		if !winner.Holder {
			// The holder gives up the hash first: it is unique.
			k, err := drop(*holder, standInHash(realHash, holder.TenantID))
			if err != nil {
				return err
			}
			out.Dropped = append(out.Dropped, k)
		}
		out.Winner, err = tx.UpdateLegacyKey(ctx, winner.KeyID, func(k store.LegacyKey) (store.LegacyKey, error) {
			k.Hash = realHash
			if k.Status == store.StatusConflicted {
				k.Status = winner.PriorStatus
			}
			k.UpdatedAt = now
			return k, nil
		})
		if err != nil {
			return fmt.Errorf("legacykeys: restore key %s: %w", winner.KeyID, err)
		}
		for _, m := range members {
			if m.KeyID == winner.KeyID || m.Holder {
				continue
			}
			k, err := drop(m, nil)
			if err != nil {
				return err
			}
			out.Dropped = append(out.Dropped, k)
		}
		if err := tx.ResolveKeyClaims(ctx, out.ConflictID, winner.KeyID, now, actor); err != nil {
			return fmt.Errorf("legacykeys: close conflict %s: %w", out.ConflictID, err)
		}
		all := make([]claimMember, len(members))
		for i, m := range members {
			all[i] = claimMember{KeyID: m.KeyID, TenantID: m.TenantID, Proof: m.Proof, Holder: m.Holder}
		}
		evs := []store.AuditEvent{
			s.eventOn(ctx, ActionConflictResolve, credential(winner.KeyID), store.SystemTenantID, map[string]any{
				"conflict_id": out.ConflictID, "winner_tenant": winner.TenantID, "winner_key": winner.KeyID, "claims": all,
			}),
			s.event(ctx, ActionConflictResolve, out.Winner, map[string]any{
				"conflict_id": out.ConflictID, "outcome": store.ClaimWon, "status": change{store.StatusConflicted, out.Winner.Status},
			}),
		}
		for _, k := range out.Dropped {
			evs = append(evs, s.event(ctx, ActionConflictResolve, k, map[string]any{
				"conflict_id": out.ConflictID, "outcome": store.ClaimDropped, "status": change{nil, k.Status}, "revoked_reason": k.RevokedReason,
			}))
		}
		return s.auditAll(ctx, tx, evs...)
	})
	if err != nil {
		return Resolution{}, err
	}
	out.Winner = redact(out.Winner)
	for i := range out.Dropped {
		out.Dropped[i] = redact(out.Dropped[i])
	}
	return out, nil
}

// ConflictState is the open conflict a key is part of, as Diagnose shows
// it. For a tenant administrator the admin API keeps only the claims of
// its own tenant and counts the others (Hidden).
type ConflictState struct {
	ID     string       `json:"id"`
	Claims []ClaimState `json:"claims"`
	// Hidden counts the claims of other tenants left out of Claims.
	Hidden int `json:"hidden_claims,omitempty"`
}

// ClaimState is one tenant's claim of a conflicted key.
type ClaimState struct {
	KeyID     string    `json:"key_id"`
	TenantID  string    `json:"tenant_id"`
	Holder    bool      `json:"holder"`
	Proof     string    `json:"proof"`
	ClaimedAt time.Time `json:"claimed_at"`
	ClaimedBy string    `json:"claimed_by,omitempty"`
}

func (s *Service) conflictOf(ctx context.Context, keyID string) (*ConflictState, error) {
	members, err := s.st.ListKeyClaims(ctx, keyID)
	if err != nil {
		return nil, fmt.Errorf("legacykeys: diagnose: read conflict of key %s: %w", keyID, err)
	}
	if len(members) == 0 {
		return nil, nil
	}
	cs := &ConflictState{ID: members[0].ConflictID}
	for _, m := range members {
		cs.Claims = append(cs.Claims, ClaimState{KeyID: m.KeyID, TenantID: m.TenantID, Holder: m.Holder, Proof: m.Proof, ClaimedAt: m.ClaimedAt, ClaimedBy: m.ClaimedBy})
	}
	return cs, nil
}

// OnlyTenant keeps the claims of tenantID and counts the others, for a
// tenant administrator: it learns that its key is contested, never by whom.
func (c *ConflictState) OnlyTenant(tenantID string) *ConflictState {
	if c == nil {
		return nil
	}
	out := &ConflictState{ID: c.ID, Claims: []ClaimState{}}
	for _, cl := range c.Claims {
		if cl.TenantID == tenantID {
			out.Claims = append(out.Claims, cl)
		} else {
			out.Hidden++
		}
	}
	return out
}
