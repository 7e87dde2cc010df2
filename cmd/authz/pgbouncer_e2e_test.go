package main

import (
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/store/postgres/pgproc"
	"github.com/authz/authz/store/storetest"
)

// TestReplicasThroughPgBouncer runs two `authz serve` replicas whose
// --database goes through a real PgBouncer in pool_mode=transaction: the
// first with a direct --database-listen-url (changes pushed by LISTEN),
// the second without one (it polls). Client-credentials tokens and key
// exchanges work through both, and a suspension made through either
// replica is enforced by the other.
func TestReplicasThroughPgBouncer(t *testing.T) {
	base := os.Getenv("AUTHZ_TEST_POSTGRES")
	if base == "" {
		base = storetest.DefaultPostgres
	}
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(u.Port())
	if port == 0 {
		port = 5432
	}
	b := pgproc.StartPgBouncer(t, u.Hostname(), port)
	direct := pgproc.TempDatabase(t, base)
	pooled := b.Through(t, direct)

	key := masterkey.Generate().String()
	a := startServerKey(t, pooled, key, "--database-pooler", "transaction", "--database-listen-url", direct)
	p := startServerKey(t, pooled, key, "--database-pooler", "transaction")
	if !strings.Contains(p.logs.String(), "replicas poll the generation instead") {
		t.Fatalf("the replica without a listen URL does not say that it polls:\n%s", p.logs.String())
	}

	var tn apiv1.Tenant
	a.json(&tn, "tenant", "create", "acme")
	var role apiv1.Role
	a.json(&role, "role", "create", "--tenant", tn.ID, "reader", "--permission", "orders:read")
	holder := func(c *cli, name string) (principal, keyText string, asClient []string) {
		var pr apiv1.Principal
		c.json(&pr, "principal", "create", "--tenant", tn.ID, "--name", name, "--kind", "service")
		c.ok("role", "bind", role.ID, "--principal", pr.ID)
		var cl apiv1.Client
		c.json(&cl, "client", "create", "--tenant", tn.ID, "--owner", pr.ID, "--scope", "orders:read")
		var issued struct{ Key string }
		c.json(&issued, "key", "issue", "--owner", pr.ID)
		return pr.ID, issued.Key, []string{"AUTHZ_CLIENT_ID=" + cl.ID, "AUTHZ_CLIENT_SECRET=" + cl.ClientSecret}
	}

	for _, dir := range []struct {
		name             string
		change, enforcer *cli
	}{
		{"suspended through the listening replica, enforced by the polling one", a, p},
		{"suspended through the polling replica, enforced by the listening one", p, a},
	} {
		t.Run(dir.name, func(t *testing.T) {
			pr, k, asClient := holder(dir.change, strings.ReplaceAll(dir.name[:20], " ", "-"))
			for _, c := range []*cli{a, p} {
				if r := c.run(asClient, "token"); r.code != 0 {
					t.Fatalf("client token through %s: %s", c.issuer, r.stderr)
				}
				if r := c.run(nil, "token", "--api-key", k); r.code != 0 {
					t.Fatalf("key exchange through %s: %s", c.issuer, r.stderr)
				}
			}
			dir.change.ok("principal", "suspend", pr)
			changed := time.Now()
			dir.enforcer.eventually(nil, "owner_suspended", "token", "--api-key", k)
			dir.enforcer.eventually(asClient, "client_suspended", "token")
			t.Logf("enforced by the other replica within %v (CLI round trips included)", time.Since(changed).Round(time.Millisecond))
		})
	}
}
