package admin

import (
	"context"
	"time"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/store"
)

// record appends the audit event of a change inside the change's
// transaction: if either fails, neither is kept. before and after are views
// of the object (zero values for a creation or a removal); the event's
// details are the fields that changed.
func (h *handler) record(ctx context.Context, tx store.Tx, cl *call, action, target, tenantID string, before, after any) error {
	return audit.Append(ctx, tx, store.AuditEvent{
		Time:     h.stamp(),
		Actor:    cl.actor,
		Action:   action,
		Target:   target,
		TenantID: tenantID,
		Outcome:  audit.OutcomeSuccess,
		Details:  audit.Changes(before, after),
	})
}

// stamp is the time of a change, at the store's precision.
func (h *handler) stamp() time.Time { return h.now().UTC().Truncate(time.Microsecond) }
