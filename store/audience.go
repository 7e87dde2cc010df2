package store

import (
	"slices"
	"time"
)

// PrefixAudience is the id prefix of registered audiences.
const PrefixAudience = "aud_"

// Audience is a resource server registered with the issuer (SPEC §2): an
// identifier, usually the API's URL, that one tenant owns and may share
// with named tenants. One issuer serves every tenant, so the identifier is
// unique across all of them: a token may name an audience only when its
// tenant owns it or it is shared with that tenant.
type Audience struct {
	ID         string
	Identifier string
	TenantID   string   // the owner
	SharedWith []string // other tenants that may request it, sorted; nil if none
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Requestable reports whether tokens of tenantID may name the audience.
func (a Audience) Requestable(tenantID string) bool {
	return tenantID != "" && (a.TenantID == tenantID || slices.Contains(a.SharedWith, tenantID))
}

// AudienceFilter selects audiences. TenantID matches the audiences the
// tenant may request: those it owns and those shared with it.
type AudienceFilter struct {
	TenantID string
}
