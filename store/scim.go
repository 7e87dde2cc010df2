package store

import (
	"context"
	"encoding/json"
	"time"
)

// PrefixSCIMToken and PrefixSCIMGroup are the id prefixes of SCIM bearer
// tokens and groups.
const (
	PrefixSCIMToken = "sct_"
	PrefixSCIMGroup = "grp_"
)

// SCIMToken is a bearer token of one tenant's SCIM connector (the IdP). The
// token is never stored: Hash is its keyed hash, as for client secrets.
type SCIMToken struct {
	ID         string
	TenantID   string
	Name       string // the IdP as the operator named the token ("Okta")
	Hash       []byte
	CreatedAt  time.Time
	CreatedBy  string
	RevokedAt  *time.Time
	RevokedBy  string
	LastUsedAt *time.Time
}

// How a SCIM user came to govern a principal (SCIMUser.LinkedBy).
const (
	SCIMCreated          = ""           // the push created the principal
	SCIMLinkedExternalID = "externalId" // the push's externalId equalled the principal's external_id
	SCIMLinkedUserName   = "userName"   // the push's userName equalled the principal's external_id
)

// SCIMUser is a principal's source (SPEC §2 "Principal source"): the IdP
// user that governs it, the token that created or linked it and the
// attribute that made the link.
type SCIMUser struct {
	PrincipalID string
	TenantID    string
	UserName    string
	ExternalID  string
	// Attributes are the core attributes authz keeps for the IdP's sake
	// (displayName, name, emails), as JSON.
	Attributes json.RawMessage
	TokenID    string
	LinkedBy   string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// DeletedAt is set when the IdP deleted the user; the principal is
	// then a tombstone and the userName free again.
	DeletedAt *time.Time
	// Principal is the governed principal, joined on every read; writes
	// ignore it.
	Principal Principal
}

// SCIMGroup is an IdP group. It binds roles only through the mappings of
// its display name (SCIMGroupMapping).
type SCIMGroup struct {
	ID          string
	TenantID    string
	DisplayName string
	ExternalID  string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// SCIMGroupMapping binds the members of the tenant's group of that display
// name (case-insensitively) to a role.
type SCIMGroupMapping struct {
	TenantID  string
	Group     string
	RoleID    string
	CreatedAt time.Time
}

// SCIMUserFilter selects live (not deleted) SCIM users of a tenant. Zero
// fields match all; UserName matches case-insensitively (RFC 7643 §4.1.1).
type SCIMUserFilter struct {
	TenantID    string
	PrincipalID string
	UserName    string
	ExternalID  string
}

// SCIMGroupFilter selects groups of a tenant; DisplayName matches
// case-insensitively.
type SCIMGroupFilter struct {
	TenantID    string
	ID          string
	DisplayName string
	ExternalID  string
}

// SCIMQueries are the SCIM reads, part of Queries.
type SCIMQueries interface {
	GetSCIMToken(ctx context.Context, id string) (SCIMToken, error)
	GetSCIMTokenByHash(ctx context.Context, hash []byte) (SCIMToken, error)
	ListSCIMTokens(ctx context.Context, tenantID string, p Page) ([]SCIMToken, string, error)

	// GetSCIMUser returns the source of a principal, deleted or not.
	GetSCIMUser(ctx context.Context, principalID string) (SCIMUser, error)
	// ListSCIMUsers lists live SCIM users by principal id (a stable
	// order), skipping offset of them, with the total that match.
	ListSCIMUsers(ctx context.Context, f SCIMUserFilter, offset, limit int) ([]SCIMUser, int64, error)

	GetSCIMGroup(ctx context.Context, id string) (SCIMGroup, error)
	ListSCIMGroups(ctx context.Context, f SCIMGroupFilter, offset, limit int) ([]SCIMGroup, int64, error)
	// ListSCIMGroupMembers returns the principal ids of a group's members
	// whose SCIM user is live (not deleted).
	ListSCIMGroupMembers(ctx context.Context, groupID string) ([]string, error)
	ListSCIMGroupMappings(ctx context.Context, tenantID string) ([]SCIMGroupMapping, error)
}

// SCIMMutations are the SCIM writes, part of Mutations.
type SCIMMutations interface {
	CreateSCIMToken(ctx context.Context, t SCIMToken) error
	UpdateSCIMToken(ctx context.Context, id string, fn func(SCIMToken) (SCIMToken, error)) (SCIMToken, error)

	// CreateSCIMUser records a principal's source; ErrConflict if the
	// principal already has one or a live user of the tenant has that
	// userName.
	CreateSCIMUser(ctx context.Context, u SCIMUser) error
	UpdateSCIMUser(ctx context.Context, principalID string, fn func(SCIMUser) (SCIMUser, error)) (SCIMUser, error)

	// CreateSCIMGroup: ErrConflict if the tenant has a group of that
	// display name.
	CreateSCIMGroup(ctx context.Context, g SCIMGroup) error
	UpdateSCIMGroup(ctx context.Context, id string, fn func(SCIMGroup) (SCIMGroup, error)) (SCIMGroup, error)
	// DeleteSCIMGroup removes the group and its memberships.
	DeleteSCIMGroup(ctx context.Context, id string) error
	// AddSCIMGroupMembers adds principals to a group (already members are
	// skipped); RemoveSCIMGroupMembers removes them, all when ids is nil.
	AddSCIMGroupMembers(ctx context.Context, groupID string, principalIDs []string) error
	RemoveSCIMGroupMembers(ctx context.Context, groupID string, principalIDs []string) error
	// CreateSCIMGroupMapping: ErrConflict if it exists.
	CreateSCIMGroupMapping(ctx context.Context, m SCIMGroupMapping) error
	// DeleteSCIMGroupMapping removes the mapping of the tenant's group
	// (display name, case-insensitively) to the role and returns it;
	// ErrNotFound if there is none. The bindings it made stay until
	// SyncSCIMBindings runs for the group's members.
	DeleteSCIMGroupMapping(ctx context.Context, tenantID, group, roleID string) (SCIMGroupMapping, error)

	// SyncSCIMBindings makes the principal's bindings that SCIM owns equal
	// to the roles mapped to its groups: it binds the roles missing (a
	// binding an operator made stays the operator's), and unbinds the
	// roles SCIM bound that no group maps any more. It returns what it
	// added and removed.
	SyncSCIMBindings(ctx context.Context, principalID string, at time.Time) (added, removed []Binding, err error)
}
