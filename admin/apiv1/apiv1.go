package apiv1

import (
	"encoding/json"
	"time"
)

// List is the shape of every listing. Next is the cursor to pass as
// ?after= for the following page; "" when this page is the last.
type List[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

// Tenant is an isolated organisation (SPEC §2).
type Tenant struct {
	ID              string     `json:"id"`
	Name            string     `json:"name"`
	Status          string     `json:"status"`
	LegacySunsetAt  *time.Time `json:"legacy_sunset_at,omitempty"`
	StatusChangedAt *time.Time `json:"status_changed_at,omitempty"`
	StatusChangedBy string     `json:"status_changed_by,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
}

// CreateTenant is the body of POST /tenants.
type CreateTenant struct {
	Name string `json:"name"`
}

// SetSunset is the body of PUT /tenants/{id}/sunset.
type SetSunset struct {
	LegacySunsetAt time.Time `json:"legacy_sunset_at"`
}

// Principal is a user or a service of a tenant. A deleted principal is a
// tombstone: status "deleted" with deleted_at and deleted_by.
type Principal struct {
	ID              string     `json:"id"`
	TenantID        string     `json:"tenant_id"`
	Kind            string     `json:"kind"`
	Name            string     `json:"name"`
	ExternalID      string     `json:"external_id,omitempty"`
	Status          string     `json:"status"`
	StatusChangedAt *time.Time `json:"status_changed_at,omitempty"`
	StatusChangedBy string     `json:"status_changed_by,omitempty"`
	DeletedAt       *time.Time `json:"deleted_at,omitempty"`
	DeletedBy       string     `json:"deleted_by,omitempty"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	// Source is set when an identity provider governs the principal
	// through SCIM (SPEC §2 "Principal source").
	Source *PrincipalSource `json:"source,omitempty"`
}

// CreatePrincipal is the body of POST /principals.
type CreatePrincipal struct {
	TenantID   string `json:"tenant_id"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	ExternalID string `json:"external_id,omitempty"`
}

// Role is a named set of permissions of a tenant.
type Role struct {
	ID          string    `json:"id"`
	TenantID    string    `json:"tenant_id"`
	Name        string    `json:"name"`
	Permissions []string  `json:"permissions"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// CreateRole is the body of POST /roles.
type CreateRole struct {
	TenantID    string   `json:"tenant_id"`
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
}

// UpdateRole is the body of PATCH /roles/{id}: the new, complete permission list.
type UpdateRole struct {
	Permissions []string `json:"permissions"`
}

// Binding grants a role to a principal of the same tenant. Its id is
// "<principal_id>:<role_id>".
type Binding struct {
	ID          string    `json:"id"`
	PrincipalID string    `json:"principal_id"`
	RoleID      string    `json:"role_id"`
	TenantID    string    `json:"tenant_id"`
	CreatedAt   time.Time `json:"created_at"`
}

// CreateBinding is the body of POST /roles/{id}/bindings.
type CreateBinding struct {
	PrincipalID string `json:"principal_id"`
}

// Client is an OAuth client. ClientSecret is set only in the response that
// created the secret (create, rotate-secret).
type Client struct {
	ID                  string          `json:"id"`
	TenantID            string          `json:"tenant_id"`
	OwnerID             string          `json:"owner_id"`
	Name                string          `json:"name,omitempty"`
	AuthMethod          string          `json:"auth_method"`
	GrantTypes          []string        `json:"grant_types"`
	Scopes              []string        `json:"scopes"`
	Audiences           []string        `json:"audiences"`
	AccessTokenLifetime int64           `json:"access_token_lifetime"` // seconds; 0 = the server default
	JWKS                json.RawMessage `json:"jwks,omitempty"`
	JWKSURI             string          `json:"jwks_uri,omitempty"`
	Secrets             []SecretInfo    `json:"secrets"`
	Status              string          `json:"status"`
	StatusChangedAt     *time.Time      `json:"status_changed_at,omitempty"`
	StatusChangedBy     string          `json:"status_changed_by,omitempty"`
	LastUsedAt          *time.Time      `json:"last_used_at,omitempty"`
	CreatedAt           time.Time       `json:"created_at"`
	UpdatedAt           time.Time       `json:"updated_at"`
	ClientSecret        string          `json:"client_secret,omitempty"`
}

// SecretInfo describes one of a client's secrets without revealing it.
type SecretInfo struct {
	ID        string     `json:"id"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// LastUsedAt is the last token request this secret authenticated, as
	// of the last usage flush (a few seconds behind); absent: never.
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// CreateClient is the body of POST /clients. AuthMethod defaults to
// client_secret_basic and GrantTypes to ["client_credentials"].
type CreateClient struct {
	TenantID            string          `json:"tenant_id"`
	OwnerID             string          `json:"owner_id"`
	Name                string          `json:"name,omitempty"`
	AuthMethod          string          `json:"auth_method,omitempty"`
	GrantTypes          []string        `json:"grant_types,omitempty"`
	Scopes              []string        `json:"scopes,omitempty"`
	Audiences           []string        `json:"audiences,omitempty"`
	AccessTokenLifetime int64           `json:"access_token_lifetime,omitempty"`
	JWKS                json.RawMessage `json:"jwks,omitempty"`
	JWKSURI             string          `json:"jwks_uri,omitempty"`
}

// UpdateClient is the body of PATCH /clients/{id}: fields left out stay as
// they are.
type UpdateClient struct {
	Name                *string          `json:"name,omitempty"`
	GrantTypes          *[]string        `json:"grant_types,omitempty"`
	Scopes              *[]string        `json:"scopes,omitempty"`
	Audiences           *[]string        `json:"audiences,omitempty"`
	AccessTokenLifetime *int64           `json:"access_token_lifetime,omitempty"`
	JWKS                *json.RawMessage `json:"jwks,omitempty"`
	JWKSURI             *string          `json:"jwks_uri,omitempty"`
}

// DefaultOverlap is how long the previous client secret or legacy key keeps
// working after a rotation that does not say otherwise.
const DefaultOverlap = 24 * time.Hour

// Rotate is the body of POST /clients/{id}/rotate-secret and
// POST /keys/{id}/rotate. Overlap is in seconds; absent means DefaultOverlap,
// 0 means the previous credential stops working at once.
type Rotate struct {
	Overlap *int64 `json:"overlap,omitempty"`
}

// LegacyKey is a legacy API key. Key, the secret, is set only in the response
// that created it (issue, rotate).
type LegacyKey struct {
	ID            string     `json:"id"`
	TenantID      string     `json:"tenant_id"`
	OwnerID       string     `json:"owner_id"`
	OwnerRef      string     `json:"owner_ref,omitempty"`
	Scopes        []string   `json:"scopes"`
	Label         string     `json:"label,omitempty"`
	Environment   string     `json:"environment,omitempty"`
	Source        string     `json:"source"`
	Status        string     `json:"status"`
	CreatedAt     time.Time  `json:"created_at"`
	ExpiresAt     *time.Time `json:"expires_at,omitempty"`
	RevokedAt     *time.Time `json:"revoked_at,omitempty"`
	RevokedBy     string     `json:"revoked_by,omitempty"`
	RevokedReason string     `json:"revoked_reason,omitempty"`
	RotatedFrom   string     `json:"rotated_from,omitempty"`
	LastUsedAt    *time.Time `json:"last_used_at,omitempty"`
	UseCount      int64      `json:"use_count"`
	UpdatedAt     time.Time  `json:"updated_at"`
	Key           string     `json:"key,omitempty"`
}

// RotatedKey is the answer to POST /keys/{id}/rotate: the new key (with its
// secret, once) and the previous key as it now stands.
type RotatedKey struct {
	LegacyKey
	Previous LegacyKey `json:"previous"`
}

// IssueKey is the body of POST /keys. ExpiresIn is in seconds; 0 = never.
type IssueKey struct {
	OwnerID     string   `json:"owner_id"`
	Scopes      []string `json:"scopes,omitempty"`
	ExpiresIn   int64    `json:"expires_in,omitempty"`
	Label       string   `json:"label,omitempty"`
	Environment string   `json:"environment,omitempty"`
}

// RevokeKey is the body of POST /keys/{id}/revoke.
type RevokeKey struct {
	Reason string `json:"reason"`
}

// ReassignKey is the body of POST /keys/{id}/reassign.
type ReassignKey struct {
	OwnerID string `json:"owner_id"`
}

// ResolveKeyConflict is the body of POST /keys/{id}/resolve-conflict
// (authz:admin only): the tenant whose claim of the conflicted key stands.
type ResolveKeyConflict struct {
	TenantID string `json:"tenant_id"`
}

// KeyConflictResolution is the answer of POST /keys/{id}/resolve-conflict:
// the key row that now holds the key, and the dropped (revoked) claims.
type KeyConflictResolution struct {
	ConflictID string      `json:"conflict_id"`
	Winner     LegacyKey   `json:"winner"`
	Dropped    []LegacyKey `json:"dropped"`
}

// DiagnoseKey is the body of POST /keys/diagnose. The key travels in the
// body, never in a URL, so it stays out of access logs.
type DiagnoseKey struct {
	Key string `json:"key"`
}

// ImportRow is one parsed line of a key import file. Problem, when set, is
// why the line could not be parsed; the server reports it as rejected.
type ImportRow struct {
	Line            int        `json:"line"`
	Key             string     `json:"key,omitempty"`
	KeySHA256       string     `json:"key_sha256,omitempty"`
	OwnerExternalID string     `json:"owner_external_id,omitempty"`
	OwnerID         string     `json:"owner_id,omitempty"`
	Tenant          string     `json:"tenant,omitempty"` // a tenant id or a tenant's unique name
	Scopes          []string   `json:"scopes,omitempty"`
	Label           string     `json:"label,omitempty"`
	Environment     string     `json:"environment,omitempty"`
	CreatedAt       *time.Time `json:"created_at,omitempty"`
	ExpiresAt       *time.Time `json:"expires_at,omitempty"`
	Problem         string     `json:"problem,omitempty"`
}

// ImportKeys is the body of POST /keys/import: one batch of parsed rows.
type ImportKeys struct {
	Rows   []ImportRow `json:"rows"`
	DryRun bool        `json:"dry_run,omitempty"`
}

// Rejection names a line of an import or remap file that was not applied.
type Rejection struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// ImportSummary is the answer to POST /keys/import.
type ImportSummary struct {
	Imported       int         `json:"imported"`
	AlreadyPresent int         `json:"already_present"`
	Orphans        int         `json:"orphans"`
	Rejected       []Rejection `json:"rejected"`
	DryRun         bool        `json:"dry_run"`
}

// RemapRow is one parsed line of a remap file.
type RemapRow struct {
	Line          int    `json:"line"`
	OldExternalID string `json:"old_external_id,omitempty"`
	// NewPrincipal is a principal id, or the external id of a principal
	// in the tenant of the keys that refer to OldExternalID.
	NewPrincipal string `json:"new_principal,omitempty"`
	Problem      string `json:"problem,omitempty"`
}

// RemapKeys is the body of POST /keys/remap.
type RemapKeys struct {
	Rows   []RemapRow `json:"rows"`
	DryRun bool       `json:"dry_run,omitempty"`
}

// RemapSummary is the answer to POST /keys/remap.
type RemapSummary struct {
	Rows         int         `json:"rows"`
	KeysRemapped int         `json:"keys_remapped"`
	Rejected     []Rejection `json:"rejected"`
	DryRun       bool        `json:"dry_run"`
}

// SigningKey describes a token-signing key; the private half never leaves
// the server. ID is the kid.
type SigningKey struct {
	ID          string     `json:"id"`
	Alg         string     `json:"alg"`
	State       string     `json:"state"`
	CreatedAt   time.Time  `json:"created_at"`
	PublishedAt time.Time  `json:"published_at"`
	ActivatedAt *time.Time `json:"activated_at,omitempty"`
	RetiredAt   *time.Time `json:"retired_at,omitempty"`
	RemoveAfter *time.Time `json:"remove_after,omitempty"`
}

// AuditEvent is one entry of the hash-chained audit log. Hashes are hex.
type AuditEvent struct {
	ID         string          `json:"id"`
	Seq        int64           `json:"seq"`
	Time       time.Time       `json:"time"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	Target     string          `json:"target"`
	TenantID   string          `json:"tenant_id,omitempty"`
	Outcome    string          `json:"outcome"`
	ErrorCode  string          `json:"error_code,omitempty"`
	RequestID  string          `json:"request_id,omitempty"`
	ClientAddr string          `json:"client_addr,omitempty"`
	Details    json.RawMessage `json:"details,omitempty"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
}

// AuditReport is the answer to GET /audit/verify. FirstBreak names the
// first event that was altered, deleted ("missing") or reordered.
type AuditReport struct {
	Events int64 `json:"events"`
	// AnchorSeq and AnchorHash are where verification began: the last
	// event pruned (0 and "" when nothing was).
	AnchorSeq  int64       `json:"anchor_seq"`
	AnchorHash string      `json:"anchor_hash"`
	Head       int64       `json:"head"`
	HeadHash   string      `json:"head_hash"`
	OK         bool        `json:"ok"`
	FirstBreak *AuditBreak `json:"first_break,omitempty"`
}

// AuditPrune is the body of POST /audit/prune: the until the segment was
// exported for and the last hash export printed.
type AuditPrune struct {
	Until  time.Time `json:"until"`
	Anchor string    `json:"anchor"`
}

// AuditPruned is the answer to POST /audit/prune.
type AuditPruned struct {
	AnchorSeq         int64  `json:"anchor_seq"`
	AnchorHash        string `json:"anchor_hash"`
	RowsDeleted       int64  `json:"rows_deleted"`
	PartitionsDropped int    `json:"partitions_dropped"`
}

// AuditBreak is where the audit chain stops verifying.
type AuditBreak struct {
	Seq     int64  `json:"seq"`
	ID      string `json:"id,omitempty"`
	Problem string `json:"problem"`
	Detail  string `json:"detail,omitempty"`
}

// Audience is a resource server registered with the issuer: tokens of
// its tenant, and of the tenants it is shared with, may name Identifier
// in aud. A tenant it is shared with sees itself only in SharedWith.
type Audience struct {
	ID         string    `json:"id"`
	Identifier string    `json:"identifier"`
	TenantID   string    `json:"tenant_id"`
	SharedWith []string  `json:"shared_with"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// CreateAudience is the body of POST /audiences.
type CreateAudience struct {
	Identifier string   `json:"identifier"`
	TenantID   string   `json:"tenant_id"`
	SharedWith []string `json:"shared_with,omitempty"`
}

// ShareAudience is the body of POST /audiences/{id}/share and /unshare.
type ShareAudience struct {
	TenantID string `json:"tenant_id"`
}

// SCIM (issue 20 §1).

// PrincipalSource is the SCIM user that governs a principal: which
// connector token created or linked it, the attribute that made the link
// ("externalId" or "userName"; empty when SCIM created the principal), and
// the IdP's identifiers.
type PrincipalSource struct {
	TokenID    string     `json:"token_id"`
	TokenName  string     `json:"token_name,omitempty"`
	LinkedBy   string     `json:"linked_by,omitempty"`
	UserName   string     `json:"user_name"`
	ExternalID string     `json:"external_id,omitempty"`
	LinkedAt   time.Time  `json:"linked_at"`
	DeletedAt  *time.Time `json:"deleted_at,omitempty"`
}

// SCIMToken is a tenant's SCIM connector token. Token, the bearer value
// to paste into the IdP, is present only in the answer that created it.
type SCIMToken struct {
	ID         string     `json:"id"`
	TenantID   string     `json:"tenant_id"`
	Name       string     `json:"name"`
	Token      string     `json:"token,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	CreatedBy  string     `json:"created_by"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	RevokedBy  string     `json:"revoked_by,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
}

// CreateSCIMToken is the body of POST /scim/tokens. Name says which IdP
// holds the token ("Okta"); refusals and diagnoses name it.
type CreateSCIMToken struct {
	TenantID string `json:"tenant_id"`
	Name     string `json:"name"`
}

// SCIMGroupMapping binds the members of the IdP group of that display name
// (case-insensitively) to a role.
type SCIMGroupMapping struct {
	ID        string    `json:"id"`
	TenantID  string    `json:"tenant_id"`
	Group     string    `json:"group"`
	RoleID    string    `json:"role_id"`
	CreatedAt time.Time `json:"created_at"`
	// Bound is how many members were bound by the mapping's creation.
	Bound int `json:"bound"`
	// Unbound is how many bindings the mapping's removal took away.
	Unbound int `json:"unbound,omitempty"`
}

// CreateSCIMGroupMapping is the body of POST /scim/group-mappings; Role is
// a role id or a role name of the tenant.
type CreateSCIMGroupMapping struct {
	TenantID string `json:"tenant_id"`
	Group    string `json:"group"`
	Role     string `json:"role"`
}

// CreateConsoleLink is the body of POST /console/links.
type CreateConsoleLink struct {
	PrincipalID string `json:"principal_id"`
	// TTL is how long the link is valid, in seconds (0: 15 minutes).
	TTL int64 `json:"ttl,omitempty"`
}

// ConsoleLink is a one-time web-console sign-in link. The URL carries the
// only copy of its code; the server keeps its hash.
type ConsoleLink struct {
	URL         string    `json:"url"`
	PrincipalID string    `json:"principal_id"`
	ExpiresAt   time.Time `json:"expires_at"`
}
