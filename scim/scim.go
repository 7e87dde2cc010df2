package scim

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/promreg"
	"github.com/authz/authz/reqmeta"
	"github.com/authz/authz/store"
)

// Prefix is where the service provider is mounted on the public listener.
const Prefix = "/scim/v2"

const contentType = "application/scim+json; charset=utf-8"

// maxBody bounds a request body: a user is a few kilobytes, a group PATCH
// of a thousand members some tens.
const maxBody = 1 << 20

// lastUsedEvery is how often a token's last_used_at is written: not on
// every request of a reconciliation.
const lastUsedEvery = time.Minute

// Lifecycle is what SCIM needs of the admin API's principal operations
// (admin.Lifecycle): the same status changes, binding rule and audit
// event shape, inside SCIM's transaction.
type Lifecycle interface {
	SetPrincipalStatus(ctx context.Context, tx store.Tx, actor, tenantID, id string, to store.Status) (store.Principal, error)
	SyncBindings(ctx context.Context, tx store.Tx, actor, tenantID string, principalIDs []string) error
	Record(ctx context.Context, tx store.Tx, actor, action, target, tenantID string, before, after any) error
}

// Recorder writes audit events outside a change's transaction
// (*audit.Recorder): one per request, and sampled refusals.
type Recorder interface {
	Record(ctx context.Context, ev store.AuditEvent) error
	Sample(ctx context.Context, ev store.AuditEvent)
}

// Hasher hashes a presented token the way tokens are stored
// (*clientsecret.Hasher).
type Hasher interface {
	Hash(secret string) []byte
}

// Tokens finds a connector token by its keyed hash
// (*directory.Directory, which caches it until the store's generation
// moves, as a revocation does).
type Tokens interface {
	GetSCIMTokenByHash(ctx context.Context, hash []byte) (store.SCIMToken, error)
}

// Config is what the service provider is built from; all but Tokens,
// Registerer, Logger and Now are required.
type Config struct {
	Store store.Store
	// Tokens answers authentication; nil means Store, read every request.
	Tokens    Tokens
	Hasher    Hasher
	Lifecycle Lifecycle
	Audit     Recorder
	// BaseURL is the public base URL (the issuer); resource locations are
	// BaseURL + Prefix + "/Users/<id>".
	BaseURL    string
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
}

type handler struct {
	st       store.Store
	tokens   Tokens
	hasher   Hasher
	life     Lifecycle
	audit    Recorder
	base     string
	log      *slog.Logger
	now      func() time.Time
	requests *prometheus.CounterVec
	// asyncAudit bounds the read events being recorded in the background.
	asyncAudit chan struct{}
	// stamped is token id → the last-use time this replica last wrote
	// (time.Time): a cached token's LastUsedAt does not move, and one
	// token's stamp is written at most once a minute. As many entries as
	// tokens were used.
	stamped sync.Map
}

// maxAsyncAudit is how many read events may wait for their group commit
// in the background; past it a read waits for its own.
const maxAsyncAudit = 1024

// caller is an authenticated connector: its token and tenant.
type caller struct {
	token store.SCIMToken
	actor string
}

// reply is a handler's answer, written after the request's use is audited.
type reply struct {
	status   int
	body     any
	location string
	// unchanged marks a write that changed nothing (a reconciliation's
	// PUT of a user as it is): its use is audited like a read's.
	unchanged bool
}

type route struct {
	pattern  string
	resource string // for metrics and the audit event
	serve    func(h *handler, r *http.Request, c caller) (reply, error)
}

// New returns the SCIM service provider, to mount at Prefix+"/" on the
// public listener.
func New(cfg Config) http.Handler {
	h := &handler{st: cfg.Store, hasher: cfg.Hasher, life: cfg.Lifecycle, audit: cfg.Audit,
		base: strings.TrimSuffix(cfg.BaseURL, "/") + Prefix, log: cfg.Logger, now: cfg.Now, asyncAudit: make(chan struct{}, maxAsyncAudit)}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.tokens = cfg.Tokens
	if h.tokens == nil {
		h.tokens = cfg.Store
	}
	h.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authz_scim_requests_total",
		Help: "SCIM requests by resource, method and HTTP status.",
	}, []string{"resource", "method", "code"})
	if cfg.Registerer != nil {
		h.requests = promreg.Register(cfg.Registerer, h.requests)
	}
	mux := http.NewServeMux()
	for _, rt := range []route{
		{"GET /Users", "Users", (*handler).listUsers},
		{"POST /Users", "Users", (*handler).createUser},
		{"GET /Users/{id}", "Users", (*handler).getUser},
		{"PUT /Users/{id}", "Users", (*handler).replaceUser},
		{"PATCH /Users/{id}", "Users", (*handler).patchUser},
		{"DELETE /Users/{id}", "Users", (*handler).deleteUser},
		{"GET /Groups", "Groups", (*handler).listGroups},
		{"POST /Groups", "Groups", (*handler).createGroup},
		{"GET /Groups/{id}", "Groups", (*handler).getGroup},
		{"PUT /Groups/{id}", "Groups", (*handler).replaceGroup},
		{"PATCH /Groups/{id}", "Groups", (*handler).patchGroup},
		{"DELETE /Groups/{id}", "Groups", (*handler).deleteGroup},
		{"GET /ServiceProviderConfig", "ServiceProviderConfig", (*handler).serviceProviderConfig},
		{"GET /ResourceTypes", "ResourceTypes", (*handler).resourceTypes},
		{"GET /ResourceTypes/{id}", "ResourceTypes", (*handler).resourceType},
		{"GET /Schemas", "Schemas", (*handler).schemas},
		{"GET /Schemas/{id}", "Schemas", (*handler).schema},
	} {
		method, path, _ := strings.Cut(rt.pattern, " ")
		mux.Handle(method+" "+Prefix+path, h.serve(rt))
	}
	// Everything else, after authentication so that an anonymous caller
	// learns nothing: 404, or 405 for a resource that exists.
	mux.Handle(Prefix+"/", h.serve(route{resource: "other", serve: func(_ *handler, r *http.Request, _ caller) (reply, error) {
		rest := strings.TrimPrefix(r.URL.Path, Prefix+"/")
		switch strings.SplitN(rest, "/", 2)[0] {
		case "Users", "Groups", "ServiceProviderConfig", "ResourceTypes", "Schemas":
			return reply{}, &Error{Status: http.StatusMethodNotAllowed, Detail: r.Method + " is not supported on " + r.URL.Path}
		}
		return reply{}, &Error{Status: http.StatusNotFound, Detail: "no SCIM endpoint " + r.URL.Path + "; authz serves Users, Groups, ServiceProviderConfig, ResourceTypes and Schemas"}
	}}))
	return mux
}

func (h *handler) serve(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status := h.run(w, r, rt)
		h.requests.WithLabelValues(rt.resource, r.Method, strconv.Itoa(status)).Inc()
	})
}

// run authenticates, serves, audits the use and writes the answer; it
// returns the status sent.
func (h *handler) run(w http.ResponseWriter, r *http.Request, rt route) int {
	c, err := h.authenticate(r)
	if err != nil {
		return writeError(w, h.log, r, err).Status
	}
	ctx := reqmeta.WithActor(r.Context(), c.actor)
	r = r.WithContext(ctx)
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	out, err := rt.serve(h, r, c)
	var se *Error
	status := out.status
	if err != nil {
		se = toError(h.log, r, err)
		status = se.Status
	}
	// Every use of a token is audited, reads included; changes also have
	// their own events, committed with them.
	ev := store.AuditEvent{Actor: c.actor, Action: "scim.request", Target: "scim_token:" + c.token.ID, TenantID: c.token.TenantID,
		Outcome: audit.OutcomeSuccess, Details: requestDetails(r, status)}
	if err != nil {
		ev.Outcome = audit.OutcomeRefused
	}
	if err == nil && (r.Method == http.MethodGet || out.unchanged) {
		// A read's event need not be durable before the answer, which
		// depends on nothing it records: it joins the next group commit
		// while the answer goes out, so that a reconciliation's lookups
		// do not each wait for a commit. In-flight events are bounded.
		select {
		case h.asyncAudit <- struct{}{}:
			go func() {
				defer func() { <-h.asyncAudit }()
				if aerr := h.audit.Record(context.WithoutCancel(ctx), ev); aerr != nil {
					h.log.WarnContext(ctx, "scim: auditing a read failed", "err", aerr)
				}
			}()
		default:
			if aerr := h.audit.Record(ctx, ev); aerr != nil {
				return writeError(w, h.log, r, aerr).Status
			}
		}
	} else if aerr := h.audit.Record(ctx, ev); aerr != nil && err == nil {
		// A use that cannot be audited is not answered as done: the
		// change (if any) committed, and the IdP's retry finds it done.
		return writeError(w, h.log, r, aerr).Status
	}
	if err != nil {
		return writeError(w, h.log, r, se).Status
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	if out.location != "" {
		w.Header().Set("Location", out.location)
	}
	if out.body == nil {
		w.WriteHeader(out.status)
		return out.status
	}
	w.WriteHeader(out.status)
	_ = json.NewEncoder(w).Encode(out.body)
	return out.status
}

func requestDetails(r *http.Request, status int) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"method": r.Method, "path": r.URL.Path, "status": status})
	return b
}

// authenticate checks the bearer token: known by its keyed hash, compared
// in constant time, not revoked. Unknown and revoked tokens are one
// answer, so a guesser learns nothing; each refusal is sampled into the
// audit log.
func (h *handler) authenticate(r *http.Request) (caller, error) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	refuse := func(detail string) (caller, error) {
		h.audit.Sample(r.Context(), store.AuditEvent{Action: "scim.refuse", Target: "scim", Outcome: audit.OutcomeRefused,
			ErrorCode: string(errcode.TokenInvalid)})
		return caller{}, &Error{Status: http.StatusUnauthorized, Detail: detail}
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return refuse("send the tenant's SCIM token (authz scim token create) as Authorization: Bearer <token>")
	}
	sum := h.hasher.Hash(tok)
	t, err := h.tokens.GetSCIMTokenByHash(r.Context(), sum)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return refuse("the SCIM token is unknown or revoked; create a new one with authz scim token create")
	case err != nil:
		return caller{}, err
	case subtle.ConstantTimeCompare(t.Hash, sum) != 1 || t.RevokedAt != nil:
		return refuse("the SCIM token is unknown or revoked; create a new one with authz scim token create")
	}
	now := h.now()
	last := t.LastUsedAt
	if v, ok := h.stamped.Load(t.ID); ok && (last == nil || v.(time.Time).After(*last)) {
		at := v.(time.Time)
		last = &at
	}
	if last == nil || now.Sub(*last) >= lastUsedEvery {
		stamp := now.UTC().Truncate(time.Microsecond)
		h.stamped.Store(t.ID, stamp)
		if _, err := h.st.UpdateSCIMToken(r.Context(), t.ID, func(t store.SCIMToken) (store.SCIMToken, error) {
			t.LastUsedAt = &stamp
			return t, nil
		}); err != nil {
			h.log.WarnContext(r.Context(), "scim: recording token use failed", "token", t.ID, "err", err)
		}
	}
	return caller{token: t, actor: "scim:" + t.ID}, nil
}

// readBody reads the request body within maxBody.
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Detail: "the body is larger than 1 MiB"}
	}
	if err != nil {
		return nil, badRequest(typeInvalidSyntax, "the body could not be read")
	}
	return b, nil
}

// stamp is the time of a change, at the store's precision.
func (h *handler) stamp() time.Time { return h.now().UTC().Truncate(time.Microsecond) }

// paging reads startIndex (1-based) and count (RFC 7644 §3.4.2.4):
// startIndex below 1 is 1, count is at most 1000 (default 100), 0 asks
// for totalResults only.
func paging(r *http.Request) (start, count int, err error) {
	q := r.URL.Query()
	start, count = 1, 100
	if s := q.Get("startIndex"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, 0, badRequest(typeInvalidValue, "startIndex must be an integer")
		}
		start = max(n, 1)
	}
	if s := q.Get("count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return 0, 0, badRequest(typeInvalidValue, "count must be an integer")
		}
		count = min(max(n, 0), 1000)
	}
	return start, count, nil
}

const schemaListResponse = "urn:ietf:params:scim:api:messages:2.0:ListResponse"

type listResponse struct {
	Schemas      []string `json:"schemas"`
	TotalResults int64    `json:"totalResults"`
	StartIndex   int      `json:"startIndex"`
	ItemsPerPage int      `json:"itemsPerPage"`
	Resources    []any    `json:"Resources"`
}

func newList(total int64, start int, items []any) listResponse {
	if items == nil {
		items = []any{}
	}
	return listResponse{Schemas: []string{schemaListResponse}, TotalResults: total, StartIndex: start, ItemsPerPage: len(items), Resources: items}
}

// meta is a resource's meta attribute (RFC 7643 §3.1).
type meta struct {
	ResourceType string    `json:"resourceType"`
	Created      time.Time `json:"created"`
	LastModified time.Time `json:"lastModified"`
	Location     string    `json:"location"`
}
