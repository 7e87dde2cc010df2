package admin

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/policy"
	"github.com/authz/authz/store"
)

// checkGrants validates scopes or permissions granted inside a tenant.
// authz:admin reaches every tenant, so only the system tenant may grant it.
func checkGrants(field string, vs []string, tenantID string) ([]string, error) {
	out, err := checkTokens(field, vs, 256)
	if err != nil {
		return nil, err
	}
	slices.Sort(out)
	if tenantID != store.SystemTenantID && slices.Contains(out, policy.PermAdmin) {
		return nil, invalid(field, "%s can only be granted in the system tenant; use %s for a tenant's administrators", policy.PermAdmin, policy.PermTenantAdmin)
	}
	return out, nil
}

func (h *handler) createRole(w http.ResponseWriter, r *http.Request, c *call) error {
	var req apiv1.CreateRole
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	if err := checkName("name", req.Name, 100); err != nil {
		return err
	}
	if len(req.Permissions) == 0 {
		return invalid("permissions", "at least one permission is required")
	}
	ctx := r.Context()
	now := h.stamp()
	role := store.Role{ID: store.NewID(store.PrefixRole), Name: req.Name, CreatedAt: now, UpdatedAt: now}
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		t, err := tenantFor(ctx, tx, c, req.TenantID)
		if err != nil {
			return err
		}
		role.TenantID = t.ID
		if role.Permissions, err = checkGrants("permissions", req.Permissions, t.ID); err != nil {
			return err
		}
		if err := tx.CreateRole(ctx, role); err != nil {
			return storeErr(err, "role", role.ID, fmt.Sprintf("name: tenant %s already has a role named %q", t.ID, req.Name))
		}
		return h.record(ctx, tx, c, "role.create", "role:"+role.ID, role.TenantID, nil, roleView(role))
	})
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, roleView(role))
}

func (h *handler) listRoles(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	tenant, ok := c.listTenant(r.URL.Query().Get("tenant_id"))
	if !ok {
		return reply(w, http.StatusOK, list([]apiv1.Role(nil), ""))
	}
	rs, next, err := h.st.ListRoles(r.Context(), store.RoleFilter{TenantID: tenant}, p)
	if err != nil {
		return err
	}
	items := make([]apiv1.Role, 0, len(rs))
	for _, role := range rs {
		items = append(items, roleView(role))
	}
	return reply(w, http.StatusOK, list(items, next))
}

func (h *handler) getRole(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	role, err := h.st.GetRole(r.Context(), id)
	if err != nil {
		return storeErr(err, "role", id, "")
	}
	if !c.sees(role.TenantID) {
		return notFound("role", id)
	}
	return reply(w, http.StatusOK, roleView(role))
}

func (h *handler) updateRole(w http.ResponseWriter, r *http.Request, c *call) error {
	var req apiv1.UpdateRole
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	if req.Permissions == nil {
		return invalid("permissions", "required: the complete new list")
	}
	role, err := update(h, r, c, roleKind(), mutation[store.Role]{id: r.PathValue("id"), action: "role.update", change: func(role store.Role) (store.Role, error) {
		perms, err := checkGrants("permissions", req.Permissions, role.TenantID)
		if err != nil {
			return role, err
		}
		if len(perms) == 0 {
			return role, invalid("permissions", "at least one permission is required; delete the role instead")
		}
		if slices.Equal(perms, role.Permissions) {
			return role, errUnchanged
		}
		role.Permissions, role.UpdatedAt = perms, h.stamp()
		return role, nil
	}})
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, roleView(role))
}

func (h *handler) deleteRole(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	id := r.PathValue("id")
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		role, err := tx.GetRole(ctx, id)
		if err != nil {
			return storeErr(err, "role", id, "")
		}
		if !c.sees(role.TenantID) {
			return notFound("role", id)
		}
		if err := tx.DeleteRole(ctx, id); err != nil {
			return storeErr(err, "role", id, "")
		}
		return h.record(ctx, tx, c, "role.delete", "role:"+id, role.TenantID, roleView(role), nil)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) bind(w http.ResponseWriter, r *http.Request, c *call) error {
	var req apiv1.CreateBinding
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	if req.PrincipalID == "" {
		return invalid("principal_id", "required")
	}
	ctx := r.Context()
	roleID := r.PathValue("id")
	var b store.Binding
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		role, err := tx.GetRole(ctx, roleID)
		if err != nil {
			return storeErr(err, "role", roleID, "")
		}
		if !c.sees(role.TenantID) {
			return notFound("role", roleID)
		}
		p, err := tx.GetPrincipal(ctx, req.PrincipalID)
		if err != nil {
			return storeErr(err, "principal", req.PrincipalID, "")
		}
		switch {
		case !c.sees(p.TenantID):
			return notFound("principal", req.PrincipalID)
		case p.TenantID != role.TenantID:
			return invalid("principal_id", "principal %s is in tenant %s, role %s in tenant %s; bind roles within one tenant", p.ID, p.TenantID, role.ID, role.TenantID)
		case p.Status == store.StatusDeleted:
			return invalid("principal_id", "principal %s was deleted", p.ID)
		}
		b = store.Binding{PrincipalID: p.ID, RoleID: role.ID, TenantID: role.TenantID, CreatedAt: h.stamp()}
		if err := tx.CreateBinding(ctx, b); err != nil {
			return storeErr(err, "binding", bindingID(p.ID, role.ID), fmt.Sprintf("principal %s already has role %s", p.ID, role.ID))
		}
		return h.record(ctx, tx, c, "binding.create", "binding:"+bindingID(b.PrincipalID, b.RoleID), b.TenantID, nil, bindingView(b))
	})
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, bindingView(b))
}

func (h *handler) unbind(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	roleID, principalID := r.PathValue("id"), r.PathValue("principal_id")
	id := bindingID(principalID, roleID)
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		role, err := tx.GetRole(ctx, roleID)
		if err != nil {
			return storeErr(err, "role", roleID, "")
		}
		if !c.sees(role.TenantID) {
			return notFound("role", roleID)
		}
		bs, _, err := tx.ListBindings(ctx, store.BindingFilter{PrincipalID: principalID, RoleID: roleID}, store.Page{Limit: 1})
		if err != nil {
			return err
		}
		if len(bs) == 0 {
			return notFound("binding", id)
		}
		if err := tx.DeleteBinding(ctx, principalID, roleID); err != nil {
			return storeErr(err, "binding", id, "")
		}
		return h.record(ctx, tx, c, "binding.delete", "binding:"+id, role.TenantID, bindingView(bs[0]), nil)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) listBindings(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	tenant, ok := c.listTenant(q.Get("tenant_id"))
	if !ok {
		return reply(w, http.StatusOK, list([]apiv1.Binding(nil), ""))
	}
	bs, next, err := h.st.ListBindings(r.Context(), store.BindingFilter{TenantID: tenant, PrincipalID: q.Get("principal_id"), RoleID: q.Get("role_id")}, p)
	if err != nil {
		return err
	}
	items := make([]apiv1.Binding, 0, len(bs))
	for _, b := range bs {
		items = append(items, bindingView(b))
	}
	return reply(w, http.StatusOK, list(items, next))
}
