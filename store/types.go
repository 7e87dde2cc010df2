package store

import (
	"encoding/json"
	"time"
)

// Status values. Each entity accepts only the ones SPEC §2 lists for it.
type Status string

const (
	StatusActive    Status = "active"
	StatusSuspended Status = "suspended"
	StatusDeleted   Status = "deleted" // principals only: a tombstone
	StatusRevoked   Status = "revoked" // legacy keys only
	// StatusConflicted: legacy keys only. Two tenants claimed the same key
	// (KeyClaim); it is refused with key_conflict until resolved.
	StatusConflicted Status = "conflicted"
)

// PrincipalKind distinguishes people from workloads.
type PrincipalKind string

const (
	KindUser    PrincipalKind = "user"
	KindService PrincipalKind = "service"
)

// Tenant is an isolated organisation. LegacySunsetAt, when set, is the
// moment after which legacy key exchange for the tenant is refused.
type Tenant struct {
	ID              string
	Name            string
	Status          Status
	LegacySunsetAt  *time.Time
	StatusChangedAt time.Time
	StatusChangedBy string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Principal is a user or a service inside a tenant. A deleted principal
// stays as a tombstone (Status == StatusDeleted, DeletedAt/DeletedBy set) so
// that a refusal can say "deleted" rather than "never existed".
type Principal struct {
	ID              string
	TenantID        string
	Kind            PrincipalKind
	DisplayName     string
	ExternalID      string // id in the system being migrated from; "" if none
	Status          Status
	StatusChangedAt time.Time
	StatusChangedBy string
	DeletedAt       *time.Time
	DeletedBy       string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Token-endpoint authentication methods (RFC 7591 names).
const (
	AuthSecretBasic   = "client_secret_basic"
	AuthSecretPost    = "client_secret_post"
	AuthPrivateKeyJWT = "private_key_jwt"
)

// Grant types a client may be allowed.
const (
	GrantClientCredentials = "client_credentials"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
)

// MaxClientSecrets is how many secrets a client holds at once: the current
// one and, during a rotation overlap, the previous one.
const MaxClientSecrets = 2

// ClientSecret is one keyed hash of a generated client secret.
type ClientSecret struct {
	ID        string // short identifier, safe to show ("sec_...")
	Hash      []byte // keyed SHA-256 (HMAC) of the secret; the secret is never stored
	CreatedAt time.Time
	ExpiresAt *time.Time // set on the previous secret when a rotation starts an overlap
	// LastUsedAt is the latest token request this secret authenticated,
	// as of the last usage flush (nil: never). The store fills it on
	// reads from RecordClientUsage; writes of the client ignore it.
	LastUsedAt *time.Time
}

// Client is an OAuth client of one tenant, owned by a principal.
type Client struct {
	ID              string // the client_id
	TenantID        string
	OwnerID         string // principal id
	Name            string
	AuthMethod      string // AuthSecretBasic, AuthSecretPost or AuthPrivateKeyJWT
	Secrets         []ClientSecret
	JWKS            json.RawMessage // inline public keys for private_key_jwt; nil if none
	JWKSURI         string          // or where to fetch them
	GrantTypes      []string
	Scopes          []string      // allowed scopes
	Audiences       []string      // allowed audiences
	AccessTokenTTL  time.Duration // 0: the server default
	Status          Status
	StatusChangedAt time.Time
	StatusChangedBy string
	LastUsedAt      *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Role is a named set of permissions inside a tenant.
type Role struct {
	ID          string
	TenantID    string
	Name        string
	Permissions []string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Binding grants a role to a principal.
type Binding struct {
	PrincipalID string
	RoleID      string
	TenantID    string
	CreatedAt   time.Time
}

// LegacyKey is an API key from the system being retired, or one authz
// issued for holders that have not moved yet. The secret is never stored:
// Hash is HMAC-SHA-256 under the key pepper of SHA-256(key) (see legacykeys).
type LegacyKey struct {
	ID       string
	Hash     []byte
	TenantID string
	// OwnerID is the principal the key acts for. It may name a principal that
	// does not exist (a broken migration), or be "" when the import could not
	// resolve OwnerRef; both are refused with owner_not_found.
	OwnerID string
	// OwnerRef is the owner reference the import file gave (an external id or
	// a principal id); `key remap` matches on it. "" for issued keys.
	OwnerRef      string
	Scopes        []string // empty: whatever the owner's roles grant
	Label         string
	Environment   string
	Source        string // "issued" or "imported"
	CreatedAt     time.Time
	ExpiresAt     *time.Time
	Status        Status // StatusActive or StatusRevoked
	RevokedAt     *time.Time
	RevokedBy     string
	RevokedReason string
	RotatedFrom   string // key id this one replaced
	LastUsedAt    *time.Time
	UseCount      int64
	// ExpiryNoticeAt records when the key.expiring notice was queued, so it
	// is sent once.
	ExpiryNoticeAt *time.Time
	UpdatedAt      time.Time
	// AddedAt is when the key entered authz (issued, imported, rotated
	// in): the start of the time authz has watched it, which for an
	// imported key may be long after CreatedAt. Zero on create means
	// CreatedAt.
	AddedAt time.Time
}

// KeyClaim is one tenant's claim in a cross-tenant key conflict: the same
// legacy key (hash) imported by more than one tenant. Every member of a
// conflict is a LegacyKey row of its own tenant; exactly one of them, the
// Holder, stores the key's real hash, the others a stand-in that no key
// hashes to (so the hash stays unique and nothing is bound silently).
type KeyClaim struct {
	ConflictID string
	KeyID      string
	TenantID   string
	// Holder is the member whose row stores the key's real hash.
	Holder bool
	// Proof is how the tenant named the key: "raw_key", "sha256" or
	// "issued" (authz generated it for that tenant).
	Proof string
	// PriorStatus is the member's status before the conflict.
	PriorStatus Status
	ClaimedAt   time.Time
	ClaimedBy   string
	// ResolvedAt is nil while the conflict is open; Outcome is then "".
	ResolvedAt *time.Time
	ResolvedBy string
	Outcome    string // "won" or "dropped"
}

// Key claim outcomes.
const (
	ClaimWon     = "won"
	ClaimDropped = "dropped"
)

// Key sources.
const (
	SourceIssued   = "issued"
	SourceImported = "imported"
)

// SigningKeyState is where a signing key is in its life.
type SigningKeyState string

const (
	// SigningNext is published in the JWKS but does not sign yet.
	SigningNext SigningKeyState = "next"
	// SigningCurrent signs new tokens. At most one key is current.
	SigningCurrent SigningKeyState = "current"
	// SigningRetired no longer signs but stays published until every token
	// it signed has expired.
	SigningRetired SigningKeyState = "retired"
)

// SigningKey is one token-signing key pair.
type SigningKey struct {
	KID       string
	Alg       string // "ES256", "EdDSA" or "RS256"
	State     SigningKeyState
	Private   []byte          // AES-256-GCM sealed private JWK (jwks owns the format)
	Public    json.RawMessage // public JWK as published
	CreatedAt time.Time
	// PublishedAt is when the key first appeared in the JWKS.
	PublishedAt time.Time
	// ActivatedAt is when the key became current; nil while next.
	ActivatedAt *time.Time
	// RetiredAt is when the key stopped signing; nil unless retired.
	RetiredAt *time.Time
	// RemoveAfter: a retired key is deleted once this has passed.
	RemoveAfter *time.Time
}

// AuditEvent is one entry of the tamper-evident audit log. Seq, PrevHash and
// Hash are assigned by the audit package when the event is appended.
type AuditEvent struct {
	Seq        int64
	ID         string
	Time       time.Time
	Actor      string // "client:<id>", "legacy-key:<id>", "system", ...
	Action     string // "token.issue", "principal.suspend", ...
	Target     string // "principal:<id>", "key:<id>", ...
	TenantID   string
	Outcome    string // "success" or "refused"/"failure"
	ErrorCode  string
	RequestID  string
	ClientAddr string
	Details    json.RawMessage // before/after of changed fields, or other context
	PrevHash   []byte
	Hash       []byte
}

// AuditHead is the end of the audit hash chain.
type AuditHead struct {
	Seq  int64
	Hash []byte
}

// AuditAnchor is where the kept audit log begins after a prune: the seq
// and hash of the last event pruned, and that event's time. The next
// event's PrevHash is Hash, so the chain is verified from here on. Zero
// when nothing was ever pruned.
type AuditAnchor struct {
	Seq      int64
	Hash     []byte
	Time     time.Time // the anchor event's time (zero when Seq is 0)
	PrunedAt time.Time // when the anchor was set (zero when Seq is 0)
}

// AuditEndpoint is one event's place in the chain: its seq, hash and time.
type AuditEndpoint struct {
	Seq  int64
	Hash []byte
	Time time.Time
}

// AuditPruned says what a PruneAudit removed.
type AuditPruned struct {
	Rows       int64 // rows deleted one by one (SQLite: all; PostgreSQL: the remainder)
	Partitions int   // whole partitions dropped (PostgreSQL)
}

// Webhook is a notice waiting in the durable outbox.
type Webhook struct {
	ID            string
	EventType     string // "key.expiring", "key.expired", "key.revoked", "principal.suspended"
	Payload       json.RawMessage
	CreatedAt     time.Time
	Attempts      int
	NextAttemptAt time.Time
	DeliveredAt   *time.Time
	LastError     string
}

// KeyUsage is an aggregated batch of uses of one legacy key, flushed by a
// background writer so that exchanges do not write on the hot path.
type KeyUsage struct {
	KeyID      string
	Count      int64
	LastUsedAt time.Time
}

// ClientUsage is the same for clients. SecretID names the secret that
// authenticated the uses ("" for private_key_jwt): its own last use is
// kept too, so that a holder sees whether the secret a rotation is
// phasing out is still in use.
type ClientUsage struct {
	ClientID   string
	SecretID   string
	LastUsedAt time.Time
}

// AuthFailure is a counter of failed authentications under an opaque key
// (ratelimit names and hashes it). A failure while the counter is locked
// counts nothing; one more than Window after the window started starts a
// new window; the one that brings Count to Threshold (when > 0) sets
// Reached, starts a new window and, when LockFor > 0, locks the counter
// until now+LockFor.
type AuthFailure struct {
	Key       string
	Threshold int
	LockFor   time.Duration

	Count       int
	WindowStart time.Time
	// LockedAt and LockedUntil are zero unless the counter was ever locked.
	LockedAt    time.Time
	LockedUntil time.Time
	// Reached reports that this failure reached the threshold.
	Reached bool
}

// ConsoleSession is a web-console credential of a principal: a one-time
// sign-in link (Kind ConsoleLink) or a signed-in session (ConsoleSessionKind).
// Only the SHA-256 of the secret is stored; Hash is its hex form.
type ConsoleSession struct {
	Hash        string
	Kind        string
	PrincipalID string
	CreatedAt   time.Time
	LastSeenAt  time.Time
	ExpiresAt   time.Time
	// CreatedBy is the actor that created it (the admin that made a link).
	CreatedBy string
}

// The kinds of ConsoleSession.
const (
	ConsoleLink        = "link"
	ConsoleSessionKind = "session"
)
