package offboarding

import (
	"context"
	"encoding/json"
	"time"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/notify"
	"github.com/authz/authz/store"
)

// Suspended is the data of the principal.suspended webhook: who was
// suspended, by whom, why, and how many active legacy keys and clients
// stop working because of it.
type Suspended struct {
	PrincipalID   string    `json:"principal_id"`
	TenantID      string    `json:"tenant_id"`
	Kind          string    `json:"kind"`
	Name          string    `json:"name"`
	ExternalID    string    `json:"external_id,omitempty"`
	SuspendedAt   time.Time `json:"suspended_at"`
	SuspendedBy   string    `json:"suspended_by"`
	Reason        string    `json:"reason,omitempty"`
	ActiveKeys    int       `json:"active_keys"`
	ActiveClients int       `json:"active_clients"`
}

// Resumed is the data of the principal.resumed webhook.
type Resumed struct {
	PrincipalID   string    `json:"principal_id"`
	TenantID      string    `json:"tenant_id"`
	Kind          string    `json:"kind"`
	Name          string    `json:"name"`
	ExternalID    string    `json:"external_id,omitempty"`
	ResumedAt     time.Time `json:"resumed_at"`
	ResumedBy     string    `json:"resumed_by"`
	Reason        string    `json:"reason,omitempty"`
	ActiveKeys    int       `json:"active_keys"`
	ActiveClients int       `json:"active_clients"`
}

// CredentialsBroken is the data of the principal.credentials_broken
// webhook: the credentials used in the last 7 days that the change stops,
// each with its last use and remedy.
type CredentialsBroken struct {
	PrincipalID string       `json:"principal_id"`
	TenantID    string       `json:"tenant_id"`
	Kind        string       `json:"kind"`
	Name        string       `json:"name"`
	ExternalID  string       `json:"external_id,omitempty"`
	Status      string       `json:"status"` // "suspended" or "deleted"
	ChangedAt   time.Time    `json:"changed_at"`
	ChangedBy   string       `json:"changed_by"`
	Reason      string       `json:"reason,omitempty"`
	Credentials []Credential `json:"credentials"`
	Remedy      string       `json:"remedy"`
}

// BrokenRemedy is the advice of a credentials_broken notice.
const BrokenRemedy = "Give the credentials to a service principal that outlives any person: " +
	"`authz key reassign KEY --owner <service principal>` for each legacy key, a new client owned by it for each client; " +
	"or resume the principal (`authz principal resume ID`) if the change was a mistake."

// announce queues the change's webhooks and runs the watcher, in tx.
func (s *Service) announce(ctx context.Context, tx store.Tx, ch Change, out Outcome, now time.Time) error {
	p, im := out.After, out.Impact
	switch ch.To {
	case store.StatusSuspended:
		if err := s.enqueue(ctx, tx, notify.PrincipalSuspended, Suspended{
			PrincipalID: p.ID, TenantID: p.TenantID, Kind: string(p.Kind), Name: p.DisplayName, ExternalID: p.ExternalID,
			SuspendedAt: now, SuspendedBy: ch.Actor, Reason: ch.Reason, ActiveKeys: im.ActiveKeys, ActiveClients: im.ActiveClients,
		}); err != nil {
			return err
		}
	case store.StatusActive:
		return s.enqueue(ctx, tx, notify.PrincipalResumed, Resumed{
			PrincipalID: p.ID, TenantID: p.TenantID, Kind: string(p.Kind), Name: p.DisplayName, ExternalID: p.ExternalID,
			ResumedAt: now, ResumedBy: ch.Actor, Reason: ch.Reason, ActiveKeys: im.ActiveKeys, ActiveClients: im.ActiveClients,
		})
	}
	// A suspended principal's credentials stopped at its suspension; its
	// deletion breaks nothing more.
	var broken []Credential
	if out.Before.Status == store.StatusActive {
		for _, c := range im.Credentials {
			if c.UsedRecently {
				broken = append(broken, c)
			}
		}
	}
	if len(broken) > 0 {
		data := CredentialsBroken{
			PrincipalID: p.ID, TenantID: p.TenantID, Kind: string(p.Kind), Name: p.DisplayName, ExternalID: p.ExternalID,
			Status: string(p.Status), ChangedAt: now, ChangedBy: ch.Actor, Reason: ch.Reason, Credentials: broken, Remedy: BrokenRemedy,
		}
		details, err := json.Marshal(map[string]any{"credentials": ids(broken), "reason": ch.Reason})
		if err != nil {
			return err
		}
		// Its own audit event, so that the trail (and alert.admin_burst)
		// can tell the offboardings that broke credentials in use.
		if err := audit.Append(ctx, tx, store.AuditEvent{
			Time: now, Actor: ch.Actor, Action: ActionCredentialsBroken, Target: "principal:" + p.ID, TenantID: p.TenantID,
			Outcome: audit.OutcomeSuccess, Details: details,
		}); err != nil {
			return err
		}
		if err := s.enqueue(ctx, tx, notify.PrincipalCredentialsBroken, data); err != nil {
			return err
		}
	}
	if s.watcher != nil {
		return s.watcher.PrincipalOffboarded(ctx, tx, ch.Actor, p, len(broken))
	}
	return nil
}

// ActionCredentialsBroken is the audit action of a credentials_broken
// notice.
const ActionCredentialsBroken = "principal.credentials_broken"

func ids(cs []Credential) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = credential(c)
	}
	return out
}

func (s *Service) enqueue(ctx context.Context, tx store.Tx, event string, data any) error {
	if s.notifier == nil {
		return nil
	}
	return s.notifier.Enqueue(ctx, tx, event, data)
}
