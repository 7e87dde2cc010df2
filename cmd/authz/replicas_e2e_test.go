package main

import (
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/store/storetest"
)

// TestTwoServerProcessesOneDatabase runs two `authz serve` processes on one
// database, as two replicas. A principal suspended through the first is
// refused by the second within one second (SPEC §6): NOTIFY on PostgreSQL,
// the generation poll on SQLite (two processes on one file).
func TestTwoServerProcessesOneDatabase(t *testing.T) {
	for name, url := range map[string]func(testing.TB) string{"sqlite": storetest.SQLiteURL, "postgres": storetest.PostgresURL} {
		t.Run(name, func(t *testing.T) {
			db, key := url(t), masterkey.Generate().String()
			a := startServerKey(t, db, key)
			b := startServerKey(t, db, key)

			var tenant, principal, role struct{ ID string }
			a.json(&tenant, "tenant", "create", "acme")
			a.json(&principal, "principal", "create", "--tenant", tenant.ID, "--name", "batch", "--kind", "service")
			a.json(&role, "role", "create", "--tenant", tenant.ID, "reader", "--permission", "orders:read")
			a.ok("role", "bind", role.ID, "--principal", principal.ID)
			var issued struct{ Key string }
			a.json(&issued, "key", "issue", "--owner", principal.ID)
			exchange := func() result { return b.run(nil, "token", "--api-key", issued.Key) }
			if r := exchange(); r.code != 0 {
				t.Fatalf("exchange at the second server: %s", r.stderr)
			}

			a.ok("principal", "suspend", principal.ID)
			changed := time.Now()
			for {
				asked := time.Now()
				r := exchange()
				if r.code != 0 {
					if !strings.Contains(r.stderr, "owner_suspended") {
						t.Fatalf("refused, but not for the suspension: %s", r.stderr)
					}
					// The refused request left after this much time: the change
					// had reached the second process by then.
					if d := asked.Sub(changed); d > time.Second {
						t.Fatalf("the second server still issued %v after the suspension", d)
					}
					t.Logf("refused by the other process %v after the suspension", asked.Sub(changed))
					return
				}
				if time.Since(changed) > 10*time.Second {
					t.Fatal("the second server never refused the suspended owner's key")
				}
			}
		})
	}
}
