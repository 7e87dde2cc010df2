package offboarding_test

import (
	"encoding/json"
	"testing"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
	"github.com/authz/authz/notify"
	"github.com/authz/authz/server"
	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/store"
)

// TestOffboardingThroughTheServer drives a dry run, a suspension with a
// reason and a resumption through the real admin API, and checks what the
// key holder, the webhooks, the audit log and key diagnose then say.
func TestOffboardingThroughTheServer(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db, func(c *server.Config) { c.WebhookURL = "http://127.0.0.1:9/hooks" })
		ctx := e.Ctx()
		a := e.Admin()
		h := e.Holder("acme", "user")
		k := e.IssueKey(h.Owner.ID, nil, 0)
		if r := e.Exchange(k.Key, nil, "", ""); r.Status != 200 {
			t.Fatalf("exchange: %d %s", r.Status, r.Raw)
		}
		if err := e.Srv.Usage.Flush(ctx); err != nil {
			t.Fatal(err)
		}

		dry, err := a.ChangePrincipal(ctx, h.Owner.ID, "suspend", apiv1.PrincipalStatusChange{DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if !dry.DryRun || dry.Changed || dry.Status != "active" || dry.Impact == nil || len(dry.Impact.Credentials) != 1 {
			t.Fatalf("dry run %+v", dry)
		}
		c := dry.Impact.Credentials[0]
		if c.ID != k.ID || c.Type != "legacy_key" || c.LastUsedAt == nil || c.Uses24h == nil || *c.Uses24h != 1 ||
			c.OutstandingTokens == nil || *c.OutstandingTokens != 1 || !c.UsedRecently {
			t.Fatalf("dry run lists %+v", c)
		}
		if r := e.Exchange(k.Key, nil, "", ""); r.Status != 200 {
			t.Fatalf("exchange after the dry run: %d %s", r.Status, r.Raw)
		}

		const reason = "left the company (HR-1234)"
		susp, err := a.ChangePrincipal(ctx, h.Owner.ID, "suspend", apiv1.PrincipalStatusChange{Reason: reason})
		if err != nil {
			t.Fatal(err)
		}
		if !susp.Changed || susp.Status != "suspended" || len(susp.Impact.Credentials) != 1 || susp.Impact.Credentials[0].ID != k.ID {
			t.Fatalf("suspension %+v", susp)
		}
		servertest.WantError(t, e.Exchange(k.Key, nil, "", ""), 400, "invalid_request", "owner_suspended")

		d, err := a.DiagnoseKey(ctx, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d.Owner == nil || d.Owner.Change == nil || d.Owner.Change.Reason != reason {
			t.Fatalf("diagnosis owner %+v", d.Owner)
		}

		// The suspension's audit event: reason, the admin client and its
		// owner, the User-Agent.
		evs, err := a.ListAudit(ctx, adminAudit("principal:"+h.Owner.ID, "principal.suspend"))
		if err != nil || len(evs.Items) != 1 {
			t.Fatalf("suspension events %+v %v", evs, err)
		}
		var det map[string]any
		if err := json.Unmarshal(evs.Items[0].Details, &det); err != nil {
			t.Fatal(err)
		}
		if det["reason"] != reason || det["actor_client"] != servertest.AdminID || det["actor_principal"] == nil || det["user_agent"] == nil {
			t.Fatalf("suspension details %v", det)
		}
		// The token's: the key's owner and the User-Agent.
		evs, err = a.ListAudit(ctx, adminAudit("key:"+k.ID, "token.issue"))
		if err != nil || len(evs.Items) == 0 {
			t.Fatalf("token events %+v %v", evs, err)
		}
		det = nil
		if err := json.Unmarshal(evs.Items[0].Details, &det); err != nil {
			t.Fatal(err)
		}
		if det["actor_principal"] != h.Owner.ID || det["user_agent"] == nil {
			t.Fatalf("token.issue details %v", det)
		}

		if _, err := a.ChangePrincipal(ctx, h.Owner.ID, "resume", apiv1.PrincipalStatusChange{Reason: "back from leave"}); err != nil {
			t.Fatal(err)
		}
		if r := e.Exchange(k.Key, nil, "", ""); r.Status != 200 {
			t.Fatalf("exchange after resumption: %d %s", r.Status, r.Raw)
		}

		got := map[string]map[string]any{}
		ws, _, err := e.Srv.Store.ListWebhooks(ctx, store.WebhookFilter{}, store.Page{Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			var env struct {
				Data map[string]any `json:"data"`
			}
			if err := json.Unmarshal(w.Payload, &env); err != nil {
				t.Fatal(err)
			}
			got[w.EventType] = env.Data
		}
		for _, typ := range []string{notify.PrincipalSuspended, notify.PrincipalCredentialsBroken, notify.PrincipalResumed} {
			if got[typ]["principal_id"] != h.Owner.ID {
				t.Fatalf("%s: %v (all: %v)", typ, got[typ], got)
			}
		}
		if got[notify.PrincipalCredentialsBroken]["reason"] != reason || got[notify.PrincipalResumed]["reason"] != "back from leave" {
			t.Fatalf("webhook reasons: %v", got)
		}
	})
}

func adminAudit(target, action string) adminclient.AuditFilter {
	return adminclient.AuditFilter{Target: target, Action: action}
}
