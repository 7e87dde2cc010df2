package admin

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/audit"
	"github.com/authz/authz/notify"
	"github.com/authz/authz/store"
)

// TestChangesAreAudited makes each kind of change and checks the event it
// left: who, what, on which object, in which tenant, the request it came
// from, and the fields that changed.
func TestChangesAreAudited(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		f := e.fixture(e.tenantA)
		var spare apiv1.Principal
		e.call(tokAdmin, "POST", "/principals", apiv1.CreatePrincipal{TenantID: e.tenantA, Kind: "user", Name: "spare"}, http.StatusCreated, &spare)
		type change struct {
			name    string
			token   string
			method  string
			path    string
			body    any
			action  string
			target  string // "" : the created object's id, read from the answer
			kind    string
			tenant  string
			changed string // a field that must appear in the details
		}
		tests := []change{
			{"create tenant", tokAdmin, "POST", "/tenants", apiv1.CreateTenant{Name: "globex"}, "tenant.create", "", "tenant", "", "name"},
			{"set sunset", tokA, "PUT", "/tenants/" + e.tenantA + "/sunset", apiv1.SetSunset{LegacySunsetAt: t0.AddDate(0, 6, 0)}, "tenant.set_sunset", "tenant:" + e.tenantA, "", e.tenantA, "legacy_sunset_at"},
			{"suspend tenant", tokAdmin, "POST", "/tenants/" + e.tenantB + "/suspend", nil, "tenant.suspend", "tenant:" + e.tenantB, "", e.tenantB, "status"},
			{"resume tenant", tokAdmin, "POST", "/tenants/" + e.tenantB + "/resume", nil, "tenant.resume", "tenant:" + e.tenantB, "", e.tenantB, "status"},
			{"create principal", tokA, "POST", "/principals", apiv1.CreatePrincipal{Kind: "service", Name: "etl"}, "principal.create", "", "principal", e.tenantA, "kind"},
			{"suspend principal", tokA, "POST", "/principals/" + f.principal.ID + "/suspend", nil, "principal.suspend", "principal:" + f.principal.ID, "", e.tenantA, "status"},
			{"resume principal", tokA, "POST", "/principals/" + f.principal.ID + "/resume", nil, "principal.resume", "principal:" + f.principal.ID, "", e.tenantA, "status"},
			{"delete principal", tokA, "DELETE", "/principals/" + spare.ID, nil, "principal.delete", "principal:" + spare.ID, "", e.tenantA, "deleted_by"},
			{"create role", tokA, "POST", "/roles", apiv1.CreateRole{Name: "auditor", Permissions: []string{"audit:read"}}, "role.create", "", "role", e.tenantA, "permissions"},
			{"update role", tokA, "PATCH", "/roles/" + f.role.ID, apiv1.UpdateRole{Permissions: []string{"orders:read", "orders:write"}}, "role.update", "role:" + f.role.ID, "", e.tenantA, "permissions"},
			{"unbind", tokA, "DELETE", "/roles/" + f.role.ID + "/bindings/" + f.principal.ID, nil, "binding.delete", "binding:" + f.principal.ID + ":" + f.role.ID, "", e.tenantA, "role_id"},
			{"bind", tokA, "POST", "/roles/" + f.role.ID + "/bindings", apiv1.CreateBinding{PrincipalID: f.principal.ID}, "binding.create", "binding:" + f.principal.ID + ":" + f.role.ID, "", e.tenantA, "principal_id"},
			{"create client", tokA, "POST", "/clients", apiv1.CreateClient{OwnerID: f.principal.ID}, "client.create", "", "client", e.tenantA, "auth_method"},
			{"update client", tokA, "PATCH", "/clients/" + f.client.ID, apiv1.UpdateClient{Audiences: &[]string{f.audience.Identifier}}, "client.update", "client:" + f.client.ID, "", e.tenantA, "audiences"},
			{"rotate secret", tokA, "POST", "/clients/" + f.client.ID + "/rotate-secret", nil, "client.rotate_secret", "client:" + f.client.ID, "", e.tenantA, "secrets"},
			{"suspend client", tokA, "POST", "/clients/" + f.client.ID + "/suspend", nil, "client.suspend", "client:" + f.client.ID, "", e.tenantA, "status"},
			{"resume client", tokA, "POST", "/clients/" + f.client.ID + "/resume", nil, "client.resume", "client:" + f.client.ID, "", e.tenantA, "status"},
			{"delete client", tokA, "DELETE", "/clients/" + f.client.ID, nil, "client.delete", "client:" + f.client.ID, "", e.tenantA, "owner_id"},
			{"delete role", tokA, "DELETE", "/roles/" + f.role.ID, nil, "role.delete", "role:" + f.role.ID, "", e.tenantA, "name"},
			{"create audience", tokA, "POST", "/audiences", apiv1.CreateAudience{Identifier: "https://new-api"}, "audience.create", "", "audience", e.tenantA, "identifier"},
			{"share audience", tokA, "POST", "/audiences/" + f.audience.ID + "/share", apiv1.ShareAudience{TenantID: e.tenantB}, "audience.share", "audience:" + f.audience.ID, "", e.tenantA, "shared_with"},
			{"unshare audience", tokA, "POST", "/audiences/" + f.audience.ID + "/unshare", apiv1.ShareAudience{TenantID: e.tenantB}, "audience.unshare", "audience:" + f.audience.ID, "", e.tenantA, "shared_with"},
			{"delete audience", tokA, "DELETE", "/audiences/" + f.audience.ID, nil, "audience.delete", "audience:" + f.audience.ID, "", e.tenantA, "identifier"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := e.events()
				e.now = e.now.Add(time.Second)
				rec := e.do(tt.token, tt.method, tt.path, tt.body)
				if rec.Code >= 300 {
					t.Fatalf("%d %s", rec.Code, rec.Body)
				}
				after := e.events()
				if len(after) != len(before)+1 {
					t.Fatalf("%d events recorded, want 1", len(after)-len(before))
				}
				ev := after[len(after)-1]
				target := tt.target
				if target == "" {
					var obj struct {
						ID       string `json:"id"`
						TenantID string `json:"tenant_id"`
					}
					_ = json.Unmarshal(rec.Body.Bytes(), &obj)
					target = tt.kind + ":" + obj.ID
					if tt.tenant == "" {
						tt.tenant = obj.ID
					}
				}
				caller, _ := e.auth.AuthenticateAdmin(t.Context(), tt.token)
				switch {
				case ev.Action != tt.action, ev.Target != target, ev.TenantID != tt.tenant:
					t.Fatalf("event %s %s in %q, want %s %s in %q", ev.Action, ev.Target, ev.TenantID, tt.action, target, tt.tenant)
				case ev.Actor != "admin:"+caller.ClientID || ev.Outcome != audit.OutcomeSuccess:
					t.Fatalf("actor %q outcome %q", ev.Actor, ev.Outcome)
				case ev.RequestID == "" || ev.RequestID != rec.Header().Get("X-Request-Id"):
					t.Fatalf("request id %q, response says %q", ev.RequestID, rec.Header().Get("X-Request-Id"))
				case ev.ClientAddr == "":
					t.Fatal("no client address")
				case !ev.Time.Equal(e.now):
					t.Fatalf("time %v, want the injected clock's %v", ev.Time, e.now)
				}
				var details map[string]json.RawMessage
				if err := json.Unmarshal(ev.Details, &details); err != nil {
					t.Fatalf("details %s: %v", ev.Details, err)
				}
				if _, ok := details[tt.changed]; !ok {
					t.Fatalf("details %s do not mention %s", ev.Details, tt.changed)
				}
				if strings.Contains(string(ev.Details), "azs_") {
					t.Fatalf("a client secret reached the audit log: %s", ev.Details)
				}
			})
		}
	})
}

// TestFailedChangeLeavesNoTrace: when the webhook of a suspension cannot be
// queued, the suspension, its audit event and the webhook are all undone.
func TestFailedChangeLeavesNoTrace(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		f := e.fixture(e.tenantA)
		before := len(e.events())
		e.notifier.setFail(true)
		rec := e.do(tokAdmin, "POST", "/principals/"+f.principal.ID+"/suspend", nil)
		e.notifier.setFail(false)
		if rec.Code != http.StatusInternalServerError {
			t.Fatalf("suspension with a failing outbox: %d %s", rec.Code, rec.Body)
		}
		p, err := e.st.GetPrincipal(t.Context(), f.principal.ID)
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != store.StatusActive {
			t.Fatalf("the principal was suspended although the change failed: %s", p.Status)
		}
		if after := len(e.events()); after != before {
			t.Fatalf("a failed change left %d audit events", after-before)
		}
		hooks, _, err := e.st.ListWebhooks(t.Context(), store.WebhookFilter{}, store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range hooks {
			if w.EventType == notify.PrincipalSuspended {
				t.Fatal("a webhook of a failed suspension was queued")
			}
		}
		// The same change succeeds once the outbox works, with one event.
		e.call(tokAdmin, "POST", "/principals/"+f.principal.ID+"/suspend", nil, http.StatusOK, nil)
		if after := len(e.events()); after != before+1 {
			t.Fatalf("%d events after the successful retry, want 1", after-before)
		}
	})
}
