package offboarding_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/notify"
	"github.com/authz/authz/offboarding"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

var now = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

type watch struct{ calls []string }

func (w *watch) PrincipalOffboarded(_ context.Context, _ store.Tx, actor string, p store.Principal, broke int) error {
	w.calls = append(w.calls, actor+" "+p.ID+" "+string(p.Status)+" "+string(rune('0'+broke)))
	return nil
}

type fixture struct {
	st  store.Store
	svc *offboarding.Service
	w   *watch
}

// newFixture: tenant ten_a with
//
//	prn_busy:  key_recent used 2 days ago (5 uses in the last hour, 2 tokens
//	           issued an hour ago, 1 two days ago), key_stale used 30 days
//	           ago, cli_busy used an hour ago
//	prn_idle:  key_idle never used
//	prn_gone:  key_gone222222222222 used yesterday
func newFixture(t *testing.T, st store.Store) fixture {
	ctx := t.Context()
	must(t, st.CreateTenant(ctx, store.Tenant{ID: "ten_a", Name: "a", Status: store.StatusActive, StatusChangedAt: now, CreatedAt: now, UpdatedAt: now}))
	for _, id := range []string{"prn_busy", "prn_idle", "prn_gone"} {
		must(t, st.CreatePrincipal(ctx, store.Principal{ID: id, TenantID: "ten_a", Kind: store.KindUser, DisplayName: id, Status: store.StatusActive, StatusChangedAt: now, CreatedAt: now, UpdatedAt: now}))
	}
	for _, k := range []struct{ id, owner string }{{"key_recent", "prn_busy"}, {"key_stale", "prn_busy"}, {"key_idle", "prn_idle"}, {"key_gone222222222222", "prn_gone"}} {
		must(t, st.CreateLegacyKey(ctx, store.LegacyKey{ID: k.id, Hash: []byte(k.id), TenantID: "ten_a", OwnerID: k.owner, Label: "label " + k.id,
			Source: store.SourceIssued, Status: store.StatusActive, CreatedAt: now.Add(-90 * day), UpdatedAt: now.Add(-90 * day)}))
	}
	must(t, st.CreateClient(ctx, store.Client{ID: "cli_busy", TenantID: "ten_a", OwnerID: "prn_busy", Name: "billing", AuthMethod: store.AuthSecretBasic,
		GrantTypes: []string{store.GrantClientCredentials}, Status: store.StatusActive, StatusChangedAt: now, CreatedAt: now, UpdatedAt: now}))
	must(t, st.RecordKeyUsage(ctx, []store.KeyUsage{
		{KeyID: "key_recent", Count: 5, LastUsedAt: now.Add(-2 * day)},
		{KeyID: "key_stale", Count: 1, LastUsedAt: now.Add(-30 * day)},
		{KeyID: "key_gone222222222222", Count: 1, LastUsedAt: now.Add(-day)},
	}))
	must(t, st.RecordClientUsage(ctx, []store.ClientUsage{{ClientID: "cli_busy", LastUsedAt: now.Add(-time.Hour)}}))
	must(t, st.RecordHourlyUse(ctx, []store.HourlyUse{
		{Credential: "key:key_recent", Hour: now.Add(-time.Hour), Uses: 5},
		{Credential: "key:key_recent", Hour: now.Add(-3 * day), Uses: 50},
	}))
	must(t, st.Tx(ctx, func(tx store.Tx) error {
		var evs []store.AuditEvent
		for _, at := range []time.Time{now.Add(-time.Hour), now.Add(-time.Hour), now.Add(-2 * day)} {
			evs = append(evs, store.AuditEvent{Time: at, Actor: "legacy-key:key_recent", Action: "token.issue", Target: "key:key_recent", TenantID: "ten_a", Outcome: "success"})
		}
		return audit.Append(ctx, tx, evs...)
	}))
	w := &watch{}
	n := notify.New(st, notify.Config{URL: "http://127.0.0.1:9/hooks", Secret: []byte("webhook secret"), Now: func() time.Time { return now }})
	return fixture{st: st, w: w, svc: offboarding.New(offboarding.Config{Store: st, Notifier: n, Watcher: w, TokenWindow: day, Now: func() time.Time { return now }})}
}

// hooks returns the types and bodies of the queued webhooks not in seen
// (which it updates), ordered by type.
func hooks(t *testing.T, st store.Store, seen map[string]bool) ([]string, []map[string]any) {
	ws, _, err := st.ListWebhooks(t.Context(), store.WebhookFilter{}, store.Page{Limit: 100})
	must(t, err)
	slices.SortStableFunc(ws, func(a, b store.Webhook) int { return strings.Compare(a.EventType, b.EventType) })
	var types []string
	var bodies []map[string]any
	for _, w := range ws {
		if seen[w.ID] {
			continue
		}
		seen[w.ID] = true
		var env struct {
			Data map[string]any `json:"data"`
		}
		must(t, json.Unmarshal(w.Payload, &env))
		types = append(types, w.EventType)
		bodies = append(bodies, env.Data)
	}
	return types, bodies
}

func TestImpactAndChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		f := newFixture(t, open(t))
		ctx := t.Context()

		// The dry run: the right credentials, most recent first, with last
		// use, uses in 24 h and outstanding tokens; nothing written.
		out, err := f.svc.Apply(ctx, offboarding.Change{PrincipalID: "prn_busy", To: store.StatusSuspended, Actor: "admin:ops", DryRun: true})
		must(t, err)
		if out.Changed || out.After.Status != store.StatusActive {
			t.Fatalf("dry run changed the principal: %+v", out)
		}
		type row struct {
			id           string
			last         time.Time
			uses, tokens int64
			recent       bool
		}
		var got []row
		for _, c := range out.Impact.Credentials {
			got = append(got, row{c.ID, *c.LastUsedAt, *c.Uses24h, *c.OutstandingTokens, c.UsedRecently})
		}
		want := []row{
			{"cli_busy", now.Add(-time.Hour), 0, 0, true},
			{"key_recent", now.Add(-2 * day), 5, 2, true},
			{"key_stale", now.Add(-30 * day), 0, 0, false},
		}
		if !slices.Equal(got, want) {
			t.Fatalf("dry run lists\n got %+v\nwant %+v", got, want)
		}
		if im := out.Impact; im.ActiveKeys != 2 || im.ActiveClients != 1 || im.UsedRecently != 2 {
			t.Fatalf("impact totals %+v", im)
		}
		seen := map[string]bool{}
		if types, _ := hooks(t, f.st, seen); len(types) != 0 {
			t.Fatalf("a dry run queued webhooks: %v", types)
		}
		if p, _ := f.st.GetPrincipal(ctx, "prn_busy"); p.Status != store.StatusActive {
			t.Fatalf("dry run left status %s", p.Status)
		}

		steps := []struct {
			change     offboarding.Change
			wantHooks  []string
			wantBroken []string // credential ids in credentials_broken
		}{
			{offboarding.Change{PrincipalID: "prn_busy", To: store.StatusSuspended, Actor: "admin:ops", Reason: "left the company (HR-1234)"},
				[]string{notify.PrincipalCredentialsBroken, notify.PrincipalSuspended}, []string{"cli_busy", "key_recent"}},
			{offboarding.Change{PrincipalID: "prn_idle", To: store.StatusSuspended, Actor: "admin:ops"},
				[]string{notify.PrincipalSuspended}, nil},
			{offboarding.Change{PrincipalID: "prn_gone", To: store.StatusDeleted, Actor: "scim:tok_1", Reason: "deprovisioned"},
				[]string{notify.PrincipalCredentialsBroken}, []string{"key_gone222222222222"}},
			{offboarding.Change{PrincipalID: "prn_busy", To: store.StatusActive, Actor: "admin:ops", Reason: "came back"},
				[]string{notify.PrincipalResumed}, nil},
			{offboarding.Change{PrincipalID: "prn_idle", To: store.StatusDeleted, Actor: "admin:ops"},
				nil, nil}, // already suspended: nothing more breaks, and deletion has no webhook of its own
			{offboarding.Change{PrincipalID: "prn_idle", To: store.StatusDeleted, Actor: "admin:ops"},
				nil, nil}, // unchanged
		}
		for i, s := range steps {
			out, err := f.svc.Apply(ctx, s.change)
			must(t, err)
			types, bodies := hooks(t, f.st, seen)
			if !slices.Equal(types, s.wantHooks) {
				t.Fatalf("step %d (%s %s): webhooks %v, want %v", i, s.change.To, s.change.PrincipalID, types, s.wantHooks)
			}
			for j, typ := range types {
				b := bodies[j]
				if b["principal_id"] != s.change.PrincipalID || (s.change.Reason != "" && b["reason"] != s.change.Reason) {
					t.Fatalf("step %d: %s body %v", i, typ, b)
				}
				if typ != notify.PrincipalCredentialsBroken {
					continue
				}
				var ids []string
				for _, c := range b["credentials"].([]any) {
					c := c.(map[string]any)
					ids = append(ids, c["id"].(string))
					if c["last_used_at"] == nil || c["remedy"] == "" {
						t.Fatalf("broken credential without last use or remedy: %v", c)
					}
				}
				if !slices.Equal(ids, s.wantBroken) || b["status"] != string(s.change.To) || b["remedy"] != offboarding.BrokenRemedy {
					t.Fatalf("step %d: credentials_broken %v, want %v", i, b, s.wantBroken)
				}
			}
			if i == len(steps)-1 && out.Changed {
				t.Fatal("a repeated deletion reported a change")
			}
		}
		if want := []string{"admin:ops prn_busy suspended 2", "admin:ops prn_idle suspended 0", "scim:tok_1 prn_gone deleted 1", "admin:ops prn_idle deleted 0"}; !slices.Equal(f.w.calls, want) {
			t.Fatalf("watcher saw %q, want %q", f.w.calls, want)
		}

		// The reason is in the audit event and key diagnose shows it.
		evs, _, err := f.st.ListAudit(ctx, store.AuditFilter{Target: "principal:prn_gone", Action: "principal.delete"}, store.Page{})
		must(t, err)
		if len(evs) != 1 || evs[0].Actor != "scim:tok_1" || !json.Valid(evs[0].Details) {
			t.Fatalf("deletion events %+v", evs)
		}
		var det map[string]any
		must(t, json.Unmarshal(evs[0].Details, &det))
		if det["reason"] != "deprovisioned" || det["Status"] == nil {
			t.Fatalf("deletion details %s", evs[0].Details)
		}
		keys := legacykeys.NewService(legacykeys.ServiceConfig{Store: f.st, Hasher: legacykeys.NewHasher([]byte("test pepper: 32 bytes of secret!")), Now: func() time.Time { return now },
			Audit: func(ctx context.Context, tx store.Tx, ev store.AuditEvent) error { return audit.Append(ctx, tx, ev) }})
		d, err := keys.Diagnose(ctx, "key_gone222222222222")
		must(t, err)
		if d.Verdict != string(errcode.OwnerDeleted) || d.Owner.Change == nil || d.Owner.Change.Reason != "deprovisioned" {
			t.Fatalf("diagnosis %+v owner %+v", d, d.Owner)
		}
	})
}

func TestRefusals(t *testing.T) {
	f := newFixture(t, storetest.OpenSQLite(t))
	ctx := t.Context()
	_, err := f.svc.Apply(ctx, offboarding.Change{PrincipalID: "prn_gone", To: store.StatusDeleted, Actor: "admin:ops"})
	must(t, err)
	tests := []struct {
		name   string
		change offboarding.Change
		code   errcode.Code
		err    error
	}{
		{"control character in the reason", offboarding.Change{PrincipalID: "prn_busy", To: store.StatusSuspended, Reason: "a\x1b[2Jb"}, errcode.RequestInvalid, nil},
		{"reason too long", offboarding.Change{PrincipalID: "prn_busy", To: store.StatusSuspended, Reason: string(make([]byte, 600))}, errcode.RequestInvalid, nil},
		{"resume of a deleted principal", offboarding.Change{PrincipalID: "prn_gone", To: store.StatusActive}, errcode.Conflict, nil},
		{"dry run of a deleted principal's resumption", offboarding.Change{PrincipalID: "prn_gone", To: store.StatusActive, DryRun: true}, errcode.Conflict, nil},
		{"unknown principal", offboarding.Change{PrincipalID: "prn_none", To: store.StatusSuspended}, "", store.ErrNotFound},
		{"principal of a tenant not visible", offboarding.Change{PrincipalID: "prn_busy", To: store.StatusSuspended, Visible: func(string) bool { return false }}, "", store.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.svc.Apply(ctx, tt.change)
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if e, ok := errcode.As(err); !ok || e.Code != tt.code {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
		})
	}
	if p, _ := f.st.GetPrincipal(ctx, "prn_busy"); p.Status != store.StatusActive {
		t.Fatalf("a refused change left status %s", p.Status)
	}
}
