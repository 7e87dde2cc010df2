package admin

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/notify"
	"github.com/authz/authz/store"
)

// PrincipalSuspended is the data of the notify.PrincipalSuspended webhook:
// who was suspended, by whom, and how many active legacy keys and clients
// stop working because of it.
type PrincipalSuspended struct {
	PrincipalID   string    `json:"principal_id"`
	TenantID      string    `json:"tenant_id"`
	Kind          string    `json:"kind"`
	Name          string    `json:"name"`
	ExternalID    string    `json:"external_id,omitempty"`
	SuspendedAt   time.Time `json:"suspended_at"`
	SuspendedBy   string    `json:"suspended_by"`
	ActiveKeys    int       `json:"active_keys"`
	ActiveClients int       `json:"active_clients"`
}

// tenantFor decides which tenant a new object goes into: the one asked for,
// which must exist and be one the caller sees, or the tenant admin's own.
func tenantFor(ctx context.Context, q store.Queries, c *call, asked string) (store.Tenant, error) {
	if asked == "" {
		if c.global {
			return store.Tenant{}, invalid("tenant_id", "required")
		}
		asked = c.tenant
	}
	if !c.sees(asked) {
		return store.Tenant{}, notFound("tenant", asked)
	}
	t, err := q.GetTenant(ctx, asked)
	return t, storeErr(err, "tenant", asked, "")
}

func (h *handler) createPrincipal(w http.ResponseWriter, r *http.Request, c *call) error {
	var req apiv1.CreatePrincipal
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	kind := store.PrincipalKind(req.Kind)
	if kind != store.KindUser && kind != store.KindService {
		return invalid("kind", "must be user or service")
	}
	if err := checkName("name", req.Name, 200); err != nil {
		return err
	}
	if req.ExternalID != "" {
		if err := checkName("external_id", req.ExternalID, 200); err != nil {
			return err
		}
	}
	ctx := r.Context()
	now := h.stamp()
	p := store.Principal{
		ID:              store.NewID(store.PrefixPrincipal),
		Kind:            kind,
		DisplayName:     req.Name,
		ExternalID:      req.ExternalID,
		Status:          store.StatusActive,
		StatusChangedAt: now,
		StatusChangedBy: c.actor,
		CreatedAt:       now,
		UpdatedAt:       now,
	}
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		t, err := tenantFor(ctx, tx, c, req.TenantID)
		if err != nil {
			return err
		}
		p.TenantID = t.ID
		if err := tx.CreatePrincipal(ctx, p); err != nil {
			return storeErr(err, "principal", p.ID, fmt.Sprintf("external_id: tenant %s already has a principal with external id %q", t.ID, req.ExternalID))
		}
		return h.record(ctx, tx, c, "principal.create", "principal:"+p.ID, p.TenantID, nil, principalView(p))
	})
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, principalView(p))
}

func (h *handler) listPrincipals(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	status, err := statusParam(r, store.StatusActive, store.StatusSuspended, store.StatusDeleted)
	if err != nil {
		return err
	}
	kind := store.PrincipalKind(q.Get("kind"))
	if kind != "" && kind != store.KindUser && kind != store.KindService {
		return invalid("kind", "must be user or service")
	}
	tenant, ok := c.listTenant(q.Get("tenant_id"))
	if !ok {
		return reply(w, http.StatusOK, list([]apiv1.Principal(nil), ""))
	}
	ps, next, err := h.st.ListPrincipals(r.Context(), store.PrincipalFilter{TenantID: tenant, Status: status, Kind: kind, ExternalID: q.Get("external_id")}, p)
	if err != nil {
		return err
	}
	items := make([]apiv1.Principal, 0, len(ps))
	for _, p := range ps {
		items = append(items, principalView(p))
	}
	return reply(w, http.StatusOK, list(items, next))
}

func (h *handler) getPrincipal(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	p, err := h.st.GetPrincipal(r.Context(), id)
	if err != nil {
		return storeErr(err, "principal", id, "")
	}
	if !c.sees(p.TenantID) {
		return notFound("principal", id)
	}
	return reply(w, http.StatusOK, principalView(p))
}

func (h *handler) suspendPrincipal(w http.ResponseWriter, r *http.Request, c *call) error {
	m := h.principalStatus(r, c, store.StatusSuspended, "principal.suspend")
	m.also = h.notifySuspended(c)
	return h.updatePrincipal(w, r, c, m)
}

func (h *handler) resumePrincipal(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.updatePrincipal(w, r, c, h.principalStatus(r, c, store.StatusActive, "principal.resume"))
}

func (h *handler) principalStatus(r *http.Request, c *call, status store.Status, action string) mutation[store.Principal] {
	id := r.PathValue("id")
	return mutation[store.Principal]{id: id, action: action, change: func(p store.Principal) (store.Principal, error) {
		switch p.Status {
		case status:
			return p, errUnchanged
		case store.StatusDeleted:
			return p, errcode.Newf(errcode.Conflict, "principal %s was deleted; a deleted principal cannot be suspended or resumed", id)
		}
		now := h.stamp()
		p.Status, p.StatusChangedAt, p.StatusChangedBy, p.UpdatedAt = status, now, c.actor, now
		return p, nil
	}}
}

func (h *handler) deletePrincipal(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.updatePrincipal(w, r, c, mutation[store.Principal]{id: r.PathValue("id"), action: "principal.delete", change: func(p store.Principal) (store.Principal, error) {
		if p.Status == store.StatusDeleted {
			return p, errUnchanged
		}
		// A tombstone, not a removal: a key or client that still points
		// here is refused as owner_deleted, not as a mystery.
		now := h.stamp()
		p.Status, p.StatusChangedAt, p.StatusChangedBy, p.UpdatedAt = store.StatusDeleted, now, c.actor, now
		p.DeletedAt, p.DeletedBy = &now, c.actor
		return p, nil
	}})
}

func (h *handler) updatePrincipal(w http.ResponseWriter, r *http.Request, c *call, m mutation[store.Principal]) error {
	if err := decode(w, r, &struct{}{}, maxBody, true); err != nil {
		return err
	}
	p, err := update(h, r, c, principalKind(), m)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, principalView(p))
}

// notifySuspended queues the principal.suspended webhook in the
// suspension's transaction, so that receivers hear of every suspension that
// happened and of none that did not.
func (h *handler) notifySuspended(c *call) func(context.Context, store.Tx, store.Principal, store.Principal) error {
	return func(ctx context.Context, tx store.Tx, _, p store.Principal) error {
		if h.notifier == nil {
			return nil
		}
		keys, err := countAll(ctx, func(pg store.Page) (int, string, error) {
			ks, next, err := tx.ListLegacyKeys(ctx, store.LegacyKeyFilter{OwnerID: p.ID, Status: store.StatusActive}, pg)
			return len(ks), next, err
		})
		if err != nil {
			return err
		}
		clients, err := countAll(ctx, func(pg store.Page) (int, string, error) {
			cs, next, err := tx.ListClients(ctx, store.ClientFilter{OwnerID: p.ID, Status: store.StatusActive}, pg)
			return len(cs), next, err
		})
		if err != nil {
			return err
		}
		return h.notifier.Enqueue(ctx, tx, notify.PrincipalSuspended, PrincipalSuspended{
			PrincipalID:   p.ID,
			TenantID:      p.TenantID,
			Kind:          string(p.Kind),
			Name:          p.DisplayName,
			ExternalID:    p.ExternalID,
			SuspendedAt:   p.StatusChangedAt.UTC(),
			SuspendedBy:   c.actor,
			ActiveKeys:    keys,
			ActiveClients: clients,
		})
	}
}

// countAll pages through a listing and counts its items.
func countAll(ctx context.Context, page func(store.Page) (int, string, error)) (int, error) {
	total := 0
	p := store.Page{Limit: store.MaxLimit}
	for {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		n, next, err := page(p)
		if err != nil {
			return 0, err
		}
		total += n
		if next == "" {
			return total, nil
		}
		p.After = next
	}
}
