package admin

import (
	"fmt"
	"net/http"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

func (h *handler) createTenant(w http.ResponseWriter, r *http.Request, c *call) error {
	var req apiv1.CreateTenant
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	if err := checkName("name", req.Name, 200); err != nil {
		return err
	}
	now := h.stamp()
	t := store.Tenant{
		ID:              store.NewID(store.PrefixTenant),
		Name:            req.Name,
		Status:          store.StatusActive,
		StatusChangedAt: now,
		StatusChangedBy: c.actor,
		CreatedAt:       now,
		UpdatedAt:       now,
	}
	err := h.st.Tx(r.Context(), func(tx store.Tx) error {
		if err := tx.CreateTenant(r.Context(), t); err != nil {
			return storeErr(err, "tenant", t.ID, fmt.Sprintf("name: a tenant named %q already exists", req.Name))
		}
		return h.record(r.Context(), tx, c, "tenant.create", "tenant:"+t.ID, t.ID, nil, tenantView(t))
	})
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, tenantView(t))
}

func (h *handler) listTenants(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	status, err := statusParam(r, store.StatusActive, store.StatusSuspended)
	if err != nil {
		return err
	}
	if !c.global {
		// A tenant admin's listing is its own tenant.
		t, err := h.st.GetTenant(r.Context(), c.tenant)
		if err != nil {
			return storeErr(err, "tenant", c.tenant, "")
		}
		var items []apiv1.Tenant
		if p.After == "" && (status == "" || status == t.Status) {
			items = append(items, tenantView(t))
		}
		return reply(w, http.StatusOK, list(items, ""))
	}
	ts, next, err := h.st.ListTenants(r.Context(), store.TenantFilter{Status: status}, p)
	if err != nil {
		return err
	}
	items := make([]apiv1.Tenant, 0, len(ts))
	for _, t := range ts {
		items = append(items, tenantView(t))
	}
	return reply(w, http.StatusOK, list(items, next))
}

func (h *handler) getTenant(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	if !c.sees(id) {
		return notFound("tenant", id)
	}
	t, err := h.st.GetTenant(r.Context(), id)
	if err != nil {
		return storeErr(err, "tenant", id, "")
	}
	return reply(w, http.StatusOK, tenantView(t))
}

func (h *handler) suspendTenant(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.setTenantStatus(w, r, c, store.StatusSuspended, "tenant.suspend")
}

func (h *handler) resumeTenant(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.setTenantStatus(w, r, c, store.StatusActive, "tenant.resume")
}

func (h *handler) setTenantStatus(w http.ResponseWriter, r *http.Request, c *call, status store.Status, action string) error {
	if err := decode(w, r, &struct{}{}, maxBody, true); err != nil {
		return err
	}
	id := r.PathValue("id")
	if id == store.SystemTenantID && status == store.StatusSuspended {
		return errcode.New(errcode.RequestInvalid, "id: the system tenant holds the admin clients and cannot be suspended")
	}
	return h.updateTenant(w, r, c, id, action, func(t store.Tenant) (store.Tenant, error) {
		if t.Status == status {
			return t, errUnchanged
		}
		now := h.stamp()
		t.Status, t.StatusChangedAt, t.StatusChangedBy, t.UpdatedAt = status, now, c.actor, now
		return t, nil
	})
}

func (h *handler) setSunset(w http.ResponseWriter, r *http.Request, c *call) error {
	var req apiv1.SetSunset
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	if req.LegacySunsetAt.IsZero() {
		return invalid("legacy_sunset_at", "required (RFC 3339, like 2026-01-31T00:00:00Z)")
	}
	at := req.LegacySunsetAt.UTC().Truncate(time.Microsecond)
	return h.updateTenant(w, r, c, r.PathValue("id"), "tenant.set_sunset", func(t store.Tenant) (store.Tenant, error) {
		if t.LegacySunsetAt != nil && t.LegacySunsetAt.Equal(at) {
			return t, errUnchanged
		}
		t.LegacySunsetAt, t.UpdatedAt = &at, h.stamp()
		return t, nil
	})
}

func (h *handler) clearSunset(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.updateTenant(w, r, c, r.PathValue("id"), "tenant.set_sunset", func(t store.Tenant) (store.Tenant, error) {
		if t.LegacySunsetAt == nil {
			return t, errUnchanged
		}
		t.LegacySunsetAt, t.UpdatedAt = nil, h.stamp()
		return t, nil
	})
}

func (h *handler) updateTenant(w http.ResponseWriter, r *http.Request, c *call, id, action string, fn func(store.Tenant) (store.Tenant, error)) error {
	t, err := update(h, r, c, tenantKind(), mutation[store.Tenant]{id: id, action: action, change: fn})
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, tenantView(t))
}
