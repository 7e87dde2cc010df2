package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/jwks/verifier"
)

// Verifier is what the gateway needs of a token verifier;
// *verifier.Verifier implements it.
type Verifier interface {
	Verify(ctx context.Context, token string) (*verifier.Claims, error)
}

var _ Verifier = (*verifier.Verifier)(nil)

// Options tune Middleware.
type Options struct {
	// Realm is the RFC 6750 realm in challenges (default "authz").
	Realm string
	// Logger receives refusals at debug level and verifier outages at
	// warn level (default: none). Tokens are never logged.
	Logger *slog.Logger
}

type claimsKey struct{}

// ClaimsFrom returns the verified claims of the request's token.
func ClaimsFrom(ctx context.Context) (*verifier.Claims, bool) {
	c, ok := ctx.Value(claimsKey{}).(*verifier.Claims)
	return c, ok && c != nil
}

// WithClaims returns ctx carrying c, as Middleware does (for tests of
// handlers that sit behind it).
func WithClaims(ctx context.Context, c *verifier.Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// Middleware admits requests that carry a valid bearer token satisfying
// req, with the claims in the context (ClaimsFrom), and answers the others
// per RFC 6750 §3: 401 with a Bearer challenge (error="invalid_token" when
// a token was presented, no error when none was), 403 insufficient_scope,
// 400 invalid_request for a malformed Authorization header, and 503 when
// the issuer's keys cannot be had. The token is read from the
// Authorization header only (RFC 6750 §2.1): tokens in query strings end
// up in access logs and browser history.
func Middleware(v Verifier, req verifier.Require, opts Options) func(http.Handler) http.Handler {
	realm := opts.Realm
	if realm == "" {
		realm = "authz"
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, ref := bearerToken(r.Header)
			if ref != nil {
				ref.write(w, realm)
				return
			}
			c, ref := verify(r.Context(), v, req, token, log)
			if ref != nil {
				ref.write(w, realm)
				return
			}
			next.ServeHTTP(w, r.WithContext(WithClaims(r.Context(), c)))
		})
	}
}

// refusal is a response to a request the gateway will not pass on.
type refusal struct {
	status int
	// challenge is the RFC 6750 error attribute; bare makes the challenge
	// carry none (RFC 6750 §3.1: no credentials, no error information).
	challenge string
	bare      bool
	// noChallenge: the refusal is not about credentials (a decision
	// request from a peer that may not ask), so it carries no challenge.
	noChallenge bool
	body        errcode.Body
	// scope, for insufficient_scope, lists what the resource requires.
	scope string
	// retryAfter, in seconds, for 429 and 503.
	retryAfter int
	// reason is a bounded label for logs and metrics.
	reason string
}

var (
	refuseNoToken = &refusal{
		status: http.StatusUnauthorized, bare: true, reason: "no_credentials",
		body: errcode.Body{Error: "invalid_token", Code: errcode.TokenInvalid,
			Description: "A bearer token is required: send Authorization: Bearer <access token>."},
	}
	refuseBadHeader = &refusal{
		status: http.StatusBadRequest, challenge: "invalid_request", reason: "bad_authorization_header",
		body: errcode.Body{Error: "invalid_request", Code: errcode.RequestInvalid,
			Description: "The Authorization header is malformed: send exactly one, as Bearer <access token>."},
	}
)

// bearerToken extracts the token of the "Authorization: Bearer" header
// (RFC 6750 §2.1; the scheme is case-insensitive, RFC 9110 §11.1).
func bearerToken(h http.Header) (string, *refusal) {
	values := h.Values("Authorization")
	switch len(values) {
	case 0:
		return "", refuseNoToken
	case 1:
	default:
		return "", refuseBadHeader
	}
	scheme, token, _ := strings.Cut(strings.TrimSpace(values[0]), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", refuseNoToken // other schemes carry no bearer credentials
	}
	token = strings.TrimLeft(token, " ")
	if !token68(token) {
		return "", refuseBadHeader
	}
	return token, nil
}

// token68 is the RFC 6750 §2.1 b64token syntax.
func token68(s string) bool {
	end := len(s)
	for end > 0 && s[end-1] == '=' {
		end--
	}
	if end == 0 {
		return false
	}
	for i := range end {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return false
		}
	}
	return true
}

// verify checks token and req, turning a failure into its refusal.
func verify(ctx context.Context, v Verifier, req verifier.Require, token string, log *slog.Logger) (*verifier.Claims, *refusal) {
	c, err := v.Verify(ctx, token)
	if err == nil {
		err = req.Check(c)
	}
	if err == nil {
		return c, nil
	}
	return nil, refusalFor(ctx, err, req, log)
}

// refusalFor maps a verification or requirement failure to its answer.
func refusalFor(ctx context.Context, err error, req verifier.Require, log *slog.Logger) *refusal {
	var e *verifier.Error
	if !errors.As(err, &e) {
		log.ErrorContext(ctx, "token verification failed", "err", err)
		return &refusal{status: http.StatusInternalServerError, reason: "internal",
			body: errcode.Body{Error: "server_error", Code: errcode.Internal, Description: errcode.Lookup(errcode.Internal).Remedy}}
	}
	desc := e.Description()
	switch {
	case e.Reason == verifier.ReasonUnavailable:
		log.WarnContext(ctx, "cannot verify tokens: the issuer's keys or status list are unavailable", "err", err)
		return &refusal{status: http.StatusServiceUnavailable, retryAfter: 5, reason: string(e.Reason),
			body: errcode.Body{Error: "temporarily_unavailable", Code: errcode.Unavailable, Description: desc}}
	case e.Forbidden():
		log.DebugContext(ctx, "token lacks what the resource requires", "reason", e.Reason)
		ref := &refusal{status: http.StatusForbidden, challenge: "insufficient_scope", reason: string(e.Reason),
			body: errcode.Body{Error: "insufficient_scope", Code: errcode.Forbidden, Description: desc}}
		if e.Reason == verifier.ReasonScope {
			ref.scope = strings.Join(req.Scopes, " ")
		}
		return ref
	}
	log.DebugContext(ctx, "token refused", "reason", e.Reason)
	return &refusal{status: http.StatusUnauthorized, challenge: "invalid_token", reason: string(e.Reason),
		body: errcode.Body{Error: "invalid_token", Code: errcode.TokenInvalid, Description: desc}}
}

// write sends the refusal: RFC 6750 §3 challenge on 401/403/400 and an
// RFC 6749-style JSON body with authz's error_code, never cached.
func (ref *refusal) write(w http.ResponseWriter, realm string) {
	h := w.Header()
	if v := ref.challengeValue(realm); v != "" {
		h.Set("WWW-Authenticate", v)
	}
	switch ref.status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		h.Set("Retry-After", strconv.Itoa(max(ref.retryAfter, 1)))
	}
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(ref.status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(ref.body)
}

// challengeValue is the WWW-Authenticate of the refusal, "" for statuses
// that carry none.
func (ref *refusal) challengeValue(realm string) string {
	switch ref.status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusBadRequest:
	default:
		return ""
	}
	if ref.noChallenge {
		return ""
	}
	if ref.bare || ref.challenge == "" {
		return challenge(realm, "", "", "")
	}
	return challenge(realm, ref.challenge, ref.body.Description, ref.scope)
}

// challenge builds an RFC 6750 §3 WWW-Authenticate value.
func challenge(realm, code, description, scope string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm=`)
	b.WriteString(quote(realm))
	if code != "" {
		b.WriteString(`, error=`)
		b.WriteString(quote(code))
	}
	if description != "" {
		b.WriteString(`, error_description=`)
		b.WriteString(quote(description))
	}
	if scope != "" {
		b.WriteString(`, scope=`)
		b.WriteString(quote(scope))
	}
	return b.String()
}

// quote makes a quoted-string whose content stays within the characters
// RFC 6750 §3 allows for these attributes (%x20-21 / %x23-5B / %x5D-7E):
// anything else, quotes and backslashes included, becomes a space.
func quote(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			b[i] = ' '
		}
	}
	return `"` + string(b) + `"`
}
