package verifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authz/authz/statuslist"
)

// Defaults for the zero values of Config.
const (
	DefaultLeeway             = 30 * time.Second
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultMaxTokenSize       = 8 << 10
	// DefaultCacheTTL applies when the JWKS response has no Cache-Control.
	DefaultCacheTTL = 5 * time.Minute
	// DefaultMaxStale is how long a cached set keeps serving past its
	// freshness while the JWKS endpoint is unreachable.
	DefaultMaxStale = time.Hour
	maxCacheTTL     = 24 * time.Hour
	fetchTimeout    = 10 * time.Second
)

// Config configures a Verifier. Issuer is required unless
// InsecureSkipIssuerCheck is set; everything else has a safe default.
type Config struct {
	// Issuer is the authz issuer URL, exactly as it appears in iss. The
	// JWKS location is discovered from its RFC 8414 metadata.
	Issuer string
	// JWKSURL, when set, is used instead of discovery.
	JWKSURL string
	// InsecureSkipIssuerCheck accepts any iss. It exists for offline
	// inspection (`authz verify --jwks URL`) and MUST NOT be used to
	// protect a resource: the key set alone does not say whose tokens
	// the resource should accept.
	InsecureSkipIssuerCheck bool
	// Audience lists the audiences this resource answers to; a token must
	// name at least one of them in aud. Empty means aud is not checked.
	Audience []string
	// Algorithms is the allow-list (default ES256, EdDSA, RS256). Only
	// those three are supported; none and HS* are refused.
	Algorithms []string
	// Leeway tolerates clock skew on exp, nbf and iat (default 30 s).
	Leeway time.Duration
	// MinRefreshInterval bounds refetches of the JWKS on an unknown kid or
	// a stale set to one per interval (default 30 s). It is also the
	// shortest freshness the verifier accepts from Cache-Control.
	MinRefreshInterval time.Duration
	// MaxStale is how long an expired key set keeps serving while the
	// JWKS endpoint cannot be reached (default 1 h). After that, Verify
	// fails with ReasonUnavailable.
	MaxStale time.Duration
	// MaxTokenSize refuses longer tokens before any parsing (default 8 KiB).
	MaxTokenSize int
	// TokenCacheSize bounds the cache of verified tokens (default 10000;
	// negative disables it). A cached token is served again only while
	// the key that verified it is still published and its time claims
	// hold; StatusChecker is consulted on every use.
	TokenCacheSize int
	// HTTPClient fetches metadata and keys (default: 10 s timeout).
	HTTPClient *http.Client
	// StatusLists configures the Token Status List check, on unless
	// Disabled: a token whose status claim refers to a list is refused
	// unless its entry is VALID, the list being fetched from the
	// issuer's origin only and verified against the same key set.
	StatusLists StatusListConfig
	// StatusChecker, when set, is consulted after the signature, the
	// claims and the status list check have passed.
	StatusChecker StatusChecker
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives key set changes and fetch failures (default: none).
	Logger *slog.Logger
	// Registerer receives the verifier's metrics (default: none).
	Registerer prometheus.Registerer
}

// StatusChecker decides whether a token that is otherwise valid has been
// revoked, for example through the Token Status List referenced by its
// status claim (Claims.Raw["status"]). Returning an *Error refuses the
// token with that reason; any other error refuses it with ReasonStatus.
type StatusChecker interface {
	CheckStatus(ctx context.Context, c *Claims) error
}

// Verifier verifies authz access tokens against the issuer's published
// keys. It is safe for concurrent use.
type Verifier struct {
	issuer   string // "" when the issuer is not checked
	audience []string
	algs     []string
	maxSize  int
	lists    *statusLists // nil when disabled
	status   StatusChecker
	now      func() time.Time
	leeway   time.Duration
	cache    *verifiedCache // nil when disabled
	parser   *jwt.Parser
	// listParser checks Status List Tokens: the same algorithms, no
	// claims validation (statuslist.ParseToken does that).
	listParser *jwt.Parser
	keys       *remoteKeySet
	metadata   *Metadata
	metrics    *metrics
	stop       context.CancelFunc
	done       chan struct{}
}

// New discovers the issuer's jwks_uri (unless cfg.JWKSURL is set), fetches
// the key set once and starts refreshing it in the background. ctx bounds
// the initial fetches and the verifier's life: the background refresher
// stops when ctx ends or Close is called, so pass a long-lived context.
func New(ctx context.Context, cfg Config) (*Verifier, error) {
	return newVerifier(ctx, cfg, sleep)
}

func newVerifier(ctx context.Context, cfg Config, sleep func(context.Context, time.Duration) bool) (*Verifier, error) {
	if cfg.Issuer == "" && !cfg.InsecureSkipIssuerCheck {
		return nil, errors.New("verifier: Issuer is required")
	}
	if cfg.Issuer == "" && cfg.JWKSURL == "" {
		return nil, errors.New("verifier: Issuer or JWKSURL is required")
	}
	algs := cfg.Algorithms
	if len(algs) == 0 {
		algs = DefaultAlgorithms()
	}
	for _, a := range algs {
		if !supportedAlg(a) {
			return nil, fmt.Errorf("verifier: algorithm %q is not supported (allowed: ES256, EdDSA, RS256)", a)
		}
	}
	algs = slices.Clone(algs)
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	client := cfg.HTTPClient
	if client == nil {
		client = defaultHTTPClient()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("verifier: metrics: %w", err)
	}

	v := &Verifier{
		audience: slices.Clone(cfg.Audience),
		algs:     algs,
		maxSize:  orDefault(cfg.MaxTokenSize, DefaultMaxTokenSize),
		status:   cfg.StatusChecker,
		now:      now,
		leeway:   orDefault(cfg.Leeway, DefaultLeeway),
		metrics:  m,
		done:     make(chan struct{}),
	}
	if cfg.TokenCacheSize >= 0 {
		v.cache = newVerifiedCache(orDefault(cfg.TokenCacheSize, DefaultTokenCacheSize))
	}
	jwksURL := cfg.JWKSURL
	if jwksURL == "" {
		md, err := Discover(ctx, client, cfg.Issuer)
		if err != nil {
			return nil, err
		}
		v.metadata = md
		jwksURL = md.JWKSURI
	}

	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithLeeway(v.leeway),
		jwt.WithTimeFunc(now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithStrictDecoding(),
	}
	if cfg.Issuer != "" && !cfg.InsecureSkipIssuerCheck {
		v.issuer = cfg.Issuer
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if len(cfg.Audience) > 0 {
		opts = append(opts, jwt.WithAudience(cfg.Audience...))
	}
	v.parser = jwt.NewParser(opts...)
	v.listParser = jwt.NewParser(jwt.WithValidMethods(algs), jwt.WithoutClaimsValidation(), jwt.WithStrictDecoding())

	life, stop := context.WithCancel(context.WithoutCancel(ctx))
	v.stop = stop
	minInterval := orDefault(cfg.MinRefreshInterval, DefaultMinRefreshInterval)
	v.keys = &remoteKeySet{
		url:         jwksURL,
		client:      client,
		algs:        algs,
		now:         now,
		minInterval: minInterval,
		defaultTTL:  max(DefaultCacheTTL, minInterval),
		maxTTL:      max(maxCacheTTL, minInterval),
		maxStale:    orDefault(cfg.MaxStale, DefaultMaxStale),
		timeout:     fetchTimeout,
		log:         log,
		metrics:     m,
		life:        life,
		sleep:       sleep,
	}
	if !v.keys.refresh(ctx, true) || v.keys.cur.Load() == nil {
		stop()
		err := v.keys.lastError()
		if err == nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("verifier: initial JWKS fetch from %s: %w", jwksURL, err)
	}
	// The verifier's life follows ctx as documented, without tying the
	// fetches of the moment to a caller's cancellation.
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-life.Done():
		}
	}()
	if !cfg.StatusLists.Disabled {
		sm, err := newStatusMetrics(cfg.Registerer)
		if err != nil {
			stop()
			return nil, fmt.Errorf("verifier: metrics: %w", err)
		}
		// Lists come from the issuer's origin; without an issuer (offline
		// inspection), from the origin that serves the keys.
		base := cfg.Issuer
		if base == "" {
			base = jwksURL
		}
		v.lists = newStatusLists(cfg.StatusLists, origin(base), v.issuer, client, now, v.leeway, v.verifyStatusListToken, sm, log, life)
		v.lists.onKids = v.keys.applyListed
	}
	go v.keys.background(v.done)
	return v, nil
}

func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

func defaultHTTPClient() *http.Client {
	return &http.Client{Timeout: fetchTimeout}
}

// Close stops the background refresh of keys and status lists. Verify
// keeps working on the cached key set and lists until they go stale.
func (v *Verifier) Close() {
	v.stop()
	<-v.done
	if v.lists != nil {
		v.lists.close()
	}
}

// Metadata returns the issuer metadata found by discovery, or nil when the
// verifier was configured with JWKSURL.
func (v *Verifier) Metadata() *Metadata { return v.metadata }

// Ready reports whether the verifier holds a usable key set.
func (v *Verifier) Ready() bool { return v.keys.usable(v.keys.now()) != nil }

// Refresh fetches the key set now, regardless of the refetch rate limit
// (for an operator's "reload", not for the request path).
func (v *Verifier) Refresh(ctx context.Context) error {
	v.keys.refresh(ctx, true)
	if err := ctx.Err(); err != nil {
		return err
	}
	return v.keys.lastError()
}

// Verify checks token and returns its claims. Every refusal is an *Error;
// its Reason says which check failed.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	c, err := v.verify(ctx, token)
	v.metrics.result(err)
	return c, err
}

func (v *Verifier) verify(ctx context.Context, token string) (*Claims, error) {
	if len(token) > v.maxSize {
		return nil, refuse(ReasonTooLarge, "", nil)
	}
	if token == "" {
		return nil, refuse(ReasonMalformed, "", nil)
	}
	var hash [32]byte
	if v.cache != nil {
		hash = v.cache.hash(token)
		c, key, now, ok := v.cached(hash)
		v.metrics.cacheLookup(ok)
		if ok {
			if err := v.checkStatus(ctx, c, now); err != nil {
				return nil, err
			}
			if err := v.stillPublished(key); err != nil {
				return nil, err
			}
			return c, nil
		}
	}
	var used *publicKey
	tc := &tokenClaims{}
	tok, err := v.parser.ParseWithClaims(token, tc, func(t *jwt.Token) (any, error) {
		k, err := v.key(ctx, t)
		if err != nil {
			return nil, err
		}
		used = k
		return k.key, nil
	})
	if err != nil {
		return nil, v.classify(tok, tc, err)
	}
	c, err := tc.claims()
	if err != nil {
		return nil, err
	}
	if err := v.checkStatus(ctx, c, v.now()); err != nil {
		return nil, err
	}
	if err := v.stillPublished(used); err != nil {
		return nil, err
	}
	if v.cache != nil {
		cp := *c
		v.cache.put(&verifiedEntry{hash: hash, claims: &cp, key: used})
	}
	return c, nil
}

// cached returns a copy of the claims of a token verified before, if that
// verification still stands: the key set is fresh (an expired set sends
// the token down the full path, which refreshes it), still holds the very
// key that verified the token, and the time claims hold now. It returns
// the time it checked at, for the status check.
func (v *Verifier) cached(hash [32]byte) (*Claims, *publicKey, time.Time, bool) {
	e := v.cache.get(hash)
	if e == nil {
		return nil, nil, time.Time{}, false
	}
	now := v.now()
	set := v.keys.cur.Load()
	if set == nil || now.After(set.expiresAt) || set.keys[e.key.kid] != e.key || !timely(e.claims, now, v.leeway) {
		v.cache.remove(hash)
		return nil, nil, time.Time{}, false
	}
	c := *e.claims
	return &c, e.key, now, true
}

// stillPublished refuses a token whose key was withdrawn while it was
// being checked: the status check may have fetched a list that no longer
// names the key (keySet.keys), and that list is newer than the signature
// check.
func (v *Verifier) stillPublished(k *publicKey) error {
	if set := v.keys.cur.Load(); set == nil || set.keys[k.kid] != k {
		return errKeyWithdrawn
	}
	return nil
}

// checkStatus runs the status list check (at now, the time the rest of
// the verification used: reading the clock costs as much as the check)
// and then Config.StatusChecker.
func (v *Verifier) checkStatus(ctx context.Context, c *Claims, now time.Time) error {
	if v.lists != nil {
		if err := v.lists.check(ctx, c, now); err != nil {
			return err
		}
	}
	if v.status == nil {
		return nil
	}
	if err := v.status.CheckStatus(ctx, c); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		return refuse(ReasonStatus, "", err)
	}
	return nil
}

// key checks the header of an access token and returns the key named by
// kid. It runs after golang-jwt has matched alg against the allow-list
// and before the signature is checked.
func (v *Verifier) key(ctx context.Context, t *jwt.Token) (*publicKey, error) {
	if !atJWT(t.Header["typ"]) {
		return nil, refuse(ReasonType, "", nil)
	}
	return v.signingKey(ctx, t, false)
}

// signingKey checks the header parameters every JWS of the issuer shares
// and returns the key named by kid: one the newest status list still names
// for access tokens, any the JWKS publishes for status lists (raw).
func (v *Verifier) signingKey(ctx context.Context, t *jwt.Token, raw bool) (*publicKey, error) {
	// We understand no JWS extensions, so any critical one is fatal
	// (RFC 7515 §4.1.11).
	if _, ok := t.Header["crit"]; ok {
		return nil, refuse(ReasonMalformed, "The access token names critical header parameters this resource does not understand.", nil)
	}
	// jku, jwk, x5u and x5c are ignored on purpose: the key comes from
	// the issuer's JWKS by kid, never from the token itself.
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, refuse(ReasonUnknownKey, "The access token has no kid.", nil)
	}
	lookup := v.keys.lookup
	if raw {
		lookup = v.keys.lookupRaw
	}
	k, err := lookup(ctx, kid)
	if err != nil {
		return nil, err
	}
	// A kid is bound to one algorithm: an RS256 token cannot borrow an EC
	// key's kid, and so on.
	if k.alg != t.Method.Alg() {
		return nil, refuse(ReasonAlgorithm, "", nil)
	}
	return k, nil
}

// verifyStatusListToken checks a Status List Token as strictly as an
// access token — the algorithm allow-list, a kid the issuer publishes
// bound to its algorithm, the signature — with typ statuslist+jwt, and
// returns its payload for statuslist.ParseToken.
func (v *Verifier) verifyStatusListToken(ctx context.Context, token string) ([]byte, error) {
	var raw rawClaims
	_, err := v.listParser.ParseWithClaims(token, &raw, func(t *jwt.Token) (any, error) {
		if !mediaType(t.Header["typ"], statuslist.TokenType) {
			return nil, errNotStatusList
		}
		k, err := v.signingKey(ctx, t, true)
		if err != nil {
			return nil, err
		}
		return k.key, nil
	})
	if err != nil {
		return nil, err
	}
	return raw.raw, nil
}

// rawClaims keeps a JWS payload as it is, for a decoder of its own.
type rawClaims struct{ raw []byte }

func (r *rawClaims) UnmarshalJSON(b []byte) error {
	r.raw = slices.Clone(b)
	return nil
}

func (*rawClaims) GetExpirationTime() (*jwt.NumericDate, error) { return nil, nil }
func (*rawClaims) GetIssuedAt() (*jwt.NumericDate, error)       { return nil, nil }
func (*rawClaims) GetNotBefore() (*jwt.NumericDate, error)      { return nil, nil }
func (*rawClaims) GetIssuer() (string, error)                   { return "", nil }
func (*rawClaims) GetSubject() (string, error)                  { return "", nil }
func (*rawClaims) GetAudience() (jwt.ClaimStrings, error)       { return nil, nil }

// mediaType reports whether typ names the media type t, with or without
// the "application/" prefix (RFC 7515 §4.1.9), case-insensitively.
func mediaType(typ any, t string) bool {
	s, _ := typ.(string)
	return strings.EqualFold(s, t) || strings.EqualFold(s, "application/"+t)
}

// atJWT accepts the RFC 9068 §2.1 media type, with or without the
// "application/" prefix (RFC 7515 §4.1.9), case-insensitively.
func atJWT(typ any) bool {
	s, _ := typ.(string)
	return strings.EqualFold(s, "at+jwt") || strings.EqualFold(s, "application/at+jwt")
}

// classify turns golang-jwt's error into a typed refusal. When several
// claims fail at once, the one that says most about the token wins: a
// token for another issuer or audience is that, whether expired or not.
func (v *Verifier) classify(tok *jwt.Token, tc *tokenClaims, err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if tok != nil && tok.Header != nil {
		alg, _ := tok.Header["alg"].(string)
		if !slices.Contains(v.algs, alg) {
			return refuse(ReasonAlgorithm, "", err)
		}
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse(ReasonMalformed, "", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return refuse(ReasonSignature, "", err)
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return refuse(ReasonIssuer, "", err)
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return refuse(ReasonAudience, "", err)
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse(ReasonExpired, "", err)
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return refuse(ReasonNotYetValid, "", err)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		// A token without iss or aud is as foreign as one with the wrong
		// value; say so rather than "missing claim".
		if tc.decoded && tc.err == nil {
			if v.issuer != "" && tc.w.Issuer == "" {
				return refuse(ReasonIssuer, "", err)
			}
			if aud := tc.w.Audience; len(v.audience) > 0 && (len(aud) == 0 || len(aud) == 1 && aud[0] == "") {
				return refuse(ReasonAudience, "", err)
			}
		}
		return refuse(ReasonClaims, "", err)
	case errors.Is(err, jwt.ErrInvalidType):
		return refuse(ReasonClaims, "", err)
	}
	return refuse(ReasonMalformed, "", err)
}
