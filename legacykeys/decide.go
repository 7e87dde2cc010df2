package legacykeys

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// Lookup is what Resolve reads. store.Store satisfies it, and so does the
// hot-path directory cache.
type Lookup interface {
	GetLegacyKeyByHash(ctx context.Context, hash []byte) (store.LegacyKey, error)
	GetPrincipal(ctx context.Context, id string) (store.Principal, error)
	GetTenant(ctx context.Context, id string) (store.Tenant, error)
}

// Facts is everything the validity decision depends on. A nil pointer means
// the object was not found.
type Facts struct {
	Key    *store.LegacyKey
	Owner  *store.Principal
	Tenant *store.Tenant
	// RequestedTenant is the exchange's tenant parameter ("" when absent).
	RequestedTenant string
	Now             time.Time
	// OwnerVia names who suspended or deleted the owner when an identity
	// provider did ("Okta via SCIM"), so that the refusal says so as
	// `key diagnose` does; "" otherwise.
	OwnerVia string
}

// SCIMTokens finds a SCIM connector token by id: a Lookup that has it
// (*directory.Directory) lets Resolve name the IdP that suspended or
// deleted a key's owner.
type SCIMTokens interface {
	GetSCIMToken(ctx context.Context, id string) (store.SCIMToken, error)
}

// ownerVia is Facts.OwnerVia for an owner that is not active: the name of
// the SCIM token (the IdP, as the operator named it) whose request changed
// it. It reads only on a refusal's path.
func ownerVia(ctx context.Context, l Lookup, o *store.Principal) string {
	tokens, ok := l.(SCIMTokens)
	if !ok || o == nil || o.Status == store.StatusActive {
		return ""
	}
	by := o.StatusChangedBy
	if o.Status == store.StatusDeleted && o.DeletedBy != "" {
		by = o.DeletedBy
	}
	id, ok := strings.CutPrefix(by, "scim:")
	if !ok || id == "" {
		return ""
	}
	name := by
	if t, err := tokens.GetSCIMToken(ctx, id); err == nil && t.Name != "" {
		name = descriptionSafe(t.Name)
	}
	return name + " via SCIM"
}

// Decide is the validity decision for a well-formed key: one ordered list
// of checks, the first that fails names the refusal (SPEC §3 order). It is
// pure, so the exchange, `key diagnose` and the tests all get the same
// answer from the same facts. nil means the key may be exchanged;
// scope_not_granted is decided afterwards by policy.
//
// The order matters: a revoked key of a deleted owner is key_revoked,
// because the key's own state is what its holder can act on first, and a
// holder of a dead key learns nothing about the owner or the tenant.
func Decide(f Facts) *errcode.Error {
	k := f.Key
	if k == nil {
		return errcode.New(errcode.KeyUnknown, "")
	}
	if k.Status == store.StatusConflicted {
		// Checked before anything about the owner: which owner is the
		// right one is exactly what is in dispute.
		return errcode.New(errcode.KeyConflict, "")
	}
	if k.Status == store.StatusRevoked {
		return errcode.Newf(errcode.KeyRevoked, "The API key was revoked%s; ask its administrator for a new key or move to client credentials.", at(k.RevokedAt))
	}
	if k.Status != store.StatusActive {
		// A status this code does not know must never let a key through.
		return errcode.Newf(errcode.KeyRevoked, "The API key is not active (status %q); ask its administrator for a new key.", k.Status)
	}
	if k.ExpiresAt != nil && !f.Now.Before(*k.ExpiresAt) {
		return errcode.Newf(errcode.KeyExpired, "The API key expired%s; ask its administrator to rotate it or move to client credentials.", at(k.ExpiresAt))
	}
	o := f.Owner
	if o != nil && o.Status == store.StatusDeleted {
		if f.OwnerVia != "" {
			return errcode.Newf(errcode.OwnerDeleted, "The API key's owner %s was deleted by %s%s; an administrator must reassign the key to an active principal.", o.ID, f.OwnerVia, at(o.DeletedAt))
		}
		return errcode.Newf(errcode.OwnerDeleted, "The API key's owner %s was deleted%s; an administrator must reassign the key to an active principal.", o.ID, at(o.DeletedAt))
	}
	if o == nil || k.OwnerID == "" || o.ID != k.OwnerID {
		return errcode.Newf(errcode.OwnerNotFound, "The API key points at an owner (%s) that does not exist; an administrator must remap or reassign the key.", ownerRef(k))
	}
	if o.TenantID != k.TenantID {
		// Only a corrupted or hand-edited database gets here: the owner is
		// not in the key's tenant, so as far as that tenant knows it does
		// not exist.
		return errcode.Newf(errcode.OwnerNotFound, "The API key's owner %s does not exist in the key's tenant %s; an administrator must reassign the key.", o.ID, k.TenantID)
	}
	if o.Status != store.StatusActive {
		if f.OwnerVia != "" {
			return errcode.Newf(errcode.OwnerSuspended, "The API key's owner %s was suspended by %s%s; the identity provider must reactivate the user, or an administrator reassign the key.", o.ID, f.OwnerVia, at(&o.StatusChangedAt))
		}
		return errcode.Newf(errcode.OwnerSuspended, "The API key's owner %s is suspended%s; an administrator must resume the owner or reassign the key.", o.ID, since(o.StatusChangedAt))
	}
	t := f.Tenant
	if t == nil || t.ID != k.TenantID {
		return errcode.Newf(errcode.TenantSuspended, "The API key's tenant %s does not exist; contact the tenant's administrator.", k.TenantID)
	}
	if t.Status != store.StatusActive {
		return errcode.Newf(errcode.TenantSuspended, "The API key's tenant %s is suspended%s; contact the tenant's administrator.", t.ID, since(t.StatusChangedAt))
	}
	if f.RequestedTenant != "" && f.RequestedTenant != k.TenantID {
		return errcode.Newf(errcode.TenantMismatch, "The request names tenant %q but the API key belongs to tenant %s; drop the tenant parameter or use that tenant's key.", f.RequestedTenant, k.TenantID)
	}
	if t.LegacySunsetAt != nil && !f.Now.Before(*t.LegacySunsetAt) {
		return errcode.Newf(errcode.KeySunset, "Tenant %s stopped accepting legacy API keys%s; move to client credentials.", t.ID, at(t.LegacySunsetAt))
	}
	return nil
}

// descriptionSafe keeps an operator-given name within the characters an
// OAuth error_description may hold (RFC 6749 §5.2: printable ASCII but
// '"' and '\\'), at most 64 of them.
func descriptionSafe(s string) string {
	b := make([]byte, 0, min(len(s), 64))
	for i := 0; i < len(s) && len(b) < 64; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			c = '?'
		}
		b = append(b, c)
	}
	return string(b)
}

func at(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return " at " + t.UTC().Format(time.RFC3339)
}

func since(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return " since " + t.UTC().Format(time.RFC3339)
}

func ownerRef(k *store.LegacyKey) string {
	switch {
	case k.OwnerID != "":
		return k.OwnerID
	case k.OwnerRef != "":
		return fmt.Sprintf("%q in tenant %s", k.OwnerRef, k.TenantID)
	}
	return "none recorded"
}

// Resolved is a key that may be exchanged, with its owner and tenant.
type Resolved struct {
	Key    store.LegacyKey
	Owner  store.Principal
	Tenant store.Tenant
}

// Resolve parses rawKey, looks up the key by its hash, its owner and its
// tenant, and runs Decide. Refusals are *errcode.Error. Storage failures
// are returned wrapped, never turned into a refusal code: errors.Is(err,
// store.ErrUnavailable) still holds, and the edge answers "unavailable"
// instead of issuing or refusing unchecked.
//
// When a found key is refused, the returned Resolved still carries the key
// (and the owner and tenant that were found) so that the refusal can be
// audited against "key:<id>", where `key diagnose` counts it. Nothing may
// be issued from it: only a nil error means the key is valid.
func Resolve(ctx context.Context, l Lookup, h *Hasher, rawKey, requestedTenant string, now time.Time) (Resolved, error) {
	p, err := Parse(rawKey)
	if err != nil {
		return Resolved{}, err
	}
	f := Facts{RequestedTenant: requestedTenant, Now: now}
	k, err := l.GetLegacyKeyByHash(ctx, h.Hash(p.Raw))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Resolved{}, errcode.New(errcode.KeyUnknown, "")
	case err != nil:
		return Resolved{}, fmt.Errorf("legacykeys: look up key: %w", err)
	}
	f.Key = &k
	var r Resolved
	r.Key = k
	if k.OwnerID != "" {
		o, err := l.GetPrincipal(ctx, k.OwnerID)
		switch {
		case err == nil:
			f.Owner, r.Owner = &o, o
			f.OwnerVia = ownerVia(ctx, l, &o)
		case !errors.Is(err, store.ErrNotFound):
			return Resolved{}, fmt.Errorf("legacykeys: look up owner of key %s: %w", k.ID, err)
		}
	}
	t, err := l.GetTenant(ctx, k.TenantID)
	switch {
	case err == nil:
		f.Tenant, r.Tenant = &t, t
	case !errors.Is(err, store.ErrNotFound):
		return Resolved{}, fmt.Errorf("legacykeys: look up tenant of key %s: %w", k.ID, err)
	}
	if e := Decide(f); e != nil {
		return r, e
	}
	return r, nil
}
