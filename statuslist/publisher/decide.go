package publisher

import (
	"time"

	"github.com/authz/authz/statuslist"
	"github.com/authz/authz/store"
)

// Decide returns the status an entry is published with at now.
//
// INVALID wins over SUSPENDED, because resuming must bring back only what
// a suspension took away: an entry is INVALID when its epoch was
// invalidated (token revocation, key revocation, reassignment), when the
// credential is gone, revoked or expired, or when its owner or tenant is
// deleted or missing; otherwise it is SUSPENDED when the client, the owner
// or the tenant is suspended, and VALID when the whole chain is active.
// Anything not recognised is INVALID: an unknown state never passes.
//
// An epoch invalidated more than retireAfter ago is VALID again: every
// token that carried its index has expired by then, and the lists that
// still call it INVALID must expire before the index is handed to another
// credential (see Config.retireAfter and purgeAfter).
func Decide(e store.StatusEntry, now time.Time, retireAfter time.Duration) statuslist.Status {
	if e.InvalidatedAt != nil {
		if now.Sub(*e.InvalidatedAt) > retireAfter {
			return statuslist.Valid
		}
		return statuslist.Invalid
	}
	suspended := false
	for _, s := range []store.Status{e.CredentialStatus, e.OwnerStatus, e.TenantStatus} {
		switch s {
		case store.StatusActive:
		case store.StatusSuspended:
			suspended = true
		default: // "" (missing), deleted, revoked, or unknown
			return statuslist.Invalid
		}
	}
	if e.CredentialExpiresAt != nil && !now.Before(*e.CredentialExpiresAt) {
		return statuslist.Invalid
	}
	if suspended {
		return statuslist.Suspended
	}
	return statuslist.Valid
}

// over reports whether an entry's epoch can never issue another token and
// never become VALID again: its credential is gone, revoked or expired, or
// its owner is deleted or missing, or its tenant missing. Suspensions are
// not over (they are undone by resuming), nor are states this code does not
// know. Builds end such epochs, so that their indices retire and are
// reclaimed like those of revoked tokens.
func over(e store.StatusEntry, now time.Time) bool {
	if e.InvalidatedAt != nil {
		return false // already ended
	}
	switch e.CredentialStatus {
	case "", store.StatusRevoked:
		return true
	}
	if e.CredentialExpiresAt != nil && !now.Before(*e.CredentialExpiresAt) {
		return true
	}
	switch e.OwnerStatus {
	case "", store.StatusDeleted:
		return true
	}
	return e.TenantStatus == ""
}
