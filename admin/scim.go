package admin

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// SCIMTokenPrefix starts every SCIM connector token, so that a token found
// in a log or a repository says what it is.
const SCIMTokenPrefix = "authz_scim_"

// newSCIMToken returns a connector token: 256 random bits.
func newSCIMToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return SCIMTokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

func scimTokenView(t store.SCIMToken) apiv1.SCIMToken {
	return apiv1.SCIMToken{
		ID: t.ID, TenantID: t.TenantID, Name: t.Name, CreatedAt: t.CreatedAt.UTC(), CreatedBy: t.CreatedBy,
		RevokedAt: utcPtr(t.RevokedAt), RevokedBy: t.RevokedBy, LastUsedAt: utcPtr(t.LastUsedAt),
	}
}

// createSCIMToken creates a tenant's connector token. The token is in this
// answer only; the store keeps its keyed hash, as for client secrets.
func (h *handler) createSCIMToken(w http.ResponseWriter, r *http.Request, c *call) error {
	var req apiv1.CreateSCIMToken
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	if req.Name == "" {
		req.Name = "SCIM"
	}
	if err := checkName("name", req.Name, 100); err != nil {
		return err
	}
	ctx := r.Context()
	plain := newSCIMToken()
	tok := store.SCIMToken{ID: store.NewID(store.PrefixSCIMToken), Name: req.Name, Hash: h.secrets.Hash(plain), CreatedAt: h.stamp(), CreatedBy: c.actor}
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		t, err := tenantFor(ctx, tx, c, req.TenantID)
		if err != nil {
			return err
		}
		tok.TenantID = t.ID
		if err := tx.CreateSCIMToken(ctx, tok); err != nil {
			return err
		}
		return h.record(ctx, tx, c, "scim_token.create", "scim_token:"+tok.ID, tok.TenantID, nil, scimTokenView(tok))
	})
	if err != nil {
		return err
	}
	v := scimTokenView(tok)
	v.Token = plain
	return reply(w, http.StatusCreated, v)
}

func (h *handler) listSCIMTokens(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	tenant, ok := c.listTenant(r.URL.Query().Get("tenant_id"))
	if !ok {
		return reply(w, http.StatusOK, list([]apiv1.SCIMToken(nil), ""))
	}
	ts, next, err := h.st.ListSCIMTokens(r.Context(), tenant, p)
	if err != nil {
		return err
	}
	items := make([]apiv1.SCIMToken, 0, len(ts))
	for _, t := range ts {
		items = append(items, scimTokenView(t))
	}
	return reply(w, http.StatusOK, list(items, next))
}

func (h *handler) revokeSCIMToken(w http.ResponseWriter, r *http.Request, c *call) error {
	if err := decode(w, r, &struct{}{}, maxBody, true); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	var out store.SCIMToken
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		var before store.SCIMToken
		var changed bool
		t, err := tx.UpdateSCIMToken(ctx, id, func(t store.SCIMToken) (store.SCIMToken, error) {
			before = t
			if !c.sees(t.TenantID) {
				return t, errHidden
			}
			if t.RevokedAt == nil {
				now := h.stamp()
				t.RevokedAt, t.RevokedBy, changed = &now, c.actor, true
			}
			return t, nil
		})
		if errors.Is(err, errHidden) {
			return notFound("scim token", id)
		}
		if err != nil {
			return storeErr(err, "scim token", id, "")
		}
		out = t
		if !changed {
			return nil
		}
		return h.record(ctx, tx, c, "scim_token.revoke", "scim_token:"+id, t.TenantID, scimTokenView(before), scimTokenView(t))
	})
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, scimTokenView(out))
}

func mappingView(m store.SCIMGroupMapping) apiv1.SCIMGroupMapping {
	return apiv1.SCIMGroupMapping{ID: m.TenantID + "/" + m.Group + "/" + m.RoleID, TenantID: m.TenantID, Group: m.Group, RoleID: m.RoleID, CreatedAt: m.CreatedAt.UTC()}
}

// createSCIMGroupMapping maps an IdP group's display name to a role and
// binds the group's present members at once (later members are bound as
// the IdP adds them).
func (h *handler) createSCIMGroupMapping(w http.ResponseWriter, r *http.Request, c *call) error {
	var req apiv1.CreateSCIMGroupMapping
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	if err := checkName("group", req.Group, 256); err != nil {
		return err
	}
	if req.Role == "" {
		return invalid("role", "required: a role id or name")
	}
	ctx := r.Context()
	now := h.stamp()
	var out apiv1.SCIMGroupMapping
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		t, err := tenantFor(ctx, tx, c, req.TenantID)
		if err != nil {
			return err
		}
		role, err := roleOf(ctx, tx, t.ID, req.Role)
		if err != nil {
			return err
		}
		m := store.SCIMGroupMapping{TenantID: t.ID, Group: req.Group, RoleID: role.ID, CreatedAt: now}
		if err := tx.CreateSCIMGroupMapping(ctx, m); err != nil {
			return storeErr(err, "role", role.ID, fmt.Sprintf("group %q is already mapped to role %s", req.Group, role.Name))
		}
		out = mappingView(m)
		if err := h.record(ctx, tx, c, "scim.map_group", "role:"+role.ID, t.ID, nil, out); err != nil {
			return err
		}
		members, err := groupMembers(ctx, tx, t.ID, req.Group)
		if err != nil {
			return err
		}
		out.Bound, err = h.syncBindings(ctx, tx, c, members)
		return err
	})
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, out)
}

// deleteSCIMGroupMapping removes a group's mapping to a role (query
// tenant_id, group, role) and the bindings it made: each member of the
// group loses the role unless another mapped group of theirs gives it, or
// an operator bound it.
func (h *handler) deleteSCIMGroupMapping(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	group, roleRef := q.Get("group"), q.Get("role")
	if err := checkName("group", group, 256); err != nil {
		return err
	}
	if roleRef == "" {
		return invalid("role", "required: a role id or name")
	}
	ctx := r.Context()
	var out apiv1.SCIMGroupMapping
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		t, err := tenantFor(ctx, tx, c, q.Get("tenant_id"))
		if err != nil {
			return err
		}
		role, err := roleOf(ctx, tx, t.ID, roleRef)
		if err != nil {
			return err
		}
		m, err := tx.DeleteSCIMGroupMapping(ctx, t.ID, group, role.ID)
		if errors.Is(err, store.ErrNotFound) {
			return errcode.Newf(errcode.NotFound, "group %q is not mapped to role %s in tenant %s", group, role.Name, t.ID)
		}
		if err != nil {
			return err
		}
		out = mappingView(m)
		if err := h.record(ctx, tx, c, "scim.unmap_group", "role:"+role.ID, t.ID, out, nil); err != nil {
			return err
		}
		members, err := groupMembers(ctx, tx, t.ID, m.Group)
		if err != nil {
			return err
		}
		out.Unbound, err = h.unbindSCIM(ctx, tx, c, members)
		return err
	})
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, out)
}

// unbindSCIM is syncBindings after a mapping went: it returns how many
// bindings it removed.
func (h *handler) unbindSCIM(ctx context.Context, tx store.Tx, c *call, principalIDs []string) (int, error) {
	removed := 0
	for _, id := range principalIDs {
		add, rem, err := tx.SyncSCIMBindings(ctx, id, h.stamp())
		if err != nil {
			return removed, err
		}
		if err := h.recordBindings(ctx, tx, c, add, rem); err != nil {
			return removed, err
		}
		removed += len(rem)
	}
	return removed, nil
}

// roleOf finds a tenant's role by id or, failing that, by name.
func roleOf(ctx context.Context, q store.Queries, tenantID, idOrName string) (store.Role, error) {
	if strings.HasPrefix(idOrName, store.PrefixRole) {
		if ro, err := q.GetRole(ctx, idOrName); err == nil && ro.TenantID == tenantID {
			return ro, nil
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return store.Role{}, err
		}
	}
	ro, err := q.GetRoleByName(ctx, tenantID, idOrName)
	if errors.Is(err, store.ErrNotFound) {
		return store.Role{}, errcode.Newf(errcode.NotFound, "tenant %s has no role %q", tenantID, idOrName)
	}
	return ro, err
}

// syncBindings brings the principals' bindings in line with the roles
// mapped to their SCIM groups (store.Tx.SyncSCIMBindings), with a
// binding.create or binding.delete audit event for each change. It returns
// how many bindings it added.
func (h *handler) syncBindings(ctx context.Context, tx store.Tx, c *call, principalIDs []string) (int, error) {
	added := 0
	for _, id := range principalIDs {
		add, rem, err := tx.SyncSCIMBindings(ctx, id, h.stamp())
		if err != nil {
			return added, err
		}
		if err := h.recordBindings(ctx, tx, c, add, rem); err != nil {
			return added, err
		}
		added += len(add)
	}
	return added, nil
}

// recordBindings audits a sync's changes: binding.create and
// binding.delete events.
func (h *handler) recordBindings(ctx context.Context, tx store.Tx, c *call, add, rem []store.Binding) error {
	for _, b := range add {
		if err := h.record(ctx, tx, c, "binding.create", "binding:"+bindingID(b.PrincipalID, b.RoleID), b.TenantID, nil, bindingView(b)); err != nil {
			return err
		}
	}
	for _, b := range rem {
		if err := h.record(ctx, tx, c, "binding.delete", "binding:"+bindingID(b.PrincipalID, b.RoleID), b.TenantID, bindingView(b), nil); err != nil {
			return err
		}
	}
	return nil
}

// groupMembers lists the members of the tenant's group of that display
// name (none if the IdP has not pushed it yet).
func groupMembers(ctx context.Context, q store.Queries, tenantID, group string) ([]string, error) {
	gs, _, err := q.ListSCIMGroups(ctx, store.SCIMGroupFilter{TenantID: tenantID, DisplayName: group}, 0, 1)
	if err != nil || len(gs) == 0 {
		return nil, err
	}
	return q.ListSCIMGroupMembers(ctx, gs[0].ID)
}

func (h *handler) listSCIMGroupMappings(w http.ResponseWriter, r *http.Request, c *call) error {
	tenant, ok := c.listTenant(r.URL.Query().Get("tenant_id"))
	if !ok {
		return reply(w, http.StatusOK, list([]apiv1.SCIMGroupMapping(nil), ""))
	}
	ms, err := h.st.ListSCIMGroupMappings(r.Context(), tenant)
	if err != nil {
		return err
	}
	items := make([]apiv1.SCIMGroupMapping, 0, len(ms))
	for _, m := range ms {
		items = append(items, mappingView(m))
	}
	return reply(w, http.StatusOK, list(items, ""))
}

// principalSource is the view of a principal's SCIM source, nil if no IdP
// governs it.
func principalSource(ctx context.Context, q store.Queries, principalID string) (*apiv1.PrincipalSource, error) {
	u, err := q.GetSCIMUser(ctx, principalID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	src := &apiv1.PrincipalSource{TokenID: u.TokenID, LinkedBy: u.LinkedBy, UserName: u.UserName, ExternalID: u.ExternalID,
		LinkedAt: u.CreatedAt.UTC(), DeletedAt: utcPtr(u.DeletedAt)}
	if t, err := q.GetSCIMToken(ctx, u.TokenID); err == nil {
		src.TokenName = t.Name
	}
	return src, nil
}
