package publisher

import (
	"testing"
	"time"

	"github.com/authz/authz/store"
)

func TestOver(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Second), now.Add(time.Second)
	entry := func(c store.Status, exp *time.Time, o, tn store.Status) store.StatusEntry {
		return store.StatusEntry{Idx: 1, Credential: "key:key_1", CredentialStatus: c, CredentialExpiresAt: exp, OwnerStatus: o, TenantStatus: tn}
	}
	const (
		active    = store.StatusActive
		suspended = store.StatusSuspended
	)
	ended := entry(active, nil, active, active)
	ended.InvalidatedAt = &past
	for _, tc := range []struct {
		name string
		e    store.StatusEntry
		want bool
	}{
		{"all active", entry(active, nil, active, active), false},
		{"suspensions are undone by resuming", entry(suspended, nil, suspended, suspended), false},
		{"expires later", entry(active, &future, active, active), false},
		{"unknown owner status", entry(active, nil, "locked", active), false},
		{"already ended", ended, false},
		{"credential gone", entry("", nil, "", ""), true},
		{"key revoked", entry(store.StatusRevoked, nil, active, active), true},
		{"key expired", entry(active, &past, active, active), true},
		{"key expires now", entry(active, &now, active, active), true},
		{"owner deleted", entry(active, nil, store.StatusDeleted, active), true},
		{"owner missing", entry(active, nil, "", active), true},
		{"tenant missing", entry(active, nil, active, ""), true},
	} {
		if got := over(tc.e, now); got != tc.want {
			t.Errorf("%s: over = %v, want %v", tc.name, got, tc.want)
		}
	}
}
