package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/jwks/verifier"
	"github.com/authz/authz/reqmeta"
)

// RFC 8693 vocabulary (SPEC §3 "Legacy key exchange").
const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAPIKey    = "urn:authz:token-type:api-key"
	tokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
)

const (
	// refreshMargin: a cached token is dropped this long before it
	// expires, so that upstreams never receive one about to lapse.
	refreshMargin   = 30 * time.Second
	exchangeTimeout = 10 * time.Second
	// statusRetry is how long a key whose fresh token the status list
	// refuses stays refused: about the time a list takes to catch up.
	statusRetry     = time.Second
	maxResponseSize = 64 << 10
)

// exchangeResult is what one exchange produced: a token with its verified
// claims, or the refusal to give the caller.
type exchangeResult struct {
	token  string
	claims *verifier.Claims
	ref    *refusal
}

// exchanger turns legacy keys into access tokens at the token endpoint,
// authenticating as the gateway's own client, and remembers the outcome:
// tokens until shortly before they expire, refusals for a few seconds.
// Concurrent requests with one uncached key share one exchange.
type exchanger struct {
	endpoint     string
	clientID     string
	clientSecret string
	audience     string
	client       *http.Client
	verifier     Verifier
	now          func() time.Time
	negativeTTL  time.Duration
	cache        *tokenCache
	// refused holds refusals apart from tokens, so that a flood of bad
	// keys can evict only other refusals, never a caller's token.
	negative *tokenCache
	// perAddr limits, per caller address, the exchanges that reach authz.
	perAddr *addrLimiter
	flight  singleflight.Group
	// mac keys the cache's hash of each legacy key: legacy keys may be
	// low-entropy, and a plain SHA-256 in a heap dump could be brute
	// forced. The key is random per process.
	mac     []byte
	metrics *metrics
	log     *slog.Logger
	// beforeFlight, for tests, runs after a cache miss, just before the
	// request joins or starts the exchange for its key.
	beforeFlight func()
}

func (x *exchanger) cacheKey(apiKey string) cacheKey {
	h := hmac.New(sha256.New, x.mac)
	h.Write([]byte(apiKey))
	var k cacheKey
	h.Sum(k[:0])
	return k
}

// exchange returns the token for apiKey, or the refusal to answer with,
// and whether it came from the cache.
func (x *exchanger) exchange(ctx context.Context, apiKey string) (*exchangeResult, bool) {
	k := x.cacheKey(apiKey)
	if res, ok := x.cached(k); ok {
		x.metrics.cacheResult(res)
		return res, true
	}
	// Only now, with authz about to be asked, does the caller's own budget
	// count: cached keys never wait behind a flood.
	if ok, wait := x.perAddr.allow(reqmeta.From(ctx).ClientAddr); !ok {
		x.metrics.cache("rate_limited")
		secs := max(int((wait+time.Second-1)/time.Second), 1)
		return &exchangeResult{ref: &refusal{status: http.StatusTooManyRequests, retryAfter: secs, reason: string(errcode.RateLimited),
			body: errcode.Body{Error: "slow_down", Code: errcode.RateLimited,
				Description: "Too many API keys from this address to exchange; retry after " + strconv.Itoa(secs) + " s."}}}, false
	}
	if x.beforeFlight != nil {
		x.beforeFlight()
	}
	v, _, shared := x.flight.Do(string(k[:]), func() (any, error) {
		if res, ok := x.cached(k); ok {
			return res, nil
		}
		// The exchange outlives the request that started it: others may
		// be waiting for it.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), exchangeTimeout)
		defer cancel()
		res, ttl := x.call(ctx, apiKey)
		if ttl > 0 {
			if res.ref != nil {
				x.negative.put(k, res, x.now().Add(ttl))
			} else {
				x.negative.remove(k)
				x.cache.put(k, res, x.now().Add(ttl))
			}
		}
		return res, nil
	})
	if shared {
		x.metrics.cache("coalesced")
	} else {
		x.metrics.cache("miss")
	}
	return v.(*exchangeResult), false
}

// cached returns the token or the refusal remembered for k.
func (x *exchanger) cached(k cacheKey) (*exchangeResult, bool) {
	now := x.now()
	if res, ok := x.cache.get(k, now); ok {
		return res, true
	}
	return x.negative.get(k, now)
}

// forget drops what the cache holds for apiKey.
func (x *exchanger) forget(apiKey string) {
	k := x.cacheKey(apiKey)
	x.cache.remove(k)
	x.negative.remove(k)
}

// tokenResponse is RFC 8693 §2.2.1.
type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope"`
}

// call performs one exchange. The duration says how long to cache the
// result (zero: not at all).
func (x *exchanger) call(ctx context.Context, apiKey string) (*exchangeResult, time.Duration) {
	start := time.Now()
	form := url.Values{
		"grant_type":         {grantTokenExchange},
		"subject_token":      {apiKey},
		"subject_token_type": {tokenTypeAPIKey},
	}
	if x.audience != "" {
		form.Set("audience", x.audience)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, x.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return x.unavailable(ctx, "build request", err), 0
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: form-encode the credentials before Basic encoding.
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(
		[]byte(url.QueryEscape(x.clientID)+":"+url.QueryEscape(x.clientSecret))))
	if id := reqmeta.From(ctx).RequestID; id != "" {
		req.Header.Set(reqmeta.Header, id)
	}
	// The caller's address, for authz to limit and lock out per caller
	// rather than per gateway. authz believes it only if this gateway's
	// address is in its --trusted-proxy.
	if addr := reqmeta.From(ctx).ClientAddr; addr != "" {
		req.Header.Set(reqmeta.ForwardedFor, addr)
	}
	resp, err := x.client.Do(req)
	if err != nil {
		// Transport errors can carry the URL but never the form body.
		return x.unavailable(ctx, "token endpoint unreachable", err), 0
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize))
	x.metrics.exchangeDuration(time.Since(start))
	if err != nil {
		return x.unavailable(ctx, "reading the token endpoint's answer", err), 0
	}
	if resp.StatusCode == http.StatusOK {
		return x.issued(ctx, body)
	}
	return x.refused(ctx, resp, body)
}

func (x *exchanger) issued(ctx context.Context, body []byte) (*exchangeResult, time.Duration) {
	var tr tokenResponse
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" || !strings.EqualFold(tr.TokenType, "Bearer") ||
		(tr.IssuedTokenType != "" && tr.IssuedTokenType != tokenTypeAccess) {
		return x.unavailable(ctx, "token endpoint answered 200 without an access token", err), 0
	}
	// The token must pass the same verification as any caller's: a
	// legacy key must not be a way around the gateway's requirements.
	claims, err := x.verifier.Verify(ctx, tr.AccessToken)
	if err != nil {
		switch verifier.ReasonOf(err) {
		case verifier.ReasonUnavailable:
			return x.unavailable(ctx, "cannot verify the exchanged token", err), 0
		case verifier.ReasonStatus:
			// authz issued the token, so the key's owner and tenant are
			// active now; the gateway's status list says otherwise until
			// its next refresh (a resumption moments ago). Say so, and
			// ask again soon rather than after the negative TTL.
			x.metrics.exchange("refused", string(errcode.TokenInvalid))
			x.log.InfoContext(ctx, "exchanged token refused by the gateway's status list, which is older than the exchange", "err", err)
			var e *verifier.Error
			errors.As(err, &e)
			return &exchangeResult{ref: &refusal{status: http.StatusUnauthorized, bare: true, reason: string(verifier.ReasonStatus),
				body: errcode.Body{Error: "invalid_token", Code: errcode.TokenInvalid, Description: e.Description()}}}, min(x.negativeTTL, statusRetry)
		}
		x.log.WarnContext(ctx, "exchanged token does not verify; check the gateway's --audience and --issuer against authz",
			"reason", verifier.ReasonOf(err))
		x.metrics.exchange("refused", string(errcode.TokenInvalid))
		desc := "The token obtained for this API key is not valid for this resource."
		var e *verifier.Error
		if errors.As(err, &e) {
			desc += " " + e.Description()
		}
		return &exchangeResult{ref: &refusal{status: http.StatusUnauthorized, bare: true, reason: string(errcode.TokenInvalid),
			body: errcode.Body{Error: "invalid_token", Code: errcode.TokenInvalid, Description: desc}}}, x.negativeTTL
	}
	x.metrics.exchange("issued", "")
	x.log.InfoContext(ctx, "legacy key exchanged", "key_id", claims.KeyID, "sub", claims.Subject, "tenant", claims.Tenant)
	now := x.now()
	until := claims.ExpiresAt
	if tr.ExpiresIn > 0 {
		if byLifetime := now.Add(time.Duration(tr.ExpiresIn) * time.Second); byLifetime.Before(until) {
			until = byLifetime
		}
	}
	life := until.Sub(now)
	ttl := life - min(refreshMargin, life/2)
	return &exchangeResult{token: tr.AccessToken, claims: claims}, max(ttl, 0)
}

// refused maps the token endpoint's refusal to the answer the caller gets.
func (x *exchanger) refused(ctx context.Context, resp *http.Response, body []byte) (*exchangeResult, time.Duration) {
	var eb errcode.Body
	_ = json.Unmarshal(body, &eb)
	code := eb.Code
	if code == "" || !validLabel(string(code)) {
		switch {
		case resp.StatusCode == http.StatusTooManyRequests:
			code = errcode.RateLimited
		case resp.StatusCode >= 500:
			code = errcode.Unavailable
		case resp.StatusCode == http.StatusUnauthorized:
			code = errcode.ClientInvalid
		default:
			code = errcode.RequestInvalid
		}
	}
	desc := eb.Description
	if desc == "" || len(desc) > 512 {
		desc = errcode.Lookup(code).Remedy
	}
	oauthErr := eb.Error
	if oauthErr == "" || !validLabel(oauthErr) {
		oauthErr = errcode.Lookup(code).OAuth
	}
	switch {
	case code == errcode.RateLimited:
		x.metrics.exchange("refused", string(code))
		retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return &exchangeResult{ref: &refusal{status: http.StatusTooManyRequests, retryAfter: retry, reason: string(code),
			body: errcode.Body{Error: oauthErr, Code: code, Description: desc}}}, 0
	case code == errcode.Unavailable || resp.StatusCode >= 500:
		return x.unavailable(ctx, "token endpoint unavailable", errors.New(resp.Status)), 0
	case resp.StatusCode == http.StatusUnauthorized || gatewayFault(code):
		// The gateway's own client is refused: the caller can do nothing
		// about it, and must not be told their key is bad.
		x.metrics.exchange("error", string(code))
		x.log.ErrorContext(ctx, "token endpoint refused the gateway's client; check --client-id/--client-secret and that the client may use token exchange",
			"client_id", x.clientID, "error_code", code)
		return &exchangeResult{ref: unavailableRefusal("The gateway cannot exchange API keys at the moment; retry later or use an access token.")}, x.negativeTTL
	}
	// A refusal of the key itself: the exact code reaches the caller.
	x.metrics.exchange("refused", string(code))
	x.log.InfoContext(ctx, "legacy key refused", "error_code", code)
	return &exchangeResult{ref: &refusal{status: http.StatusUnauthorized, bare: true, reason: string(code),
		body: errcode.Body{Error: oauthErr, Code: code, Description: desc}}}, x.negativeTTL
}

// gatewayFault lists the codes that concern the gateway's client rather
// than the caller's key.
func gatewayFault(c errcode.Code) bool {
	switch c {
	case errcode.ClientInvalid, errcode.ClientSuspended, errcode.GrantNotAllowed, errcode.GrantUnsupported, errcode.TokenTypeInvalid:
		return true
	}
	return false
}

// validLabel accepts the snake_case vocabulary of error codes, so that a
// hostile or broken token endpoint cannot put arbitrary text in metrics
// labels or headers.
func validLabel(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !('a' <= c && c <= 'z' || c == '_' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func (x *exchanger) unavailable(ctx context.Context, what string, err error) *exchangeResult {
	x.metrics.exchange("error", string(errcode.Unavailable))
	x.log.WarnContext(ctx, "legacy key exchange failed: "+what, "err", err)
	return &exchangeResult{ref: unavailableRefusal("The gateway cannot reach the authorization server to exchange the API key; retry shortly.")}
}

func unavailableRefusal(desc string) *refusal {
	return &refusal{status: http.StatusServiceUnavailable, retryAfter: 1, reason: string(errcode.Unavailable),
		body: errcode.Body{Error: "temporarily_unavailable", Code: errcode.Unavailable, Description: desc}}
}
