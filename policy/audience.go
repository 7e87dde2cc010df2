package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// AudienceRegistry finds registered audiences (store.Store, or the
// directory cache on the hot path).
type AudienceRegistry interface {
	GetAudienceByIdentifier(ctx context.Context, identifier string) (store.Audience, error)
}

// CheckAudiences refuses audiences that tokens of tenantID may not name
// (SPEC §2 "Audience"): every identifier in aud must be registered and
// owned by the tenant or shared with it. Identifiers in open — the
// issuer's own URL, the aud of tokens that name no resource server — need
// no registration.
//
// An identifier registered by another tenant is refused with the same
// words as one registered by nobody: the refusal must not tell a caller
// which identifiers other tenants use.
func CheckAudiences(ctx context.Context, reg AudienceRegistry, tenantID string, aud, open []string) error {
	for _, a := range aud {
		if slices.Contains(open, a) {
			continue
		}
		got, err := reg.GetAudienceByIdentifier(ctx, a)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return fmt.Errorf("audience %q: %w", a, err)
		case got.Requestable(tenantID):
			continue
		}
		return errcode.Newf(errcode.AudienceNotGranted,
			"audience %q is not registered for tenant %s: its administrator registers it (authz audience create %s --tenant %s), or the tenant that owns it shares it (authz audience share ID --with %s)",
			a, tenantID, a, tenantID, tenantID)
	}
	return nil
}
