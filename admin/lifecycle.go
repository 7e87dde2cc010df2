package admin

import (
	"context"
	"fmt"

	"github.com/authz/authz/offboarding"
	"github.com/authz/authz/store"
)

// Lifecycle offers the admin API's principal status changes (suspend,
// resume, delete) to authz's other front doors, SCIM first: the same
// mutation, the same audit event, the same webhooks, the same refusal of
// a deleted principal; one rule, never a second copy.
type Lifecycle struct{ h *handler }

// NewLifecycle returns the status changes of the admin API built from cfg
// (Store, Notifier, Offboarding, Logger and Now are used).
func NewLifecycle(cfg Config) *Lifecycle { return &Lifecycle{h: newHandler(cfg)} }

// SetPrincipalStatus suspends (StatusSuspended), resumes (StatusActive)
// or deletes (StatusDeleted) the principal inside tx, as actor, seeing
// only tenantID: a principal of another tenant is not found. The
// principal is returned as it now is; asking for the status it already
// has changes nothing and records nothing.
func (l *Lifecycle) SetPrincipalStatus(ctx context.Context, tx store.Tx, actor, tenantID, id string, to store.Status) (store.Principal, error) {
	switch to {
	case store.StatusSuspended, store.StatusActive, store.StatusDeleted:
	default:
		return store.Principal{}, fmt.Errorf("admin: no principal status change to %q", to)
	}
	// The one operation the admin API, the CLI and the console use: the
	// audit event, the webhooks (principal.suspended, .resumed,
	// .credentials_broken) and the admin-burst detector come with it.
	out, err := l.h.offboard.ApplyTx(ctx, tx, offboarding.Change{
		PrincipalID: id, To: to, Actor: actor,
		Visible: func(t string) bool { return t == tenantID },
	})
	if err != nil {
		return store.Principal{}, err
	}
	if out.Changed {
		return out.After, nil
	}
	return out.Before, nil
}

// Record appends the audit event of a change made by another front door
// inside its transaction, in the admin API's form (details are the fields
// that changed between before and after).
func (l *Lifecycle) Record(ctx context.Context, tx store.Tx, actor, action, target, tenantID string, before, after any) error {
	return l.h.record(ctx, tx, &call{tenant: tenantID, actor: actor}, action, target, tenantID, before, after)
}

// SyncBindings binds and unbinds the principals' roles as their SCIM
// groups' mappings say, inside tx, with an audit event per binding (the
// same rule as POST /scim/group-mappings).
func (l *Lifecycle) SyncBindings(ctx context.Context, tx store.Tx, actor, tenantID string, principalIDs []string) error {
	_, err := l.h.syncBindings(ctx, tx, &call{tenant: tenantID, actor: actor}, principalIDs)
	return err
}
