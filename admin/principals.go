package admin

import (
	"context"
	"fmt"
	"net/http"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/offboarding"
	"github.com/authz/authz/store"
)

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
	v := principalView(p)
	if v.Source, err = principalSource(r.Context(), h.st, id); err != nil {
		return err
	}
	return reply(w, http.StatusOK, v)
}

func (h *handler) suspendPrincipal(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.changePrincipal(w, r, c, store.StatusSuspended)
}

func (h *handler) resumePrincipal(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.changePrincipal(w, r, c, store.StatusActive)
}

func (h *handler) deletePrincipal(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.changePrincipal(w, r, c, store.StatusDeleted)
}

// changePrincipal suspends, resumes or deletes through the one operation
// that SCIM and the console share (package offboarding): the reason, the
// dry run, the webhooks and the alerts are there, not here.
func (h *handler) changePrincipal(w http.ResponseWriter, r *http.Request, c *call, to store.Status) error {
	var req apiv1.PrincipalStatusChange
	if err := decode(w, r, &req, maxBody, true); err != nil {
		return err
	}
	q := r.URL.Query()
	if v := q.Get("reason"); v != "" {
		if req.Reason != "" && req.Reason != v {
			return invalid("reason", "given in both the body and the query, differently")
		}
		req.Reason = v
	}
	switch v := q.Get("dry_run"); v {
	case "":
	case "true", "1":
		req.DryRun = true
	case "false", "0":
	default:
		return invalid("dry_run", "must be true or false")
	}
	if err := offboarding.CheckReason(req.Reason); err != nil {
		return err
	}
	id := r.PathValue("id")
	out, err := h.offboard.Apply(r.Context(), offboarding.Change{
		PrincipalID: id, To: to, Actor: c.actor, Reason: req.Reason, DryRun: req.DryRun, Visible: c.sees,
	})
	if err != nil {
		return storeErr(err, "principal", id, "")
	}
	return reply(w, http.StatusOK, principalChangedView(out, req))
}
