package store

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors. Backends translate driver errors into these (wrapped with
// context); callers test with errors.Is and never see a raw driver error.
var (
	// ErrNotFound: no object with that identity.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: a uniqueness constraint was violated (the object, its name,
	// external id, hash or jti already exists).
	ErrConflict = errors.New("store: conflict")
	// ErrUnavailable: the database cannot be reached or timed out. Callers
	// refuse the request (SPEC §3 "unavailable") and retry later. It is
	// recognised by errcode.Normalize, which answers 503.
	ErrUnavailable error = unavailableError{}
	// ErrBadCursor: Page.After is not a cursor the listing could have
	// returned (the admin API answers 400 request_invalid, issue 18 §7).
	ErrBadCursor = errors.New("store: malformed page cursor")
)

type unavailableError struct{}

func (unavailableError) Error() string     { return "store: unavailable" }
func (unavailableError) Unavailable() bool { return true }

// SystemTenantID is the tenant created on first start; the bootstrap admin
// client lives in it.
const SystemTenantID = "system"

// Page selects a slice of a listing ordered by the listing's key (id, or seq
// for audit events). After is the opaque cursor returned by the previous call.
type Page struct {
	Limit int    // 0: DefaultLimit; capped at MaxLimit
	After string // "": from the start
}

const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Filters. Zero values match everything.
type (
	TenantFilter struct {
		Status Status
	}
	PrincipalFilter struct {
		TenantID   string
		Status     Status
		Kind       PrincipalKind
		ExternalID string
	}
	ClientFilter struct {
		TenantID string
		OwnerID  string
		Status   Status
	}
	RoleFilter struct {
		TenantID string
	}
	BindingFilter struct {
		TenantID    string
		PrincipalID string
		RoleID      string
	}
	LegacyKeyFilter struct {
		TenantID string
		OwnerID  string
		OwnerRef string
		Status   Status
		// ExpiresBefore selects keys with an expiry before this instant.
		ExpiresBefore *time.Time
		// ExpiryNoticePending selects keys whose ExpiryNoticeAt is nil.
		ExpiryNoticePending bool
	}
	AuditFilter struct {
		TenantID  string
		Actor     string
		Target    string
		Action    string
		Outcome   string
		ErrorCode string
		Since     *time.Time // inclusive
		Until     *time.Time // exclusive
		// Descending lists newest first; the cursor then counts down.
		Descending bool
	}
	WebhookFilter struct {
		// Pending selects undelivered webhooks only.
		Pending bool
	}
)

// KeyStats is the per-tenant legacy key usage summary of the migration report.
type KeyStats struct {
	TenantID  string
	Active    int64 // keys with status active
	Used7d    int64 // active keys used in the 7 days before the report time
	Used30d   int64 // active keys used in the 30 days before the report time
	NeverUsed int64 // active keys never used
}

// HolderStats summarises one principal that owns (or owned) legacy keys.
type HolderStats struct {
	TenantID         string
	PrincipalID      string
	ActiveKeys       int64
	KeysUsedSince    int64 // active keys used since the given instant
	ClientsUsedSince int64 // clients owned by the principal used since the given instant
	LastKeyUse       *time.Time
	// LastKeyAdded is the latest AddedAt of the principal's active keys,
	// nil without any: a holder is judged only once it has been watched
	// for a whole window.
	LastKeyAdded *time.Time
}

// MigrationDay is one tenant's holder-state counts on one UTC day, the
// history behind `authz report migration --history`.
type MigrationDay struct {
	TenantID string
	Day      time.Time // 00:00 UTC
	// Counts maps a holder state (legacykeys.HolderState) to its holders.
	Counts     map[string]int64
	ActiveKeys int64
	UpdatedAt  time.Time
}

// OrphanKeyFilter narrows ListOrphanKeys. TenantID "" = all. With UsedSince
// set, Used keeps the keys last used at or after it, and !Used the others
// (never used, or last used before it): the report's two parts.
type OrphanKeyFilter struct {
	TenantID  string
	UsedSince time.Time
	Used      bool
}

// OrphanKey is an active legacy key whose owner chain is broken. OwnerStatus
// is "" when the owner does not exist; TenantStatus is "" when the tenant
// does not exist.
type OrphanKey struct {
	Key          LegacyKey
	OwnerStatus  Status
	TenantStatus Status
}

// StatusEntry is one index of the Token Status List with the state of the
// credential it stands for. A Status of "" means that object does not exist.
type StatusEntry struct {
	Idx           int64
	Credential    string // "client:<id>" or "key:<id>"
	InvalidatedAt *time.Time
	// CredentialStatus is the client's status, or the legacy key's.
	CredentialStatus Status
	// CredentialExpiresAt is the legacy key's expiry, if any.
	CredentialExpiresAt *time.Time
	OwnerStatus         Status
	TenantStatus        Status
}

// StatusExtent is the size of the status list, returned with its
// exceptions by Queries.ListStatusExceptions.
type StatusExtent struct {
	// Top is the highest allocated index, -1 if there is none.
	Top int64
	// Count is how many indices are allocated.
	Count int64
	// NextExpiry is the earliest expiry in (now, horizon] of a legacy key
	// that holds a current index, nil if none. The horizon bounds the
	// keys read: those expiring later are found by a later build.
	NextExpiry *time.Time
}

// PoolStats describes a backend's connection pool.
type PoolStats struct {
	MaxOpen      int // the most connections the pool will open
	Open         int
	InUse        int
	Idle         int
	WaitCount    int64
	WaitDuration time.Duration
}

// Queries are the reads every backend offers, in or out of a transaction.
type Queries interface {
	GetTenant(ctx context.Context, id string) (Tenant, error)
	ListTenants(ctx context.Context, f TenantFilter, p Page) ([]Tenant, string, error)

	GetPrincipal(ctx context.Context, id string) (Principal, error)
	// GetPrincipalByExternalID finds the non-deleted principal of a tenant
	// with that external id.
	GetPrincipalByExternalID(ctx context.Context, tenantID, externalID string) (Principal, error)
	ListPrincipals(ctx context.Context, f PrincipalFilter, p Page) ([]Principal, string, error)

	GetClient(ctx context.Context, id string) (Client, error)
	ListClients(ctx context.Context, f ClientFilter, p Page) ([]Client, string, error)

	GetRole(ctx context.Context, id string) (Role, error)
	GetRoleByName(ctx context.Context, tenantID, name string) (Role, error)
	ListRoles(ctx context.Context, f RoleFilter, p Page) ([]Role, string, error)
	ListBindings(ctx context.Context, f BindingFilter, p Page) ([]Binding, string, error)
	// RolesOfPrincipal returns every role bound to the principal, by name.
	RolesOfPrincipal(ctx context.Context, principalID string) ([]Role, error)

	GetLegacyKey(ctx context.Context, id string) (LegacyKey, error)
	GetLegacyKeyByHash(ctx context.Context, hash []byte) (LegacyKey, error)
	ListLegacyKeys(ctx context.Context, f LegacyKeyFilter, p Page) ([]LegacyKey, string, error)
	// ListOrphanKeys lists active keys whose owner is missing, deleted or
	// suspended, or whose tenant is suspended or missing, by key id.
	ListOrphanKeys(ctx context.Context, f OrphanKeyFilter, p Page) ([]OrphanKey, string, error)
	// LegacyKeyStats summarises key usage per tenant relative to now.
	LegacyKeyStats(ctx context.Context, tenantID string, now time.Time) ([]KeyStats, error)
	// GetLegacyKeysByHash returns the keys whose hash is one of hashes, in
	// no particular order (hashes that match nothing are left out): the
	// batched form of GetLegacyKeyByHash, for imports.
	GetLegacyKeysByHash(ctx context.Context, hashes [][]byte) ([]LegacyKey, error)
	// ListKeyClaims returns the members of the open conflict keyID is part
	// of (none when it is in no open conflict), holder first.
	ListKeyClaims(ctx context.Context, keyID string) ([]KeyClaim, error)
	// HolderStats summarises, per key owner, active keys and what was used
	// since the given instant.
	HolderStats(ctx context.Context, tenantID string, since time.Time) ([]HolderStats, error)

	// ListPrincipalsByExternalIDs returns the principals of the tenant,
	// tombstones included, whose external id is one of externalIDs, by id.
	ListPrincipalsByExternalIDs(ctx context.Context, tenantID string, externalIDs []string) ([]Principal, error)
	// ListExpiringKeys lists active keys of a tenant ("" = all) with
	// from < expires_at < to, soonest first (ties by id); the cursor is
	// opaque.
	ListExpiringKeys(ctx context.Context, tenantID string, from, to time.Time, p Page) ([]LegacyKey, string, error)
	// ListMigrationHistory returns the days of a tenant ("" = all) from
	// since on, by day then tenant.
	ListMigrationHistory(ctx context.Context, tenantID string, since time.Time) ([]MigrationDay, error)

	// ListSigningKeys returns all signing keys, oldest first.
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)

	// ListAudit lists events by seq (ascending unless f.Descending).
	ListAudit(ctx context.Context, f AuditFilter, p Page) ([]AuditEvent, string, error)
	// AuditAnchor returns where the kept audit log begins: the last event
	// pruned (zero when nothing was ever pruned). Events at or below its
	// Seq are no longer part of the log, even while PruneAudit has not yet
	// deleted them all.
	AuditAnchor(ctx context.Context) (AuditAnchor, error)
	// AuditSegmentEnd returns the event that ends the export segment for
	// until: of the events with a seq above after and a time before
	// until, the one with the latest time (ties: the highest seq). Seq 0
	// when there is none. Export and prune compute the same end from the
	// same rows.
	AuditSegmentEnd(ctx context.Context, after int64, until time.Time) (AuditEndpoint, error)
	// CountAuditByCode counts matching events grouped by error_code.
	CountAuditByCode(ctx context.Context, f AuditFilter) (map[string]int64, error)

	// TokenRevoked reports whether an access token's jti was revoked.
	TokenRevoked(ctx context.Context, jti string) (bool, error)

	ListWebhooks(ctx context.Context, f WebhookFilter, p Page) ([]Webhook, string, error)

	// GetStatusIndex returns the current Token Status List index of a
	// credential ("client:<id>" or "key:<id>"), ErrNotFound if it has none.
	GetStatusIndex(ctx context.Context, credential string) (int64, error)
	// ListStatusEntries lists status-list entries with idx > afterIdx, by
	// idx, joined with the state of their credential's chain.
	ListStatusEntries(ctx context.Context, afterIdx int64, limit int) ([]StatusEntry, error)
	// ListStatusExceptions calls each, by idx, for the status
	// exceptions, without reading every entry, and returns the list's
	// extent, with the next key expiry looked for in (now, horizon]. The
	// exceptions are what a status-list build at now needs:
	// every entry that is not VALID at now, with the same columns as
	// ListStatusEntries, given that
	//
	//   - every current entry's credential, owner and tenant exist, and
	//     their statuses are ones this code writes (active, suspended,
	//     deleted for principals, revoked for legacy keys);
	//   - a current entry whose key was revoked, whose key expired or
	//     whose owner was deleted before since has been invalidated.
	//
	// They are all invalidated entries; the current entries of suspended
	// clients, of the keys and clients of suspended principals and of
	// non-active tenants; and those of keys revoked or expired, and of
	// owners deleted, at or after since. Some may be VALID (a retired
	// epoch). A caller that cannot vouch for the conditions reads every
	// entry with ListStatusEntries instead.
	//
	// They are streamed, since when a tenant of a million keys is
	// suspended they are a million. An error from each stops the listing
	// and is returned as it is.
	ListStatusExceptions(ctx context.Context, now, since, horizon time.Time, each func(StatusEntry) error) (StatusExtent, error)

	// GetConsoleSession returns the console session or link whose secret
	// hashes to hash, ErrNotFound if none (expired ones included: callers
	// check ExpiresAt).
	GetConsoleSession(ctx context.Context, hash string) (ConsoleSession, error)

	// GetSetting returns a server-wide setting, ErrNotFound if unset.
	GetSetting(ctx context.Context, key string) (string, error)

	// Audiences (resource servers, SPEC §2). GetAudienceByIdentifier is
	// the token endpoint's question: who owns this identifier?
	GetAudience(ctx context.Context, id string) (Audience, error)
	GetAudienceByIdentifier(ctx context.Context, identifier string) (Audience, error)
	ListAudiences(ctx context.Context, f AudienceFilter, p Page) ([]Audience, string, error)
	// AlertQueries: hourly use counts and credential networks (alerts.go).
	AlertQueries
	// RefusalQueries: refused token requests per tenant, hour and
	// error_code (refusals.go).
	RefusalQueries
	// SCIM (issue 20): principal sources, groups, connector tokens.
	SCIMQueries

	// Generation increases with every committed change to tenants,
	// principals, clients, roles, bindings, legacy keys (not their usage
	// counters), signing keys, audiences, SCIM tokens (not their last-use
	// stamp) or the end of a status-list epoch, on any replica. Caches compare it to know
	// they are stale.
	Generation(ctx context.Context) (int64, error)

	// ListAuthLocks returns the counters locked at or after lockedSince and
	// still locked at now: how a replica learns of the others' locks.
	ListAuthLocks(ctx context.Context, lockedSince, now time.Time) ([]AuthFailure, error)
}

// Mutations are the writes every backend offers, in or out of a
// transaction. Update* read the current object, pass it to fn and store what
// fn returns, atomically: concurrent updates of one object serialise, and fn
// may observe the result of the one that committed first. If fn returns an
// error, nothing is written and Update returns that error.
type Mutations interface {
	CreateTenant(ctx context.Context, t Tenant) error
	UpdateTenant(ctx context.Context, id string, fn func(Tenant) (Tenant, error)) (Tenant, error)

	CreatePrincipal(ctx context.Context, p Principal) error
	UpdatePrincipal(ctx context.Context, id string, fn func(Principal) (Principal, error)) (Principal, error)

	CreateClient(ctx context.Context, c Client) error
	UpdateClient(ctx context.Context, id string, fn func(Client) (Client, error)) (Client, error)
	// DeleteClient removes the client and ends its current status-list
	// index at at: its outstanding tokens are invalid from then on.
	DeleteClient(ctx context.Context, id string, at time.Time) error

	CreateRole(ctx context.Context, r Role) error
	UpdateRole(ctx context.Context, id string, fn func(Role) (Role, error)) (Role, error)
	// DeleteRole removes the role and its bindings.
	DeleteRole(ctx context.Context, id string) error
	CreateBinding(ctx context.Context, b Binding) error
	DeleteBinding(ctx context.Context, principalID, roleID string) error

	CreateLegacyKey(ctx context.Context, k LegacyKey) error
	// CreateLegacyKeys inserts many keys at once; keys whose id or hash
	// already exists are skipped. It returns the ids that were inserted.
	CreateLegacyKeys(ctx context.Context, ks []LegacyKey) ([]string, error)
	UpdateLegacyKey(ctx context.Context, id string, fn func(LegacyKey) (LegacyKey, error)) (LegacyKey, error)
	// RemapLegacyKeys points every key of the tenant whose OwnerRef or
	// OwnerID equals oldRef at newOwnerID, and returns how many changed.
	RemapLegacyKeys(ctx context.Context, tenantID, oldRef, newOwnerID string) (int64, error)
	// AddKeyClaims records members of a key conflict.
	AddKeyClaims(ctx context.Context, cs []KeyClaim) error
	// ResolveKeyClaims closes the open conflict conflictID: winnerKeyID's
	// claim gets outcome "won", every other one "dropped".
	ResolveKeyClaims(ctx context.Context, conflictID, winnerKeyID string, at time.Time, by string) error
	// RecordKeyUsage adds counts and advances last-used times (never back).
	RecordKeyUsage(ctx context.Context, us []KeyUsage) error
	// RecordClientUsage advances clients' last-used times (never back).
	RecordClientUsage(ctx context.Context, us []ClientUsage) error

	// PutMigrationDays stores each tenant's counts of a day, replacing
	// what was stored for that tenant and day.
	PutMigrationDays(ctx context.Context, days []MigrationDay) error
	// PruneMigrationHistory deletes days before the given instant and
	// returns how many rows went.
	PruneMigrationHistory(ctx context.Context, before time.Time) (int64, error)

	CreateSigningKey(ctx context.Context, k SigningKey) error
	UpdateSigningKey(ctx context.Context, kid string, fn func(SigningKey) (SigningKey, error)) (SigningKey, error)
	DeleteSigningKey(ctx context.Context, kid string) error

	// InsertAssertionJTI remembers a private_key_jwt assertion id until exp.
	// It returns ErrConflict if the client already used that jti: the check
	// and the insert are one atomic statement.
	InsertAssertionJTI(ctx context.Context, clientID, jti string, exp time.Time) error
	// RevokeToken records a revoked access token's jti until the token's
	// expiry. Revoking twice is not an error.
	RevokeToken(ctx context.Context, jti string, exp time.Time) error
	// PurgeExpired deletes assertion jtis and revoked-token records whose
	// expiry is before now, webhooks delivered more than a week ago, and
	// webhooks queued more than a month ago and never delivered (given up);
	// it returns how many rows went.
	PurgeExpired(ctx context.Context, now time.Time) (int64, error)

	EnqueueWebhook(ctx context.Context, w Webhook) error
	// ClaimWebhooks returns up to limit undelivered webhooks due at now and
	// pushes their NextAttemptAt to now+lease, so that another replica
	// claiming at the same time gets others.
	ClaimWebhooks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Webhook, error)
	MarkWebhookDelivered(ctx context.Context, id string, at time.Time) error
	MarkWebhookFailed(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error

	// AllocateStatusIndex returns the credential's current status-list index,
	// allocating the smallest free index if it has none; concurrent callers
	// (on any replica) get the same index.
	AllocateStatusIndex(ctx context.Context, credential string, now time.Time) (int64, error)
	// AllocateStatusIndexes is AllocateStatusIndex for several credentials
	// at once, in one transaction (the group commit of first uses,
	// statuslist/publisher): out[i] is credentials[i]'s index, a
	// credential named twice gets one index, and those without a current
	// index get new ones in the order given, smallest free first. It
	// allocates all or none: one malformed credential fails the call.
	AllocateStatusIndexes(ctx context.Context, credentials []string, now time.Time) ([]int64, error)
	// InvalidateStatusIndex ends the credential's current index (its tokens
	// are then invalid); the next AllocateStatusIndex gives a new one.
	// No-op if it has none.
	InvalidateStatusIndex(ctx context.Context, credential string, at time.Time) error
	// PurgeStatusEntries frees indices invalidated before the given instant,
	// so they can be allocated again.
	PurgeStatusEntries(ctx context.Context, invalidatedBefore time.Time) (int64, error)

	// CreateAudience registers an audience. Its identifier is unique
	// across all tenants (ErrConflict); its tenant and the tenants it is
	// shared with must exist (ErrNotFound).
	CreateAudience(ctx context.Context, a Audience) error
	// UpdateAudience may change SharedWith only; the identifier and the
	// owner are fixed.
	UpdateAudience(ctx context.Context, id string, fn func(Audience) (Audience, error)) (Audience, error)
	DeleteAudience(ctx context.Context, id string) error
	// SCIM (issue 20).
	SCIMMutations
	// CreateConsoleSession stores a console link or session; ErrConflict if
	// the hash exists.
	CreateConsoleSession(ctx context.Context, s ConsoleSession) error
	// ConsumeConsoleLink deletes the link whose secret hashes to hash and
	// returns it, in one statement: of two concurrent uses only one gets
	// it. ErrNotFound if there is no such link (used, or never made).
	ConsumeConsoleLink(ctx context.Context, hash string) (ConsoleSession, error)
	// TouchConsoleSession advances a session's LastSeenAt (never back).
	TouchConsoleSession(ctx context.Context, hash string, at time.Time) error
	// DeleteConsoleSession removes a session or link; no error if absent.
	DeleteConsoleSession(ctx context.Context, hash string) error

	SetSetting(ctx context.Context, key, value string) error
	// SetSettingIfAbsent stores value unless the key is set, and returns the
	// value now stored, so that replicas starting together agree.
	SetSettingIfAbsent(ctx context.Context, key, value string) (string, error)

	// Failed-authentication counters shared by replicas (ratelimit.Lockout).
	// Only failures write; a success clears a counter only where this
	// replica saw failures.

	// CountAuthFailures adds one failure to each counter of fs (Key,
	// Threshold, LockFor are read) at now, atomically per counter, and
	// returns the counters after the change (see AuthFailure).
	CountAuthFailures(ctx context.Context, fs []AuthFailure, now time.Time, window time.Duration) ([]AuthFailure, error)
	// ClearAuthFailures forgets the failures of key unless it is locked at now.
	ClearAuthFailures(ctx context.Context, key string, now time.Time) error
	// AlertMutations: hourly use counts, credential networks, alert
	// marks (alerts.go).
	AlertMutations
	// RefusalMutations: the usage flush's refusal counts (refusals.go).
	RefusalMutations
}

// Tx is a transaction. Besides the ordinary reads and writes it can lock the
// two serialisation points that span replicas.
type Tx interface {
	Queries
	Mutations
	// LockSigningKeys serialises signing-key changes across replicas until
	// the transaction ends.
	LockSigningKeys(ctx context.Context) error
	// AuditHead locks and returns the end of the audit chain (Seq 0 and nil
	// Hash for an empty log) until the transaction ends.
	AuditHead(ctx context.Context) (AuditHead, error)
	// InsertAudit stores events already chained by the caller (Seq, PrevHash,
	// Hash set, consecutive after AuditHead) and moves the head to the last.
	InsertAudit(ctx context.Context, events []AuditEvent) error
	// LockAuditAnchor locks and returns the audit anchor until the
	// transaction ends, so that two prunes take turns. Appends do not
	// take this lock: a prune never waits for issuance, nor issuance for
	// a prune.
	LockAuditAnchor(ctx context.Context) (AuditAnchor, error)
	// SetAuditAnchor moves the anchor forward (a.Seq above the current
	// anchor's, ErrConflict otherwise). Only the anchor moves: the events
	// at or below it are deleted afterwards by PruneAudit.
	SetAuditAnchor(ctx context.Context, a AuditAnchor) error
}

// AuditRetention is what the audit log's retention needs besides Tx:
// deleting what lies below the anchor, preparing storage ahead of time,
// and a lease so that one replica of many does the scheduled work.
type AuditRetention interface {
	// PruneAudit deletes the events at or below the anchor, in batches of
	// at most batch rows, each in a short transaction of its own, so that
	// issuance is never held up for long (PostgreSQL first drops the
	// time partitions that hold nothing above the anchor). It can be
	// interrupted and run again: what is left is deleted next time.
	PruneAudit(ctx context.Context, batch int) (AuditPruned, error)
	// PrepareAudit makes ready what appends will need soon, as of now
	// (PostgreSQL: the partitions of the coming days). Idempotent; a
	// no-op where there is nothing to prepare (SQLite).
	PrepareAudit(ctx context.Context, now time.Time) error
	// TryLease takes or renews the named lease for holder until now+ttl
	// and reports whether holder has it: it succeeds when the lease is
	// free, expired or already holder's. It is a row, not a session
	// lock, so it works through transaction-pooling proxies.
	TryLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if holder has it.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Store is the whole persistence layer. Every backend passes storetest.Run.
type Store interface {
	Queries
	Mutations
	AuditRetention
	// Tx runs fn in one transaction and commits if fn returns nil. If fn
	// returns an error, or the commit fails, nothing fn wrote remains.
	Tx(ctx context.Context, fn func(tx Tx) error) error
	// AppendAudit stores events already chained by the caller after the
	// head they name (events[0].Seq-1, whose hash is events[0].PrevHash)
	// and moves the head to the last of them, in a transaction of its own,
	// without reading or locking the head first: on PostgreSQL one
	// statement, one round trip. If the head is anywhere else (another
	// writer appended), it writes nothing and returns an error wrapping
	// ErrConflict; the caller then reads the head (Tx.AuditHead), chains
	// again and retries. For a writer that remembers the head it last
	// wrote (audit.Recorder).
	AppendAudit(ctx context.Context, events []AuditEvent) error
	// Changes returns a channel that receives a value soon after any
	// replica commits a change that moves Generation, for backends that can
	// push (PostgreSQL LISTEN/NOTIFY), or nil for those that cannot (callers
	// then poll Generation). The channel closes when ctx ends.
	Changes(ctx context.Context) <-chan struct{}
	// LocalChanges is a counter that this process bumps, before Tx returns,
	// for every committed change that moves Generation. Reading it costs no
	// I/O, so a cache can check it on every read and see this replica's own
	// changes at once; other replicas' changes arrive through Generation.
	LocalChanges() uint64
	// PoolStats reports the connection pool, for metrics.
	PoolStats() PoolStats
	// Ping checks that the database answers.
	Ping(ctx context.Context) error
	// Backend names the backend: "sqlite" or "postgres".
	Backend() string
	Close() error
}
