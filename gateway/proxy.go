package gateway

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/jwks/verifier"
	"github.com/authz/authz/reqmeta"
)

// Defaults of Config.
const (
	DefaultCacheSize   = 10000
	DefaultNegativeTTL = 5 * time.Second
	maxLearnedRoutes   = 100
)

// Config configures a Proxy.
type Config struct {
	// Upstream receives the requests that pass, with Authorization:
	// Bearer <token>.
	Upstream *url.URL
	// Verifier checks bearer tokens (and tokens obtained for legacy keys).
	Verifier Verifier
	// Require is what every request's token must satisfy.
	Require verifier.Require
	// Realm is the RFC 6750 realm in challenges (default "authz").
	Realm string

	// LegacyKeyHeader, when set (for example "X-API-Key"), turns on the
	// migration bridge: a request without a bearer token that carries this
	// header has its key exchanged at TokenEndpoint (RFC 8693), with the
	// gateway authenticating as ClientID/ClientSecret (client_secret_basic),
	// and goes upstream with the resulting token instead of the key.
	LegacyKeyHeader string
	TokenEndpoint   string
	ClientID        string
	ClientSecret    string
	// ExchangeAudience, when set, is requested as the audience of
	// exchanged tokens (it should be one of the verifier's audiences).
	ExchangeAudience string
	// CacheSize bounds the exchanged-token cache (default 10000 keys).
	CacheSize int
	// NegativeTTL is how long a refused key stays refused without asking
	// the token endpoint again (default 5 s).
	NegativeTTL time.Duration
	// ExchangeRate and ExchangeBurst limit, per caller address, the keys
	// sent to the token endpoint (cache misses), before authz is asked
	// (defaults 10/s and 50; a negative rate: unlimited). Refused keys are
	// remembered apart from tokens, in a cache of CacheSize entries.
	ExchangeRate  float64
	ExchangeBurst int
	// TrustedProxies are the proxies in front of the gateway whose
	// X-Forwarded-For names the caller (reqmeta.TrustedProxies); the
	// caller's address is what ExchangeRate counts and what authz is told.
	TrustedProxies reqmeta.TrustedProxies

	// Routes are path prefixes used as the route label of metrics. Without
	// them the label is the first path segment, learned from forwarded
	// requests only and capped at 100 distinct values; anything else is
	// "other". Raw paths are never labels.
	Routes []string

	// Transport carries requests upstream (default http.DefaultTransport).
	Transport http.RoundTripper
	// HTTPClient calls the token endpoint (default: 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock for the token cache (default time.Now).
	Now        func() time.Time
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Proxy is a reverse proxy that lets through only requests with a valid
// access token (or, with the bridge on, a legacy key that exchanges for
// one). It never forwards a legacy key or the caller's own Authorization
// header when it exchanged a key, and never logs keys or tokens.
type Proxy struct {
	*Decider
	rp      *httputil.ReverseProxy
	handler http.Handler
}

// NewProxy validates cfg and builds the proxy.
func NewProxy(cfg Config) (*Proxy, error) {
	if cfg.Upstream == nil || (cfg.Upstream.Scheme != "http" && cfg.Upstream.Scheme != "https") || cfg.Upstream.Host == "" {
		return nil, errors.New("gateway: Upstream must be an http(s) URL")
	}
	d, err := NewDecider(cfg)
	if err != nil {
		return nil, err
	}
	return newProxy(d, cfg), nil
}

// NewDecider validates cfg (all but Upstream and Transport, which only
// the proxy uses) and builds the decision function the proxy and the
// decision endpoints share.
func NewDecider(cfg Config) (*Decider, error) {
	var problems []string
	if cfg.Verifier == nil {
		problems = append(problems, "Verifier is required")
	}
	keyHeader := ""
	if cfg.LegacyKeyHeader != "" {
		keyHeader = http.CanonicalHeaderKey(cfg.LegacyKeyHeader)
		if !validHeaderName(keyHeader) || keyHeader == "Authorization" || keyHeader == "Cookie" {
			problems = append(problems, fmt.Sprintf("LegacyKeyHeader %q is not a usable header name", cfg.LegacyKeyHeader))
		}
		if u, err := url.Parse(cfg.TokenEndpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			problems = append(problems, "TokenEndpoint must be an http(s) URL when LegacyKeyHeader is set")
		}
		if cfg.ClientID == "" || cfg.ClientSecret == "" {
			problems = append(problems, "ClientID and ClientSecret are required when LegacyKeyHeader is set")
		}
	}
	for _, r := range cfg.Routes {
		if !strings.HasPrefix(r, "/") {
			problems = append(problems, fmt.Sprintf("route %q must start with /", r))
		}
	}
	if len(problems) > 0 {
		return nil, errors.New("gateway: " + strings.Join(problems, "; "))
	}

	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	realm := cfg.Realm
	if realm == "" {
		realm = "authz"
	}
	p := &Decider{
		verifier:  cfg.Verifier,
		require:   cfg.Require,
		realm:     realm,
		keyHeader: keyHeader,
		routes:    newRouteLabels(cfg.Routes),
		metrics:   m,
		trusted:   cfg.TrustedProxies,
		log:       log,
	}
	if keyHeader != "" {
		now := cfg.Now
		if now == nil {
			now = time.Now
		}
		client := cfg.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: exchangeTimeout}
		}
		size := cfg.CacheSize
		if size <= 0 {
			size = DefaultCacheSize
		}
		neg := cfg.NegativeTTL
		if neg <= 0 {
			neg = DefaultNegativeTTL
		}
		mac := make([]byte, 32)
		if _, err := rand.Read(mac); err != nil {
			return nil, err
		}
		p.x = &exchanger{
			endpoint:     cfg.TokenEndpoint,
			clientID:     cfg.ClientID,
			clientSecret: cfg.ClientSecret,
			audience:     cfg.ExchangeAudience,
			client:       client,
			verifier:     cfg.Verifier,
			now:          now,
			negativeTTL:  neg,
			cache:        newTokenCache(size),
			negative:     newTokenCache(size),
			perAddr:      newAddrLimiter(exchangeRate(cfg.ExchangeRate), cmp.Or(cfg.ExchangeBurst, DefaultExchangeBurst), now),
			mac:          mac,
			metrics:      m,
			log:          log,
		}
	}
	return p, nil
}

func newProxy(d *Decider, cfg Config) *Proxy {
	p := &Proxy{Decider: d}
	log := d.log
	upstream := *cfg.Upstream
	transport := cfg.Transport
	if transport == nil {
		transport = http.DefaultTransport
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:      p.rewrite(&upstream),
		Transport:    transport,
		ErrorHandler: p.upstreamError,
		// The response carries the gateway's X-Request-Id (the same id,
		// forwarded), not a second copy from the upstream.
		ModifyResponse: func(res *http.Response) error {
			res.Header.Del(reqmeta.Header)
			return nil
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	p.handler = cfg.TrustedProxies.Middleware(http.HandlerFunc(p.serve))
	return p
}

// exchangeRate applies the default to an unset rate; a negative one means
// unlimited.
func exchangeRate(r float64) float64 {
	switch {
	case r == 0:
		return DefaultExchangeRate
	case r < 0:
		return 0
	}
	return r
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

// forward is the per-request state the rewrite and error hooks need.
type forward struct {
	token          string
	upstreamFailed bool
}

type forwardKey struct{}

// Credential kinds, the credential label of authz_gateway_requests_total.
const (
	credToken     = "token"
	credLegacyKey = "legacy_key"
	credNone      = "none"
)

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	dec := p.Decide(r.Context(), Input{Header: r.Header, Path: r.URL.Path})
	if !dec.Allowed() {
		dec.ref.write(w, p.realm)
		p.Record(ModeProxy, r.URL.Path, dec, "", time.Since(start))
		return
	}
	f := &forward{token: dec.Token}
	ctx := context.WithValue(WithClaims(r.Context(), dec.Claims), forwardKey{}, f)
	p.rp.ServeHTTP(w, r.WithContext(ctx))
	result := "forwarded"
	if f.upstreamFailed {
		result = "upstream_error"
	}
	p.Record(ModeProxy, r.URL.Path, dec, result, time.Since(start))
}

func hasBearer(h http.Header) bool {
	for _, v := range h.Values("Authorization") {
		scheme, _, _ := strings.Cut(strings.TrimSpace(v), " ")
		if strings.EqualFold(scheme, "Bearer") {
			return true
		}
	}
	return false
}

// rewrite prepares the upstream request: the upstream URL, fresh
// X-Forwarded-* headers, the token as the only credential, the request id.
func (p *Proxy) rewrite(upstream *url.URL) func(*httputil.ProxyRequest) {
	return func(pr *httputil.ProxyRequest) {
		pr.SetURL(upstream)
		pr.SetXForwarded()
		h := pr.Out.Header
		if p.keyHeader != "" {
			h.Del(p.keyHeader)
		}
		f, _ := pr.In.Context().Value(forwardKey{}).(*forward)
		if f == nil || f.token == "" {
			h.Del("Authorization") // unreachable: serve only forwards authenticated requests
		} else {
			h.Set("Authorization", "Bearer "+f.token)
		}
		if id := reqmeta.From(pr.In.Context()).RequestID; id != "" {
			h.Set(reqmeta.Header, id)
		}
	}
}

func (p *Proxy) upstreamError(w http.ResponseWriter, r *http.Request, err error) {
	if f, ok := r.Context().Value(forwardKey{}).(*forward); ok {
		f.upstreamFailed = true
	}
	if errors.Is(err, context.Canceled) {
		// The caller went away; nobody reads the answer.
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	p.log.WarnContext(r.Context(), "upstream request failed", "err", err)
	ref := &refusal{status: http.StatusBadGateway,
		body: errcode.Body{Error: "temporarily_unavailable", Code: errcode.Unavailable, Description: "The upstream service could not be reached; retry shortly."}}
	ref.write(w, p.realm)
}

func outcome(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "unauthorized"
	case http.StatusForbidden:
		return "forbidden"
	case http.StatusBadRequest:
		return "bad_request"
	case http.StatusTooManyRequests:
		return "rate_limited"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	return "error"
}

// validHeaderName is the RFC 9110 token syntax.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// routeLabels maps request paths to a bounded set of metric labels.
type routeLabels struct {
	prefixes []string // configured, longest first

	mu      sync.RWMutex
	learned map[string]bool
}

func newRouteLabels(prefixes []string) *routeLabels {
	ps := slices.Clone(prefixes)
	slices.SortFunc(ps, func(a, b string) int { return len(b) - len(a) })
	return &routeLabels{prefixes: ps, learned: map[string]bool{}}
}

// label returns the route label of path. Without configured prefixes it is
// the first path segment, which only admitted (forwarded) requests may add
// to the label set: unauthenticated callers cannot inflate the metrics'
// cardinality with random paths.
func (rl *routeLabels) label(path string, admit bool) string {
	if len(rl.prefixes) > 0 {
		for _, p := range rl.prefixes {
			if path == p || strings.HasPrefix(path, p) && (strings.HasSuffix(p, "/") || path[len(p)] == '/') {
				return p
			}
		}
		return "other"
	}
	seg, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if seg == "" {
		return "/"
	}
	if len(seg) > 64 || !validSegment(seg) {
		return "other"
	}
	label := "/" + seg
	rl.mu.RLock()
	known := rl.learned[label]
	full := len(rl.learned) >= maxLearnedRoutes
	rl.mu.RUnlock()
	if known {
		return label
	}
	if !admit || full {
		return "other"
	}
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if len(rl.learned) >= maxLearnedRoutes {
		return "other"
	}
	rl.learned[label] = true
	return label
}

func validSegment(s string) bool {
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0) {
			return false
		}
	}
	return true
}
