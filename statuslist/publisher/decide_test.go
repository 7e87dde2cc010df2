package publisher_test

import (
	"testing"
	"time"

	"github.com/authz/authz/statuslist"
	"github.com/authz/authz/statuslist/publisher"
	"github.com/authz/authz/store"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	const retire = time.Hour
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	const (
		active    = store.StatusActive
		suspended = store.StatusSuspended
		deleted   = store.StatusDeleted
		revoked   = store.StatusRevoked
		missing   = store.Status("")
	)
	client := func(c, o, tn store.Status) store.StatusEntry {
		return store.StatusEntry{Idx: 7, Credential: "client:cli_1", CredentialStatus: c, OwnerStatus: o, TenantStatus: tn}
	}
	key := func(k store.Status, exp *time.Time, o, tn store.Status) store.StatusEntry {
		return store.StatusEntry{Idx: 8, Credential: "key:key_1", CredentialStatus: k, CredentialExpiresAt: exp, OwnerStatus: o, TenantStatus: tn}
	}
	invalidated := func(e store.StatusEntry, at *time.Time) store.StatusEntry { e.InvalidatedAt = at; return e }
	for _, tc := range []struct {
		name string
		e    store.StatusEntry
		want statuslist.Status
	}{
		{"client, owner and tenant active", client(active, active, active), statuslist.Valid},
		{"client suspended", client(suspended, active, active), statuslist.Suspended},
		{"owner suspended", client(active, suspended, active), statuslist.Suspended},
		{"tenant suspended", client(active, active, suspended), statuslist.Suspended},
		{"all suspended", client(suspended, suspended, suspended), statuslist.Suspended},
		{"client deleted (row gone)", client(missing, missing, missing), statuslist.Invalid},
		{"owner deleted", client(active, deleted, active), statuslist.Invalid},
		{"owner deleted, client suspended: invalid wins", client(suspended, deleted, active), statuslist.Invalid},
		{"owner missing", client(active, missing, active), statuslist.Invalid},
		{"tenant missing", client(active, active, missing), statuslist.Invalid},
		{"unknown credential status", client("disabled", active, active), statuslist.Invalid},
		{"unknown owner status", client(active, "locked", active), statuslist.Invalid},

		{"key active", key(active, nil, active, active), statuslist.Valid},
		{"key active, expires later", key(active, at(time.Second), active, active), statuslist.Valid},
		{"key expired", key(active, at(-time.Second), active, active), statuslist.Invalid},
		{"key expires now", key(active, at(0), active, active), statuslist.Invalid},
		{"key revoked", key(revoked, nil, active, active), statuslist.Invalid},
		{"key revoked, tenant suspended: invalid wins", key(revoked, nil, active, suspended), statuslist.Invalid},
		{"key expired, owner suspended: invalid wins", key(active, at(-time.Hour), suspended, active), statuslist.Invalid},
		{"key owner suspended", key(active, nil, suspended, active), statuslist.Suspended},
		{"key tenant suspended", key(active, nil, active, suspended), statuslist.Suspended},
		{"key owner deleted", key(active, nil, deleted, active), statuslist.Invalid},
		{"key owner not found", key(active, nil, missing, active), statuslist.Invalid},
		{"key gone", key(missing, nil, missing, missing), statuslist.Invalid},

		{"epoch ended", invalidated(client(active, active, active), at(-time.Minute)), statuslist.Invalid},
		{"epoch ended, chain suspended", invalidated(client(suspended, active, active), at(-time.Minute)), statuslist.Invalid},
		{"epoch ended exactly retire ago", invalidated(client(active, active, active), at(-retire)), statuslist.Invalid},
		{"epoch retired: its tokens have all expired", invalidated(client(active, active, active), at(-retire-time.Second)), statuslist.Valid},
		{"epoch retired, credential gone", invalidated(key(missing, nil, missing, missing), at(-2*retire)), statuslist.Valid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := publisher.Decide(tc.e, now, retire); got != tc.want {
				t.Fatalf("Decide = %v, want %v", got, tc.want)
			}
		})
	}
}
