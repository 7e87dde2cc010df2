package admin

import (
	"context"
	"errors"
	"net/http"

	"github.com/authz/authz/store"
)

// kind describes one kind of stored object to the generic update path.
type kind[T any] struct {
	name     string // "principal": in targets ("principal:<id>") and messages
	tenantOf func(T) string
	// ownerOf, if set, is the principal owning the object: a plain
	// principal (Access.Owner) sees only its own. Kinds without it are
	// hidden from plain principals.
	ownerOf func(T) string
	view    func(T) any
	update  func(tx store.Tx) func(context.Context, string, func(T) (T, error)) (T, error)
}

// The kinds of object the generic update path handles.
func tenantKind() kind[store.Tenant] {
	return kind[store.Tenant]{
		name:     "tenant",
		tenantOf: func(t store.Tenant) string { return t.ID },
		view:     func(t store.Tenant) any { return tenantView(t) },
		update: func(tx store.Tx) func(context.Context, string, func(store.Tenant) (store.Tenant, error)) (store.Tenant, error) {
			return tx.UpdateTenant
		},
	}
}

func principalKind() kind[store.Principal] {
	return kind[store.Principal]{
		name:     "principal",
		tenantOf: func(p store.Principal) string { return p.TenantID },
		view:     func(p store.Principal) any { return principalView(p) },
		update: func(tx store.Tx) func(context.Context, string, func(store.Principal) (store.Principal, error)) (store.Principal, error) {
			return tx.UpdatePrincipal
		},
	}
}

func roleKind() kind[store.Role] {
	return kind[store.Role]{
		name:     "role",
		tenantOf: func(r store.Role) string { return r.TenantID },
		view:     func(r store.Role) any { return roleView(r) },
		update: func(tx store.Tx) func(context.Context, string, func(store.Role) (store.Role, error)) (store.Role, error) {
			return tx.UpdateRole
		},
	}
}

func clientKind() kind[store.Client] {
	return kind[store.Client]{
		name:     "client",
		tenantOf: func(c store.Client) string { return c.TenantID },
		ownerOf:  func(c store.Client) string { return c.OwnerID },
		view:     func(c store.Client) any { return clientView(c) },
		update: func(tx store.Tx) func(context.Context, string, func(store.Client) (store.Client, error)) (store.Client, error) {
			return tx.UpdateClient
		},
	}
}

// visible reports whether the caller sees the object.
func (k kind[T]) visible(c *call, t T) bool {
	if c.access.Owner == "" {
		return c.sees(k.tenantOf(t))
	}
	return k.ownerOf != nil && c.owns(k.tenantOf(t), k.ownerOf(t))
}

var errHidden = errors.New("admin: object of another tenant")

// mutation is one update of one object.
type mutation[T any] struct {
	id     string
	action string
	// change returns the object changed, errUnchanged, or a refusal.
	change func(T) (T, error)
	// also runs in the same transaction after the change (a webhook).
	also func(ctx context.Context, tx store.Tx, before, after T) error
}

// update applies m inside one transaction: objects of a tenant the caller
// does not see are not found; the audit event (and m.also) commit with the
// change or not at all. It returns the object as it now is.
func update[T any](h *handler, r *http.Request, c *call, k kind[T], m mutation[T]) (T, error) {
	ctx := r.Context()
	var after T
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		var err error
		after, err = updateIn(ctx, tx, h, c, k, m)
		return err
	})
	return after, err
}

// updateIn is update inside the caller's transaction (Lifecycle's callers
// change more in the same transaction).
func updateIn[T any](ctx context.Context, tx store.Tx, h *handler, c *call, k kind[T], m mutation[T]) (T, error) {
	var before, after T
	err := func() error {
		var err error
		after, err = k.update(tx)(ctx, m.id, func(t T) (T, error) {
			before = t
			if !k.visible(c, t) {
				return t, errHidden
			}
			return m.change(t)
		})
		switch {
		case errors.Is(err, errUnchanged):
			after = before
			return nil
		case errors.Is(err, errHidden):
			return notFound(k.name, m.id)
		case err != nil:
			return storeErr(err, k.name, m.id, "")
		}
		if err := h.record(ctx, tx, c, m.action, k.name+":"+m.id, k.tenantOf(after), k.view(before), k.view(after)); err != nil {
			return err
		}
		if m.also != nil {
			return m.also(ctx, tx, before, after)
		}
		return nil
	}()
	return after, err
}
