package main

import (
	"strings"
	"testing"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/store/storetest"
)

// TestCLIAudiences drives `authz audience` as an operator would: tenant B
// registers its API; tenant A can neither register it nor give a client
// of its own that audience, until B shares it; -o json prints the admin
// API's objects.
func TestCLIAudiences(t *testing.T) {
	c := startServer(t, storetest.SQLiteURL(t))
	var a, b apiv1.Tenant
	c.json(&a, "tenant", "create", "a")
	c.json(&b, "tenant", "create", "b")
	var pa apiv1.Principal
	c.json(&pa, "principal", "create", "--tenant", a.ID, "--name", "svc", "--kind", "service")

	var aud apiv1.Audience
	c.json(&aud, "audience", "create", "https://b-api", "--tenant", b.ID)
	if aud.ID == "" || aud.Identifier != "https://b-api" || aud.TenantID != b.ID || aud.SharedWith == nil {
		t.Fatalf("audience create -o json: %+v", aud)
	}
	c.fails(nil, "already registered", "audience", "create", "https://b-api", "--tenant", a.ID)
	c.fails(nil, "not registered for tenant "+a.ID, "client", "create", "--tenant", a.ID, "--owner", pa.ID, "--audience", "https://b-api")
	if r := c.run(nil, "client", "create", "--tenant", a.ID, "--owner", pa.ID, "--audience", "https://b-api"); r.code != 1 {
		t.Fatalf("refused client create: exit %d, want 1", r.code)
	}

	c.json(&aud, "audience", "share", aud.ID, "--with", a.ID)
	if len(aud.SharedWith) != 1 || aud.SharedWith[0] != a.ID {
		t.Fatalf("audience share: %+v", aud)
	}
	var cl apiv1.Client
	c.json(&cl, "client", "create", "--tenant", a.ID, "--owner", pa.ID, "--audience", "https://b-api")
	asA := []string{"AUTHZ_CLIENT_ID=" + cl.ID, "AUTHZ_CLIENT_SECRET=" + cl.ClientSecret}
	if r := c.run(asA, "token"); r.code != 0 {
		t.Fatalf("token for a shared audience: exit %d %s", r.code, r.stderr)
	}

	table := c.ok("audience", "list", "--tenant", a.ID)
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], aud.ID) || !strings.Contains(lines[0], "SHARED WITH") {
		t.Fatalf("audience list:\n%s", table)
	}
	c.ok("audience", "unshare", aud.ID, "--with", a.ID)
	c.eventually(asA, "audience_not_granted", "token")
	c.ok("audience", "delete", aud.ID)
	var l apiv1.List[apiv1.Audience]
	c.json(&l, "audience", "list")
	if len(l.Items) != 0 {
		t.Fatalf("after delete: %+v", l.Items)
	}
}
