package legacykeys_test

import (
	"testing"
	"time"

	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/store"
)

// TestStateOf is the holder-state rules, one line each. The window starts
// at since; "old" keys entered authz before it, "fresh" ones within it.
func TestStateOf(t *testing.T) {
	now := t0.Add(400 * day)
	since := now.Add(-legacykeys.UsageWindow)
	old := ptr(since.Add(-time.Second))
	fresh := ptr(now.Add(-time.Hour))
	used := ptr(now.Add(-2 * day))
	for _, c := range []struct {
		name string
		h    store.HolderStats
		want legacykeys.HolderState
	}{
		{"no active key", store.HolderStats{ActiveKeys: 0, LastKeyUse: used}, legacykeys.HolderRetired},
		{"no active key, a client used", store.HolderStats{ActiveKeys: 0, ClientsUsedSince: 2}, legacykeys.HolderRetired},
		{"keys used, no client", store.HolderStats{ActiveKeys: 3, KeysUsedSince: 1, LastKeyUse: used, LastKeyAdded: old}, legacykeys.HolderLegacyOnly},
		{"keys and a client used", store.HolderStats{ActiveKeys: 3, KeysUsedSince: 2, ClientsUsedSince: 1, LastKeyUse: used, LastKeyAdded: old}, legacykeys.HolderDual},
		{"a fresh key already used", store.HolderStats{ActiveKeys: 1, KeysUsedSince: 1, LastKeyUse: used, LastKeyAdded: fresh}, legacykeys.HolderLegacyOnly},
		{"client used, old keys unused", store.HolderStats{ActiveKeys: 2, ClientsUsedSince: 1, LastKeyAdded: old}, legacykeys.HolderTokenOnly},
		{"client used, a key used before the window", store.HolderStats{ActiveKeys: 2, ClientsUsedSince: 1, LastKeyUse: ptr(since.Add(-day)), LastKeyAdded: old}, legacykeys.HolderTokenOnly},
		// The falsehood: keys imported minutes ago, never used, no
		// client. Not ready to revoke: not yet watched.
		{"just imported, no client", store.HolderStats{ActiveKeys: 200, LastKeyAdded: fresh}, legacykeys.HolderNew},
		{"just imported, a client used", store.HolderStats{ActiveKeys: 200, ClientsUsedSince: 1, LastKeyAdded: fresh}, legacykeys.HolderNew},
		{"old keys and one issued in the window", store.HolderStats{ActiveKeys: 2, ClientsUsedSince: 1, LastKeyAdded: ptr(since)}, legacykeys.HolderNew},
		{"added exactly one window ago is watched a whole window", store.HolderStats{ActiveKeys: 1, ClientsUsedSince: 1, LastKeyAdded: ptr(since.Add(-time.Microsecond))}, legacykeys.HolderTokenOnly},
		{"no activity at all", store.HolderStats{ActiveKeys: 4, LastKeyAdded: old}, legacykeys.HolderIdle},
		{"key used only before the window, no client", store.HolderStats{ActiveKeys: 1, LastKeyUse: ptr(since.Add(-day)), LastKeyAdded: old}, legacykeys.HolderIdle},
		{"active keys but no added time", store.HolderStats{ActiveKeys: 1, ClientsUsedSince: 1}, legacykeys.HolderNew},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := legacykeys.StateOf(c.h, since); got != c.want {
				t.Errorf("StateOf(%+v) = %s, want %s", c.h, got, c.want)
			}
		})
	}
}
