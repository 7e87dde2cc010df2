package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"
	fositeoauth2 "github.com/ory/fosite/handler/oauth2"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/reqmeta"
	"github.com/authz/authz/store"
)

// multiValued are the parameters RFC 8693 §2.1 and RFC 8707 allow more
// than once; every other parameter must appear at most once (RFC 6749 §3.2).
var multiValued = map[string]bool{"audience": true, "resource": true}

// urlSecrets are parameters that must never travel in a URL (RFC 6749 §2.3.1).
var urlSecrets = []string{"client_secret", "client_assertion", "subject_token", "token"}

// readForm parses a POSTed application/x-www-form-urlencoded body with the
// checks fosite leaves out: method, media type, size, duplicates, and
// secrets in the query string.
func (s *Server) readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return nil, errcode.Newf(errcode.MethodNotAllowed, "Use POST, not %s.", r.Method)
	}
	q := r.URL.Query()
	for _, p := range urlSecrets {
		if q.Has(p) {
			return nil, errcode.Newf(errcode.RequestInvalid, "%s must be sent in the request body, never in the URL.", p)
		}
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, errcode.New(errcode.RequestInvalid, "The body must be application/x-www-form-urlencoded.")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, errcode.Newf(errcode.RequestTooLarge, "The body exceeds %d bytes.", s.cfg.MaxBodyBytes)
		}
		return nil, errcode.Wrap(errcode.RequestInvalid, err, "The body could not be read.")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errcode.New(errcode.RequestInvalid, "The body is not valid form encoding.")
	}
	for k, v := range form {
		if len(v) > 1 && !multiValued[k] {
			return nil, errcode.Newf(errcode.RequestInvalid, "Parameter %q appears more than once (RFC 6749 §3.2).", k)
		}
	}
	// fosite reads r.PostForm; setting it here means fosite parses nothing.
	r.PostForm = form
	r.Form = form
	return form, nil
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	st := &requestState{actor: "anonymous", grant: "unknown"}
	ctx := withState(r.Context(), st)
	resp, err := s.issue(ctx, w, r, st)
	if err != nil {
		s.refuse(ctx, w, st, err)
	} else {
		s.writeToken(w, st, resp)
		s.metrics.observe(st, "", time.Since(start))
		if s.deps.Observer != nil {
			s.deps.Observer.ObserveToken(st.target, st.tenantID, "", reqmeta.From(ctx).ClientAddr)
		}
	}
}

// observeRefusal tells the Observer of a refusal of a credential that
// exists or at least parsed; storage failures are not the credential's.
func (s *Server) observeRefusal(ctx context.Context, st *requestState, code errcode.Code) {
	if s.deps.Observer == nil || code == errcode.Unavailable || code == errcode.Internal {
		return
	}
	cred := st.target
	if !st.wellFormed || cred == "key:unknown" || cred == "key:malformed" || cred == "request" {
		cred = ""
	}
	if cred == "" && st.tenantID == "" {
		return
	}
	s.deps.Observer.ObserveToken(cred, st.tenantID, string(code), reqmeta.From(ctx).ClientAddr)
}

func (s *Server) issue(ctx context.Context, w http.ResponseWriter, r *http.Request, st *requestState) (fosite.AccessResponder, error) {
	if err := s.limit("addr", reqmeta.From(ctx).ClientAddr); err != nil {
		return nil, err
	}
	form, err := s.readForm(w, r)
	if err != nil {
		return nil, err
	}
	switch gt := form.Get("grant_type"); gt {
	case "":
		return nil, errcode.New(errcode.RequestInvalid, "grant_type is required.")
	case store.GrantClientCredentials:
		st.grant = "client_credentials"
	case store.GrantTokenExchange:
		st.grant = "token_exchange"
	default:
		return nil, errcode.Newf(errcode.GrantUnsupported, "grant_type %q is not supported; use client_credentials or %s.", truncate(gt, 80), store.GrantTokenExchange)
	}
	st.clientPresented = hasCredentials(r, form)
	ar, err := s.provider.NewAccessRequest(ctx, r, &fositeoauth2.JWTSession{})
	if err != nil {
		return nil, err
	}
	return s.provider.NewAccessResponse(ctx, ar)
}

// limit applies the Limiter, if any.
func (s *Server) limit(kind, key string) error {
	if s.deps.Limiter == nil || key == "" {
		return nil
	}
	if ok, wait := s.deps.Limiter.Allow(kind, key); !ok {
		secs := int((wait + time.Second - 1) / time.Second)
		return &errcode.Error{Code: errcode.RateLimited, RetryAfter: max(secs, 1),
			Description: "Too many requests; retry after " + strconv.Itoa(max(secs, 1)) + " s."}
	}
	return nil
}

type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
}

func (s *Server) writeToken(w http.ResponseWriter, st *requestState, resp fosite.AccessResponder) {
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if st.sunset != nil && s.now().Before(*st.sunset) {
		// RFC 9745 and RFC 8594: the exchange works today and will stop.
		h.Set("Deprecation", "@"+strconv.FormatInt(s.now().Unix(), 10))
		h.Set("Sunset", st.sunset.UTC().Format(http.TimeFormat))
	}
	body := tokenResponse{
		AccessToken:     resp.GetAccessToken(),
		IssuedTokenType: st.issuedTokenType,
		// RFC 6750 names the type "Bearer"; fosite writes "bearer".
		TokenType: "Bearer",
		ExpiresIn: int64(st.lifetime / time.Second),
	}
	if sc, ok := resp.GetExtra("scope").(string); ok {
		body.Scope = sc
	}
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(body)
}

// refuse answers a failed token request. A refusal of a well-formed
// credential is written to the audit log before the answer leaves (SPEC
// §6); noise (malformed input, rate limiting) is sampled so that a flood
// cannot become a write storm.
func (s *Server) refuse(ctx context.Context, w http.ResponseWriter, st *requestState, err error) {
	e := toErrcode(err)
	if e.Code != errcode.Unavailable && e.Code != errcode.Internal && !st.audited {
		d := map[string]string{"grant": st.grant, "reason": e.Text()}
		if st.actorClient != "" {
			d["actor_client"] = st.actorClient
		}
		if st.actorOwner != "" {
			d["actor_principal"] = st.actorOwner
		}
		details, _ := json.Marshal(d)
		ev := store.AuditEvent{
			Actor: st.actor, Action: "token.refuse", Target: st.target, TenantID: st.tenantID,
			Outcome: "refused", ErrorCode: string(e.Code), Details: details,
		}
		if ev.Target == "" {
			ev.Target = "request"
		}
		if st.wellFormed && e.Code != errcode.RateLimited {
			if aerr := s.deps.Audit.Record(ctx, ev); aerr != nil {
				// Without its audit event the refusal may not be sent;
				// the caller retries and gets the real answer then.
				e = errcode.Wrap(errcode.Unavailable, aerr, "")
			}
		} else {
			s.deps.Audit.Sample(ctx, ev)
		}
	}
	if e.Code == errcode.Internal || e.Code == errcode.Unavailable {
		s.cfg.Logger.ErrorContext(ctx, "token request failed", "grant", st.grant, "error_code", e.Code, "err", err,
			"request_id", reqmeta.From(ctx).RequestID)
	}
	s.metrics.observe(st, e.Code, 0)
	// The same increment, per tenant, for the console's refusals chart:
	// counted in memory and flushed with the usage counts.
	s.deps.Usage.Refused(st.tenantID, string(e.Code), s.now())
	s.observeRefusal(ctx, st, e.Code)
	errcode.Write(w, s.cfg.Logger, e)
}

// toErrcode maps any error from the token flow to an *errcode.Error: ours
// as they are (also when fosite wrapped them), fosite's by their RFC 6749
// error, storage failures to unavailable, anything else to internal.
func toErrcode(err error) *errcode.Error {
	if e, ok := errcode.As(err); ok {
		return e
	}
	var rfc *fosite.RFC6749Error
	if errors.As(err, &rfc) {
		desc := rfc.GetDescription()
		switch rfc.ErrorField {
		case fosite.ErrInvalidClient.ErrorField:
			return errcode.Wrap(errcode.ClientInvalid, err, "")
		case fosite.ErrInvalidScope.ErrorField:
			return errcode.Wrap(errcode.ScopeNotGranted, err, desc)
		case fosite.ErrUnsupportedGrantType.ErrorField:
			return errcode.Wrap(errcode.GrantUnsupported, err, "")
		case fosite.ErrUnauthorizedClient.ErrorField:
			return errcode.Wrap(errcode.GrantNotAllowed, err, "")
		case fosite.ErrTemporarilyUnavailable.ErrorField:
			return errcode.Wrap(errcode.Unavailable, err, "")
		case fosite.ErrInvalidRequest.ErrorField, fosite.ErrInvalidGrant.ErrorField:
			return errcode.Wrap(errcode.RequestInvalid, err, desc)
		}
	}
	return errcode.Normalize(err)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// bearerToken extracts an RFC 6750 §2.1 bearer token.
func bearerToken(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}
