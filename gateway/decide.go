package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/jwks/verifier"
	"github.com/authz/authz/reqmeta"
)

// Modes, the mode label of the gateway's metrics: the transport that
// asked for a decision. Every mode asks the same Decider.
const (
	ModeProxy    = "proxy"
	ModeDecision = "decision"
	ModeGRPC     = "grpc"
)

// Decider is the gateway's one decision function: given the headers of a
// request (and its caller's address in the context, reqmeta), it says
// whether the request may pass and with which identity, or how to refuse
// it. The reverse proxy, the HTTP decision endpoint (NGINX auth_request,
// forward_auth, Envoy HTTP ext_authz) and Envoy's gRPC ext_authz all ask
// it, so they decide identically and share the bridge's token cache,
// singleflight and refusal cache.
type Decider struct {
	verifier  Verifier
	require   verifier.Require
	realm     string
	keyHeader string
	x         *exchanger
	routes    *routeLabels
	metrics   *metrics
	trusted   reqmeta.TrustedProxies
	log       *slog.Logger
}

// Input is what a decision is made on.
type Input struct {
	// Header is the original request's headers (Authorization, the legacy
	// key header).
	Header http.Header
	// Path is the original request's path, for the route metrics label.
	Path string
	// Extra is what this route requires on top of the gateway's own
	// requirements (never instead of them).
	Extra Extra
}

// Extra are per-route requirements, added to Config.Require.
type Extra struct {
	// Scopes must all be granted.
	Scopes []string
	// Roles: one must be held.
	Roles []string
	// Tenants: the token's tenant must be one of them.
	Tenants []string
	// Audiences: the token's aud must name one of them.
	Audiences []string
}

func (e Extra) empty() bool {
	return len(e.Scopes) == 0 && len(e.Roles) == 0 && len(e.Tenants) == 0 && len(e.Audiences) == 0
}

// Decision is the answer to one Input.
type Decision struct {
	// Credential is "token", "legacy_key" or "none".
	Credential string
	// Token is the access token the request passes with: the caller's, or
	// the one its legacy key was exchanged for. Empty when refused.
	Token  string
	Claims *verifier.Claims
	ref    *refusal
}

// Allowed reports whether the request may pass.
func (d Decision) Allowed() bool { return d.ref == nil }

// Status is the HTTP status of a refusal (200 when allowed).
func (d Decision) Status() int {
	if d.ref == nil {
		return http.StatusOK
	}
	return d.ref.status
}

// Body is the RFC 6749-style JSON body of a refusal.
func (d Decision) Body() errcode.Body {
	if d.ref == nil {
		return errcode.Body{}
	}
	return d.ref.body
}

// Challenge is the WWW-Authenticate value of a refusal ("" when none).
func (d Decision) Challenge(realm string) string {
	if d.ref == nil {
		return ""
	}
	return d.ref.challengeValue(realm)
}

// RetryAfter is the Retry-After of a 429 or 503 refusal, in seconds (0:
// none).
func (d Decision) RetryAfter() int {
	if d.ref == nil || (d.ref.status != http.StatusTooManyRequests && d.ref.status != http.StatusServiceUnavailable) {
		return 0
	}
	return max(d.ref.retryAfter, 1)
}

// Realm is the realm of the decider's challenges.
func (d *Decider) Realm() string { return d.realm }

// Decide makes the decision for in. The caller's address, which the
// bridge's per-address exchange limit counts, is reqmeta.From(ctx).
func (d *Decider) Decide(ctx context.Context, in Input) Decision {
	cred, token, claims, ref := d.authenticate(ctx, in.Header)
	if ref == nil && !in.Extra.empty() {
		ref = d.checkExtra(ctx, claims, in.Extra)
	}
	if ref != nil {
		return Decision{Credential: cred, ref: ref}
	}
	return Decision{Credential: cred, Token: token, Claims: claims}
}

// Record counts a decision (or a refusal made before deciding, such as
// bad input) in the metrics of mode.
func (d *Decider) Record(mode, path string, dec Decision, result string, took time.Duration) {
	if result == "" {
		result = outcome(dec.Status())
	}
	d.metrics.request(mode, d.routes.label(path, result == "forwarded" || result == "allowed"), dec.Credential, result, took)
}

// checkExtra applies per-route requirements; the tenant first, as
// Require.Check does, so that another tenant's token learns nothing of
// the route's scopes.
func (d *Decider) checkExtra(ctx context.Context, c *verifier.Claims, e Extra) *refusal {
	req := verifier.Require{Scopes: e.Scopes, Roles: e.Roles, Tenants: e.Tenants}
	if err := req.Check(c); err != nil {
		return refusalFor(ctx, err, req, d.log)
	}
	if len(e.Audiences) > 0 && !slices.ContainsFunc(c.Audience, func(a string) bool { return slices.Contains(e.Audiences, a) }) {
		return &refusal{status: http.StatusUnauthorized, challenge: "invalid_token", reason: "audience",
			body: errcode.Body{Error: "invalid_token", Code: errcode.TokenInvalid,
				Description: "The access token is not for this resource: its aud names none of " + strings.Join(e.Audiences, " ") + "."}}
	}
	return nil
}

// authenticate decides which credential the request carries and checks
// it. A bearer token wins over a legacy key: a caller that has moved to
// tokens is treated as such even if an old header lingers.
func (d *Decider) authenticate(ctx context.Context, h http.Header) (cred, token string, c *verifier.Claims, ref *refusal) {
	log := d.log
	if d.x == nil || hasBearer(h) {
		token, ref = bearerToken(h)
		if ref == refuseNoToken {
			return credNone, "", nil, ref
		}
		if ref != nil {
			return credToken, "", nil, ref
		}
		c, ref = verify(ctx, d.verifier, d.require, token, log)
		return credToken, token, c, ref
	}
	keys := h.Values(d.keyHeader)
	if len(keys) == 0 {
		return credNone, "", nil, refuseNoToken
	}
	if len(keys) > 1 || strings.TrimSpace(keys[0]) == "" {
		return credLegacyKey, "", nil, &refusal{status: http.StatusBadRequest, reason: "bad_key_header",
			body: errcode.Body{Error: "invalid_request", Code: errcode.RequestInvalid,
				Description: "Send exactly one " + d.keyHeader + " header, or better, Authorization: Bearer <access token>."}}
	}
	key := strings.TrimSpace(keys[0])
	res, cached := d.x.exchange(ctx, key)
	if res.ref != nil {
		return credLegacyKey, "", nil, res.ref
	}
	// The exchanged token goes through the same verification as a
	// caller's token, on every request (the verifier's own cache makes
	// that cheap): a withdrawn signing key or a revoked token stops it
	// here too. A cached token that no longer verifies is exchanged anew,
	// once.
	c, ref = verify(ctx, d.verifier, d.require, res.token, log)
	if ref != nil && ref.status == http.StatusUnauthorized && cached {
		d.x.forget(key)
		if res, _ = d.x.exchange(ctx, key); res.ref != nil {
			return credLegacyKey, "", nil, res.ref
		}
		c, ref = verify(ctx, d.verifier, d.require, res.token, log)
	}
	if ref != nil {
		return credLegacyKey, "", nil, ref
	}
	log.DebugContext(ctx, "legacy key request", "key_id", c.KeyID, "sub", c.Subject)
	return credLegacyKey, res.token, c, nil
}
