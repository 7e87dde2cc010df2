package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

// Run is the conformance suite: every backend passes it. open returns a
// fresh, empty, migrated store for each subtest; the suite does not close
// it (open registers its own cleanup).
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	RunOnly(t, open)
}

// RunOnly is Run restricted to the named subtests (all of them when none
// is named), for backends reached in ways too slow to run everything
// through, such as a connection pooler that needs a database per subtest.
// A name that is not a subtest fails.
func RunOnly(t *testing.T, open func(t *testing.T) store.Store, names ...string) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	for _, c := range []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Tenants", testTenants},
		{"Principals", testPrincipals},
		{"Clients", testClients},
		{"ClientSecretUses", testClientSecretUses},
		{"RolesAndBindings", testRolesAndBindings},
		{"LegacyKeys", testLegacyKeys},
		{"CreateLegacyKeys", testCreateLegacyKeys},
		{"RemapLegacyKeys", testRemapLegacyKeys},
		{"KeyClaims", testKeyClaims},
		{"GetLegacyKeysByHash", testGetLegacyKeysByHash},
		{"KeyUsage", testKeyUsage},
		{"LegacyKeyStats", testLegacyKeyStats},
		{"HolderStats", testHolderStats},
		{"OrphanKeys", testOrphanKeys},
		{"SigningKeys", testSigningKeys},
		{"SigningKeyLock", testSigningKeyLock},
		{"Settings", testSettings},
		{"Generation", testGeneration},
		{"Pagination", testPagination},
		{"BadCursors", testBadCursors},
		{"TxRollback", testTxRollback},
		{"TxPanic", testTxPanic},
		{"TxAbortedAfterError", testTxAbortedAfterError},
		{"TxContextEnds", testTxContextEnds},
		{"TxContextEndsAudit", testTxContextEndsAudit},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"Audit", testAudit},
		{"AuditHeadLock", testAuditHeadLock},
		// Issue 13: the audit group commit without reading the head.
		{"AuditAppend", testAuditAppend},
		// Issue 14: audit retention.
		{"AuditRetention", testAuditRetention},
		{"Leases", testLeases},
		{"AssertionJTI", testAssertionJTI},
		{"RevokedTokens", testRevokedTokens},
		{"PurgeExpired", testPurgeExpired},
		{"Webhooks", testWebhooks},
		{"ClaimWebhooksConcurrently", testClaimWebhooksConcurrently},
		{"StatusList", testStatusList},
		{"AllocateStatusIndexConcurrently", testAllocateStatusIndexConcurrently},
		// Issue 13: first uses of credentials allocated in groups.
		{"AllocateStatusIndexes", testAllocateStatusIndexes},
		{"AllocateStatusIndexesRolledBack", testAllocateStatusIndexesRolledBack},
		{"AllocateStatusIndexesConcurrently", testAllocateStatusIndexesConcurrently},
		{"StatusEntries", testStatusEntries},
		{"StatusExceptions", testStatusExceptions},
		{"Ping", testPing},
		{"AuthFailures", testAuthFailures},
		{"Audiences", testAudiences},
		{"HourlyUses", testHourlyUses},
		{"CredentialNetworks", testCredentialNetworks},
		{"ClaimAlert", testClaimAlert},
		{"CountAlert", testCountAlert},
		// Issue 19: reports at a million keys.
		{"PrincipalsByExternalIDs", testPrincipalsByExternalIDs},
		{"ExpiringKeys", testExpiringKeys},
		{"AddedAtDefaultsToCreatedAt", testAddedAtDefault},
		{"MigrationHistory", testMigrationHistory},
		{"KeyTally", testKeyTally},
		{"SCIMTokens", testSCIMTokens},
		{"SCIMUsers", testSCIMUsers},
		{"SCIMGroups", testSCIMGroups},
		{"ConsoleSessions", testConsoleSessions},
		// Issue 12: refusals per tenant, hour and error_code.
		{"RefusalCounts", testRefusalCounts},
	} {
		if len(want) > 0 && !want[c.name] {
			continue
		}
		delete(want, c.name)
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.fn(t, open(t))
		})
	}
	for n := range want {
		t.Errorf("storetest.RunOnly: no subtest %q", n)
	}
}

// t0 is the suite's clock: a fixed instant with microsecond detail, so
// that every comparison also checks precision and time zone handling.
var t0 = time.Date(2031, 3, 14, 15, 9, 26, 535897000, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func ptr[T any](v T) *T { return &v }

func ctxOf(t *testing.T) context.Context { return t.Context() }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantErr fails unless errors.Is(err, target).
func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

// Fixtures. Identifiers are fixed and readable; each subtest has a store
// of its own.

func tenant(id string) store.Tenant {
	return store.Tenant{
		ID: id, Name: "name-" + id, Status: store.StatusActive,
		StatusChangedAt: t0, StatusChangedBy: "cli", CreatedAt: t0, UpdatedAt: t0,
	}
}

func principal(id, tenantID string) store.Principal {
	return store.Principal{
		ID: id, TenantID: tenantID, Kind: store.KindService, DisplayName: "P " + id,
		Status: store.StatusActive, StatusChangedAt: t0, StatusChangedBy: "cli", CreatedAt: t0, UpdatedAt: t0,
	}
}

func client(id, tenantID, ownerID string) store.Client {
	return store.Client{
		ID: id, TenantID: tenantID, OwnerID: ownerID, Name: "client " + id, AuthMethod: store.AuthSecretBasic,
		Secrets:    []store.ClientSecret{{ID: "sec_" + id, Hash: []byte("hash-" + id), CreatedAt: t0}},
		GrantTypes: []string{store.GrantClientCredentials}, Scopes: []string{"orders:read"},
		Audiences: []string{"https://api.example"}, Status: store.StatusActive,
		StatusChangedAt: t0, CreatedAt: t0, UpdatedAt: t0,
	}
}

func role(id, tenantID, name string, perms ...string) store.Role {
	return store.Role{ID: id, TenantID: tenantID, Name: name, Permissions: perms, CreatedAt: t0, UpdatedAt: t0}
}

func legacyKey(id, tenantID, ownerID string) store.LegacyKey {
	return store.LegacyKey{
		ID: id, Hash: []byte("hash-of-" + id), TenantID: tenantID, OwnerID: ownerID, Scopes: []string{},
		Label: "label " + id, Environment: "prod", Source: store.SourceIssued, CreatedAt: t0,
		Status: store.StatusActive, UpdatedAt: t0, AddedAt: t0,
	}
}

// seed creates a tenant with one active principal in it.
func seed(t *testing.T, s store.Store, tenantID, principalID string) {
	t.Helper()
	must(t, s.CreateTenant(ctxOf(t), tenant(tenantID)))
	must(t, s.CreatePrincipal(ctxOf(t), principal(principalID, tenantID)))
}

// diff describes how got differs from want, or returns "". Values are
// compared exactly (reflect.DeepEqual): the store returns times in UTC at
// microsecond precision, the same form the fixtures use.
func diff[T any](got, want T) string {
	if reflect.DeepEqual(got, want) {
		return ""
	}
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	return fmt.Sprintf("\n got: %s\nwant: %s", g, w)
}
