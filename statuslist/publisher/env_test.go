package publisher_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/jwks"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/statuslist"
	"github.com/authz/authz/statuslist/publisher"
	"github.com/authz/authz/store"
)

const issuer = "https://authz.test"

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a Publisher over a real store, signing with real keys.
type env struct {
	t     *testing.T
	ctx   context.Context
	st    store.Store
	keys  *jwks.Manager
	p     *publisher.Publisher
	clock *clock
	cfg   publisher.Config
	tick  time.Duration // the clock moves by it before every build
}

func newEnv(t *testing.T, open func(testing.TB) store.Store, adjust func(*publisher.Config)) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), st: open(t), clock: &clock{t: time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)}}
	var err error
	e.keys, err = jwks.NewManager(e.st, masterkey.Generate(), jwks.Config{Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.keys.Init(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.cfg = publisher.Config{Issuer: issuer, Now: e.clock.Now}
	if adjust != nil {
		adjust(&e.cfg)
	}
	if e.cfg.FullScanInterval == time.Nanosecond {
		e.tick = time.Nanosecond
	}
	e.p, err = publisher.New(e.st, e.keys, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) must(err error) {
	e.t.Helper()
	if err != nil {
		e.t.Fatal(err)
	}
}

// Fixtures: a tenant, its principal, a client and a legacy key it owns.
type chain struct {
	tenant              store.Tenant
	owner               store.Principal
	client              store.Client
	key                 store.LegacyKey
	clientCred, keyCred string
}

func (e *env) chain(name string) chain {
	e.t.Helper()
	now := e.clock.Now()
	var c chain
	c.tenant = store.Tenant{ID: store.NewID(store.PrefixTenant), Name: name, Status: store.StatusActive, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now}
	c.owner = store.Principal{ID: store.NewID(store.PrefixPrincipal), TenantID: c.tenant.ID, Kind: store.KindService, DisplayName: name, Status: store.StatusActive, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now}
	c.client = store.Client{ID: store.NewID(store.PrefixClient), TenantID: c.tenant.ID, OwnerID: c.owner.ID, AuthMethod: store.AuthSecretBasic,
		GrantTypes: []string{store.GrantClientCredentials}, Status: store.StatusActive, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now}
	hash := make([]byte, 32)
	_, _ = rand.Read(hash)
	c.key = store.LegacyKey{ID: store.NewID(store.PrefixKey), Hash: hash, TenantID: c.tenant.ID, OwnerID: c.owner.ID, Source: store.SourceIssued,
		Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}
	e.must(e.st.CreateTenant(e.ctx, c.tenant))
	e.must(e.st.CreatePrincipal(e.ctx, c.owner))
	e.must(e.st.CreateClient(e.ctx, c.client))
	e.must(e.st.CreateLegacyKey(e.ctx, c.key))
	c.clientCred, c.keyCred = "client:"+c.client.ID, "key:"+c.key.ID
	return c
}

// idx returns the index StatusClaim gives credential, checking the claim's
// shape.
func (e *env) idx(credential string) int64 {
	e.t.Helper()
	v, err := e.p.StatusClaim(e.ctx, credential)
	e.must(err)
	ref, ok := v.(*statuslist.Reference)
	if !ok || ref.StatusList == nil || ref.StatusList.URI != issuer+publisher.PathList {
		e.t.Fatalf("StatusClaim = %#v", v)
	}
	return ref.StatusList.Idx
}

// get fetches the list through the handler.
func (e *env) get(h http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, publisher.PathList, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	e.p.ServeHTTP(rec, req)
	return rec
}

// list refreshes, fetches, verifies and decodes the published list.
func (e *env) list() (*statuslist.Token, *statuslist.List) {
	e.t.Helper()
	// With a FullScanInterval of 1ns, every build reads every entry once
	// the clock has moved.
	e.clock.Advance(e.tick)
	e.must(e.p.Refresh(e.ctx))
	rec := e.get(nil)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("GET %s: %d %s", publisher.PathList, rec.Code, rec.Body)
	}
	claims, _, err := e.keys.Verify(e.ctx, rec.Body.String(), statuslist.TokenType)
	e.must(err)
	tok, l, err := statuslist.ParseToken(claims, e.p.URI(), issuer, e.clock.Now(), 0)
	e.must(err)
	return tok, l
}

// status is the published status of idx.
func (e *env) status(idx int64) statuslist.Status {
	e.t.Helper()
	_, l := e.list()
	s, err := l.Get(idx)
	e.must(err)
	return s
}

func (e *env) updateTenant(id string, st store.Status) {
	e.t.Helper()
	_, err := e.st.UpdateTenant(e.ctx, id, func(x store.Tenant) (store.Tenant, error) {
		x.Status, x.StatusChangedAt = st, e.clock.Now()
		return x, nil
	})
	e.must(err)
}

func (e *env) updatePrincipal(id string, st store.Status) {
	e.t.Helper()
	_, err := e.st.UpdatePrincipal(e.ctx, id, func(x store.Principal) (store.Principal, error) {
		now := e.clock.Now()
		x.Status, x.StatusChangedAt = st, now
		if st == store.StatusDeleted {
			x.DeletedAt, x.DeletedBy = &now, "admin:test"
		}
		return x, nil
	})
	e.must(err)
}

func (e *env) updateClient(id string, st store.Status) {
	e.t.Helper()
	_, err := e.st.UpdateClient(e.ctx, id, func(x store.Client) (store.Client, error) {
		x.Status, x.StatusChangedAt = st, e.clock.Now()
		return x, nil
	})
	e.must(err)
}

func (e *env) updateKey(id string, fn func(*store.LegacyKey)) {
	e.t.Helper()
	_, err := e.st.UpdateLegacyKey(e.ctx, id, func(x store.LegacyKey) (store.LegacyKey, error) { fn(&x); return x, nil })
	e.must(err)
}
