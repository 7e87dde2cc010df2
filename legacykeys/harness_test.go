package legacykeys_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/notify"
	"github.com/authz/authz/reqmeta"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// t0 is the tests' starting instant; every component reads the harness
// clock, never the wall clock.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// harness is a Service on a real store with the real audit chain and the
// real webhook outbox, and a context acting as an administrator.
type harness struct {
	t      *testing.T
	st     store.Store
	svc    *legacykeys.Service
	hasher *legacykeys.Hasher
	clock  *clock
	ctx    context.Context
}

const adminActor = "admin:cli_ops"

func newHarness(t *testing.T, st store.Store) *harness {
	t.Helper()
	h := newHarnessTB(t, st)
	h.t = t
	return h
}

func newHarnessTB(t testing.TB, st store.Store) *harness {
	t.Helper()
	c := &clock{now: t0}
	hasher := legacykeys.NewHasher([]byte("test pepper: 32 bytes of secret!"))
	n := notify.New(st, notify.Config{URL: "http://127.0.0.1:9/hooks", Secret: []byte("webhook secret"), Now: c.Now})
	svc := legacykeys.NewService(legacykeys.ServiceConfig{
		Store: st, Hasher: hasher, Notifier: n, Now: c.Now,
		Audit: func(ctx context.Context, tx store.Tx, ev store.AuditEvent) error { return audit.Append(ctx, tx, ev) },
	})
	ctx := reqmeta.With(t.Context(), reqmeta.Meta{RequestID: "req-test", ClientAddr: "192.0.2.1", Actor: adminActor})
	return &harness{st: st, svc: svc, hasher: hasher, clock: c, ctx: ctx}
}

func openSQLite(t *testing.T) store.Store { return storetest.OpenSQLite(t) }

// eachBackend runs fn on a fresh store of every backend (SQLite, and
// PostgreSQL when it is reachable or CI=true).
func eachBackend(t *testing.T, fn func(t *testing.T, st store.Store)) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) { fn(t, open(t)) })
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

func (h *harness) tenant(id string, mod ...func(*store.Tenant)) {
	h.t.Helper()
	tn := store.Tenant{ID: id, Name: "Tenant " + id, Status: store.StatusActive, StatusChangedAt: t0, StatusChangedBy: "cli", CreatedAt: t0, UpdatedAt: t0}
	for _, m := range mod {
		m(&tn)
	}
	must(h.t, h.st.CreateTenant(h.ctx, tn))
}

func (h *harness) principal(id, tenantID, externalID string) {
	h.t.Helper()
	must(h.t, h.st.CreatePrincipal(h.ctx, store.Principal{
		ID: id, TenantID: tenantID, Kind: store.KindService, DisplayName: "Principal " + id, ExternalID: externalID,
		Status: store.StatusActive, StatusChangedAt: t0, StatusChangedBy: "cli", CreatedAt: t0, UpdatedAt: t0,
	}))
}

// setPrincipalStatus changes a principal's status the way the admin API
// does: the change and its audit event in one transaction.
func (h *harness) setPrincipalStatus(id string, status store.Status, actor string) {
	h.t.Helper()
	now := h.clock.Now()
	action := map[store.Status]string{store.StatusSuspended: "principal.suspend", store.StatusDeleted: "principal.delete", store.StatusActive: "principal.resume"}[status]
	must(h.t, h.st.Tx(h.ctx, func(tx store.Tx) error {
		p, err := tx.UpdatePrincipal(h.ctx, id, func(p store.Principal) (store.Principal, error) {
			p.Status, p.StatusChangedAt, p.StatusChangedBy, p.UpdatedAt = status, now, actor, now
			if status == store.StatusDeleted {
				p.DeletedAt, p.DeletedBy = &now, actor
			}
			return p, nil
		})
		if err != nil {
			return err
		}
		return audit.Append(h.ctx, tx, store.AuditEvent{Time: now, Actor: actor, Action: action, Target: "principal:" + id, TenantID: p.TenantID, Outcome: "success"})
	}))
}

func (h *harness) setTenantStatus(id string, status store.Status, actor string) {
	h.t.Helper()
	now := h.clock.Now()
	action := map[store.Status]string{store.StatusSuspended: "tenant.suspend", store.StatusActive: "tenant.resume"}[status]
	must(h.t, h.st.Tx(h.ctx, func(tx store.Tx) error {
		if _, err := tx.UpdateTenant(h.ctx, id, func(tn store.Tenant) (store.Tenant, error) {
			tn.Status, tn.StatusChangedAt, tn.StatusChangedBy, tn.UpdatedAt = status, now, actor, now
			return tn, nil
		}); err != nil {
			return err
		}
		return audit.Append(h.ctx, tx, store.AuditEvent{Time: now, Actor: actor, Action: action, Target: "tenant:" + id, TenantID: id, Outcome: "success"})
	}))
}

func (h *harness) issue(owner string, expiresIn time.Duration) (string, store.LegacyKey) {
	h.t.Helper()
	key, k, err := h.svc.Issue(h.ctx, legacykeys.IssueRequest{OwnerID: owner, ExpiresIn: expiresIn, Label: "ci", Environment: "prod"})
	must(h.t, err)
	return key, k
}

// resolve returns the refusal code of an exchange of key ("" = valid).
func (h *harness) resolve(key, tenant string) errcode.Code {
	h.t.Helper()
	r, err := legacykeys.Resolve(h.ctx, h.st, h.hasher, key, tenant, h.clock.Now())
	if err != nil {
		e, ok := errcode.As(err)
		if !ok {
			h.t.Fatalf("Resolve: storage error %v", err)
		}
		return e.Code
	}
	if r.Key.ID == "" || r.Owner.ID != r.Key.OwnerID || r.Tenant.ID != r.Key.TenantID {
		h.t.Fatalf("Resolve: valid but incomplete result %+v", r)
	}
	return ""
}

func (h *harness) wantResolve(key, tenant string, want errcode.Code) {
	h.t.Helper()
	if got := h.resolve(key, tenant); got != want {
		h.t.Fatalf("Resolve = %q, want %q", got, want)
	}
}

// events lists the audit events about target, oldest first.
func (h *harness) events(target string) []store.AuditEvent {
	h.t.Helper()
	evs, _, err := h.st.ListAudit(h.ctx, store.AuditFilter{Target: target}, store.Page{Limit: store.MaxLimit})
	must(h.t, err)
	return evs
}

// webhooks lists the queued webhooks by type, with their data.
func (h *harness) webhooks() map[string][]map[string]any {
	h.t.Helper()
	ws, _, err := h.st.ListWebhooks(h.ctx, store.WebhookFilter{}, store.Page{Limit: store.MaxLimit})
	must(h.t, err)
	out := map[string][]map[string]any{}
	for _, w := range ws {
		var env struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		must(h.t, json.Unmarshal(w.Payload, &env))
		if env.Type != w.EventType {
			h.t.Fatalf("webhook type %q, body says %q", w.EventType, env.Type)
		}
		out[w.EventType] = append(out[w.EventType], env.Data)
	}
	return out
}

func wantCode(t *testing.T, err error, want errcode.Code) {
	t.Helper()
	e, ok := errcode.As(err)
	if !ok || e.Code != want {
		t.Fatalf("error %v, want %s", err, want)
	}
	if e.Text() == "" {
		t.Fatalf("%s without a description", want)
	}
}
