package admin

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/policy"
	"github.com/authz/authz/store"
)

// Audiences (issue 18 §4): resource servers a tenant registers, so that
// only its tokens, and those of the tenants it shares them with, can name
// them. The owner's administrators (and authz:admin) change an audience;
// a tenant it is shared with sees it, and only itself among the shares.

// audienceView is what c may see of a: the owner's administrators see
// every share, a tenant it is shared with sees only itself, so that one
// borrower does not learn who else borrows.
func audienceView(a store.Audience, c *call) apiv1.Audience {
	shared := a.SharedWith
	if !c.sees(a.TenantID) {
		shared = []string{c.tenant}
	}
	return apiv1.Audience{
		ID: a.ID, Identifier: a.Identifier, TenantID: a.TenantID, SharedWith: orEmpty(shared),
		CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(),
	}
}

// visible reports whether c may see a: its owner's or a borrower's
// administrators, and authz:admin.
func visibleAudience(a store.Audience, c *call) bool {
	return c.sees(a.TenantID) || (!c.global && a.Requestable(c.tenant))
}

// checkClientAudiences refuses a client's allowed audiences that its
// tenant may not request: registering a client for another tenant's API
// is what issue 18 §4 closes.
func (h *handler) checkClientAudiences(ctx context.Context, q store.Queries, tenantID string, auds []string) error {
	err := policy.CheckAudiences(ctx, q, tenantID, auds, h.open)
	if e, ok := errcode.As(err); ok {
		return errcode.New(e.Code, "audiences: "+e.Text())
	}
	return err
}

// sharedTenant checks a tenant named in shared_with.
func sharedTenant(ctx context.Context, q store.Queries, field, id string) error {
	if id == "" {
		return invalid(field, "required: a tenant id")
	}
	if _, err := q.GetTenant(ctx, id); err != nil {
		return storeErr(err, "tenant", id, "")
	}
	return nil
}

func (h *handler) createAudience(w http.ResponseWriter, r *http.Request, c *call) error {
	var req apiv1.CreateAudience
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	if req.Identifier == "" {
		return invalid("identifier", "required: the API's identifier, usually its URL")
	}
	ids, err := checkTokens("identifier", []string{req.Identifier}, 1)
	if err != nil {
		return err
	}
	if slices.Contains(h.open, req.Identifier) {
		return invalid("identifier", "%q is the issuer's own identifier, which every tenant's tokens may name; register the API's own URL", req.Identifier)
	}
	shared, err := checkTokens("shared_with", req.SharedWith, 256)
	if err != nil {
		return err
	}
	ctx := r.Context()
	now := h.stamp()
	a := store.Audience{ID: store.NewID(store.PrefixAudience), Identifier: ids[0], CreatedAt: now, UpdatedAt: now}
	err = h.st.Tx(ctx, func(tx store.Tx) error {
		t, err := tenantFor(ctx, tx, c, req.TenantID)
		if err != nil {
			return err
		}
		a.TenantID = t.ID
		for i, id := range shared {
			if err := sharedTenant(ctx, tx, fmt.Sprintf("shared_with[%d]", i), id); err != nil {
				return err
			}
			if id != t.ID {
				a.SharedWith = append(a.SharedWith, id)
			}
		}
		slices.Sort(a.SharedWith)
		if err := tx.CreateAudience(ctx, a); err != nil {
			return storeErr(err, "audience", a.ID, fmt.Sprintf(
				"identifier: %q is already registered; identifiers are unique across all tenants of this issuer, so ask the tenant that registered it to share it with yours", a.Identifier))
		}
		return h.record(ctx, tx, c, "audience.create", "audience:"+a.ID, a.TenantID, nil, audienceView(a, c))
	})
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, audienceView(a, c))
}

func (h *handler) listAudiences(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	tenant, ok := c.listTenant(r.URL.Query().Get("tenant_id"))
	if !ok {
		return reply(w, http.StatusOK, list([]apiv1.Audience(nil), ""))
	}
	as, next, err := h.st.ListAudiences(r.Context(), store.AudienceFilter{TenantID: tenant}, p)
	if err != nil {
		return err
	}
	items := make([]apiv1.Audience, 0, len(as))
	for _, a := range as {
		items = append(items, audienceView(a, c))
	}
	return reply(w, http.StatusOK, list(items, next))
}

func (h *handler) getAudience(w http.ResponseWriter, r *http.Request, c *call) error {
	id := r.PathValue("id")
	a, err := h.st.GetAudience(r.Context(), id)
	if err != nil {
		return storeErr(err, "audience", id, "")
	}
	if !visibleAudience(a, c) {
		return notFound("audience", id)
	}
	return reply(w, http.StatusOK, audienceView(a, c))
}

// ownedAudience reads an audience that c may change.
func ownedAudience(ctx context.Context, q store.Queries, c *call, id string) (store.Audience, error) {
	a, err := q.GetAudience(ctx, id)
	if err != nil {
		return a, storeErr(err, "audience", id, "")
	}
	switch {
	case c.sees(a.TenantID):
		return a, nil
	case visibleAudience(a, c):
		return a, errcode.Newf(errcode.Forbidden, "audience %s belongs to tenant %s; only that tenant's administrators change it", id, a.TenantID)
	}
	return a, notFound("audience", id)
}

// deleteAudience removes an audience. Tokens already issued for it live
// out their lifetime; new ones are refused at once, including for clients
// that still list it, and the identifier is free to be registered again.
func (h *handler) deleteAudience(w http.ResponseWriter, r *http.Request, c *call) error {
	ctx := r.Context()
	id := r.PathValue("id")
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		a, err := ownedAudience(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteAudience(ctx, id); err != nil {
			return storeErr(err, "audience", id, "")
		}
		return h.record(ctx, tx, c, "audience.delete", "audience:"+id, a.TenantID, audienceView(a, c), nil)
	})
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *handler) shareAudience(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.changeShares(w, r, c, "audience.share", true)
}

func (h *handler) unshareAudience(w http.ResponseWriter, r *http.Request, c *call) error {
	return h.changeShares(w, r, c, "audience.unshare", false)
}

// changeShares adds or removes one tenant from an audience's shares.
// Doing what is already done answers 200 with no change and no event.
func (h *handler) changeShares(w http.ResponseWriter, r *http.Request, c *call, action string, share bool) error {
	var req apiv1.ShareAudience
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	var after store.Audience
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		before, err := ownedAudience(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if share {
			if err := sharedTenant(ctx, tx, "tenant_id", req.TenantID); err != nil {
				return err
			}
			if req.TenantID == before.TenantID {
				return invalid("tenant_id", "tenant %s owns the audience", req.TenantID)
			}
		} else if req.TenantID == "" {
			return invalid("tenant_id", "required: a tenant id")
		}
		if slices.Contains(before.SharedWith, req.TenantID) == share {
			after = before
			return nil
		}
		after, err = tx.UpdateAudience(ctx, id, func(a store.Audience) (store.Audience, error) {
			if share {
				a.SharedWith = append(slices.Clone(a.SharedWith), req.TenantID)
			} else {
				a.SharedWith = slices.DeleteFunc(slices.Clone(a.SharedWith), func(t string) bool { return t == req.TenantID })
			}
			a.UpdatedAt = h.stamp()
			return a, nil
		})
		if err != nil {
			return storeErr(err, "audience", id, "")
		}
		return h.record(ctx, tx, c, action, "audience:"+id, after.TenantID, audienceView(before, c), audienceView(after, c))
	})
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, audienceView(after, c))
}
