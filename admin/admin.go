package admin

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authz/authz/bodylimit"
	"github.com/authz/authz/clientsecret"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/offboarding"
	"github.com/authz/authz/policy"
	"github.com/authz/authz/promreg"
	"github.com/authz/authz/reqmeta"
	"github.com/authz/authz/store"
)

// Prefix is where the admin API is mounted.
const Prefix = "/admin/v1"

// Caller is who presents an admin access token, as the token says.
type Caller struct {
	ClientID string
	// Owner is the principal that owns the client (for a token obtained
	// with a legacy key: the key's owner); audit events name it.
	Owner    string
	Subject  string
	TenantID string
	Scopes   []string
	// Actor, if set, is the audit actor of the caller's changes (the web
	// console's "console:prn_..."); otherwise it is "admin:<client id>".
	Actor string
	// Self marks a principal acting for itself (the console's signed-in
	// principal): without an admin permission it may still read and manage
	// the objects it owns. A bearer token never sets it, so the admin API
	// over HTTP stays admin-only.
	Self bool
}

// Access is what a caller may see: the one authorization decision of the
// admin API, shared with the web console (package console) so that the two
// can never disagree.
type Access struct {
	// Global is true for authz:admin (of the system tenant): every tenant.
	Global bool
	// Tenant is the only tenant a tenant admin or a plain principal sees.
	Tenant string
	// Owner, for a plain principal, is the only owner whose objects it
	// sees (itself); "" for administrators.
	Owner string
}

// Sees reports whether the caller may see objects of the tenant (for a
// plain principal, only some of them: see Owns).
func (a Access) Sees(tenantID string) bool {
	return a.Global || (tenantID != "" && tenantID == a.Tenant)
}

// Owns reports whether the caller may see an object of the tenant owned by
// ownerID.
func (a Access) Owns(tenantID, ownerID string) bool {
	return a.Sees(tenantID) && (a.Owner == "" || a.Owner == ownerID)
}

// IsAdmin reports whether the caller administers (every tenant or its own).
func (a Access) IsAdmin() bool { return a.Owner == "" }

// Decide is the authorization decision: adminOnly routes need authz:admin;
// the others authz:admin, or authz:tenant-admin within its tenant, or, for
// a Self caller, any principal within what it owns. authz:admin counts
// only for principals of the system tenant: a tenant whose administrator
// could grant it to its own clients would otherwise reach every other
// tenant.
func Decide(c Caller, adminOnly bool) (Access, error) {
	switch {
	case hasScope(c.Scopes, policy.PermAdmin) && c.TenantID == store.SystemTenantID:
		return Access{Global: true}, nil
	case adminOnly:
		return Access{}, errcode.Newf(errcode.Forbidden, "this operation needs scope %s", policy.PermAdmin)
	case hasScope(c.Scopes, policy.PermTenantAdmin) && c.TenantID != "" && c.TenantID != store.SystemTenantID:
		return Access{Tenant: c.TenantID}, nil
	case c.Self && c.Subject != "" && c.TenantID != "":
		return Access{Tenant: c.TenantID, Owner: c.Subject}, nil
	}
	return Access{}, errcode.Newf(errcode.Forbidden, "the admin API needs scope %s or %s", policy.PermAdmin, policy.PermTenantAdmin)
}

type callerKey struct{}

// WithCaller returns a context whose requests the admin API handler
// serves as c without a bearer token: how the web console, in the same
// process, calls the very admin operations the CLI calls. Only code in
// this process can set it; nothing in a request can.
func WithCaller(ctx context.Context, c Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// Authenticator verifies one of this server's access tokens (signature,
// expiry, revocation, the client, principal and tenant still active). It
// returns an *errcode.Error with errcode.TokenInvalid when the token is not
// acceptable, and wraps store.ErrUnavailable when it cannot tell.
type Authenticator interface {
	AuthenticateAdmin(ctx context.Context, bearer string) (Caller, error)
}

// Notifier queues a webhook inside the caller's transaction
// (*notify.Notifier satisfies it).
type Notifier interface {
	Enqueue(ctx context.Context, m store.Mutations, eventType string, data any) error
}

// Config is what the admin API is built from. Store, Auth and Secrets are
// required; Keys and SigningKeys may be nil, and their routes then answer
// 503 unavailable.
type Config struct {
	Store       store.Store
	Auth        Authenticator
	Secrets     *clientsecret.Hasher
	Keys        KeyService
	SigningKeys SigningKeys
	Notifier    Notifier // nil: no webhooks
	// Offboarding suspends, resumes and deletes principals (nil: one on
	// Store and Notifier, without alerts).
	Offboarding *offboarding.Service
	// Console makes web-console sign-in links; nil: the console is off.
	Console ConsoleLinks
	// Changed, if set, is called after every change the API committed, so
	// that an in-process cache (directory.Directory.Invalidate) forgets at
	// once instead of at its next poll of the store's generation.
	Changed func()
	// MaxTokenLifetime bounds the access-token lifetime a client may be
	// given (0: 24 hours).
	MaxTokenLifetime time.Duration
	Registerer       prometheus.Registerer
	Logger           *slog.Logger
	Now              func() time.Time

	// OpenAudiences are the audiences every tenant's tokens may name
	// without registering them: the issuer's own identifier (the default
	// aud). Any other audience of a client must be registered for the
	// client's tenant or shared with it.
	OpenAudiences []string
}

// Request body limits. Imports carry a batch of a few thousand rows.
const (
	maxBody       = 1 << 20
	maxImportBody = 64 << 20
)

// bodyLimit is the largest body a route accepts; a request declaring more
// is refused before authentication, without its body being read.
func bodyLimit(rt route) int64 {
	switch rt.Path {
	case "/keys/import", "/keys/remap":
		return maxImportBody
	}
	return maxBody
}

type handler struct {
	st       store.Store
	auth     Authenticator
	secrets  *clientsecret.Hasher
	keys     KeyService
	signing  SigningKeys
	notifier Notifier
	offboard *offboarding.Service
	console  ConsoleLinks
	changed  func()
	maxTTL   time.Duration
	open     []string // Config.OpenAudiences
	log      *slog.Logger
	now      func() time.Time
	metrics  *metrics
}

// New returns the admin API: every route of the route table under Prefix,
// and GET Prefix/openapi.json, which needs no token.
func New(cfg Config) http.Handler {
	h := newHandler(cfg)
	mux := http.NewServeMux()
	for _, rt := range routes() {
		mux.Handle(rt.Method+" "+Prefix+rt.Path, bodylimit.Handler(bodyLimit(rt), h.log, h.serve(rt)))
	}
	mux.Handle("GET "+Prefix+"/openapi.json", bodylimit.Handler(maxBody, h.log, http.HandlerFunc(serveOpenAPI)))
	// Anything else is 404 in the API's own error shape, after
	// authentication so that an anonymous caller learns nothing about
	// which routes exist.
	mux.Handle("/", bodylimit.Handler(maxBody, h.log, h.serve(route{Path: "/{unknown...}", Handle: func(*handler, http.ResponseWriter, *http.Request, *call) error {
		return errcode.New(errcode.NotFound, "no such admin API route; see "+Prefix+"/openapi.json")
	}})))
	return withRequestMeta(mux)
}

// newHandler is the admin API's state, shared by New and NewLifecycle.
func newHandler(cfg Config) *handler {
	h := &handler{
		st:       cfg.Store,
		auth:     cfg.Auth,
		secrets:  cfg.Secrets,
		keys:     cfg.Keys,
		signing:  cfg.SigningKeys,
		notifier: cfg.Notifier,
		offboard: cfg.Offboarding,
		console:  cfg.Console,
		changed:  cfg.Changed,
		maxTTL:   cfg.MaxTokenLifetime,
		open:     cfg.OpenAudiences,
		log:      cfg.Logger,
		now:      cfg.Now,
		metrics:  newMetrics(cfg.Registerer),
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.maxTTL <= 0 {
		h.maxTTL = defaultMaxTokenLifetime
	}
	if h.offboard == nil {
		h.offboard = offboarding.New(offboarding.Config{Store: h.st, Notifier: h.notifier, TokenWindow: h.maxTTL, View: PrincipalAuditView, Now: h.now})
	}
	return h
}

// withRequestMeta assigns a request id unless the server's middleware
// already did, so that one request never carries two ids.
func withRequestMeta(next http.Handler) http.Handler {
	wrapped := reqmeta.Middleware(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reqmeta.From(r.Context()).RequestID != "" {
			next.ServeHTTP(w, r)
			return
		}
		wrapped.ServeHTTP(w, r)
	})
}

// call is an authenticated request: who calls and what it may see.
type call struct {
	Caller
	access Access
	// global and tenant repeat access.Global and access.Tenant.
	global bool
	tenant string
	actor  string
}

// sees reports whether the caller may see objects of the tenant.
func (c *call) sees(tenantID string) bool { return c.access.Sees(tenantID) }

// owns reports whether the caller may see an object of the tenant owned
// by ownerID.
func (c *call) owns(tenantID, ownerID string) bool { return c.access.Owns(tenantID, ownerID) }

// listOwner narrows a listing's owner filter to what the caller sees. ok
// is false when a plain principal asked for another owner's objects.
func (c *call) listOwner(asked string) (owner string, ok bool) {
	if c.access.Owner == "" {
		return asked, true
	}
	return c.access.Owner, asked == "" || asked == c.access.Owner
}

// listTenant narrows a listing's tenant filter to what the caller sees. ok
// is false when the caller asked for a tenant it does not see: the answer
// is then an empty list, as if the tenant had nothing.
func (c *call) listTenant(asked string) (tenant string, ok bool) {
	if c.global {
		return asked, true
	}
	if asked == "" || asked == c.tenant {
		return c.tenant, true
	}
	return "", false
}

// authorize turns a verified caller into a call, or refuses it (Decide).
func authorize(c Caller, rt route) (*call, error) {
	a, err := Decide(c, rt.Access == accessAdmin)
	if err != nil {
		return nil, err
	}
	if a.Owner != "" && rt.Access != accessOwner {
		return nil, errcode.Newf(errcode.Forbidden, "this operation needs scope %s or %s", policy.PermAdmin, policy.PermTenantAdmin)
	}
	cl := &call{Caller: c, access: a, global: a.Global, tenant: a.Tenant, actor: c.Actor}
	if cl.actor == "" {
		cl.actor = "admin:" + c.ClientID
	}
	return cl, nil
}

func hasScope(scopes []string, want string) bool {
	for _, s := range scopes {
		if s == want {
			return true
		}
	}
	return false
}

func (h *handler) authenticate(r *http.Request) (Caller, error) {
	if c, ok := r.Context().Value(callerKey{}).(Caller); ok {
		return c, nil
	}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return Caller{}, errcode.New(errcode.TokenInvalid, "send an access token with scope authz:admin or authz:tenant-admin as Authorization: Bearer <token>")
	}
	c, err := h.auth.AuthenticateAdmin(r.Context(), strings.TrimSpace(token))
	if err != nil {
		if _, isCode := errcode.As(err); isCode || errors.Is(err, store.ErrUnavailable) {
			return Caller{}, err
		}
		return Caller{}, errcode.Wrap(errcode.TokenInvalid, err, "")
	}
	return c, nil
}

// serve wraps a route: authentication, permission, the handler, the one
// error writer and metrics.
func (h *handler) serve(rt route) http.Handler {
	label := rt.Method + " " + rt.Path
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		err := h.run(sw, r, rt)
		if errors.Is(err, store.ErrBadCursor) {
			err = invalid("after", "not a cursor this listing returned; start without after and follow next")
		}
		if err != nil {
			errcode.Write(sw, h.log, err)
		} else if r.Method != http.MethodGet && h.changed != nil {
			h.changed()
		}
		h.metrics.observe(label, sw.status, time.Since(start))
	})
}

func (h *handler) run(w http.ResponseWriter, r *http.Request, rt route) error {
	c, err := h.authenticate(r)
	if err != nil {
		return err
	}
	cl, err := authorize(c, rt)
	if err != nil {
		return err
	}
	if err := checkQuery(r); err != nil {
		return err
	}
	r = r.WithContext(reqmeta.WithActorOf(reqmeta.WithActor(r.Context(), cl.actor), c.ClientID, c.Owner))
	return rt.Handle(h, w, r, cl)
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

// Unwrap lets http.ResponseController reach the connection (the audit
// export lifts the write deadline).
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_admin_requests_total",
			Help: "Admin API requests by route and HTTP status.",
		}, []string{"route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authz_admin_request_duration_seconds",
			Help:    "Admin API request latency by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
	}
	m.requests = promreg.Register(reg, m.requests)
	m.duration = promreg.Register(reg, m.duration)
	return m
}

func (m *metrics) observe(route string, status int, d time.Duration) {
	if m == nil {
		return
	}
	if status == 0 {
		status = http.StatusOK
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(d.Seconds())
}
