package publisher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Paths of the public listener.
const (
	// PathList serves the Status List Token every access token refers to.
	PathList = "/statuslists/1"
	// PathAggregation serves the Status List Aggregation (the draft's
	// status_list_aggregation_endpoint): {"status_lists": [<list URI>]}.
	PathAggregation = "/statuslists"
)

// Keys signs Status List Tokens with the issuer's current signing key and
// verifies them against the published keys (jwks.Manager).
type Keys interface {
	Sign(ctx context.Context, claims any, typ string) (string, error)
	Verify(ctx context.Context, token, typ string) (claims []byte, kid string, err error)
}

// Defaults applied by New to zero Config fields.
const (
	DefaultTTL                = 30 * time.Second
	DefaultValidity           = 5 * time.Minute
	DefaultMaxTokenLifetime   = time.Hour
	DefaultPollInterval       = 500 * time.Millisecond
	DefaultMinRebuildInterval = time.Second
	DefaultClaimCacheMaxAge   = time.Minute
	DefaultMaxClaims          = 100_000
	DefaultPurgeInterval      = time.Minute
	DefaultPageSize           = 10_000
	DefaultFullScanInterval   = 10 * time.Minute
)

// clockSkew is the margin between replicas' clocks in every horizon.
const clockSkew = time.Minute

// Config tunes a Publisher. Zero values take the defaults above.
type Config struct {
	// Issuer is the iss of the Status List Token and the base of its URI
	// (Issuer + PathList), e.g. "https://authz.example.com".
	Issuer string
	// TTL is the token's ttl claim and its Cache-Control max-age: how long
	// a gateway may use a fetched list before fetching it again. It bounds
	// how late a gateway learns of a change. Whole seconds.
	TTL time.Duration
	// Validity is exp - iat of a signed list: how long a gateway that can
	// no longer reach authz may keep relying on its last list. At least
	// 2×TTL (a list is re-signed once half of it is used) and at most
	// MaxTokenLifetime, since the signing keys stay published only that
	// long after they retire (jwks.Config.MaxTokenLifetime).
	Validity time.Duration
	// MaxTokenLifetime is the longest lifetime of any access token, the
	// same value the jwks and oauth packages are given.
	MaxTokenLifetime time.Duration
	// PollInterval is how often Run compares store.Generation and
	// LocalChanges with the list it published.
	PollInterval time.Duration
	// MinRebuildInterval bounds how often a list is rebuilt, however many
	// changes arrive.
	MinRebuildInterval time.Duration
	// RescanInterval is how often the list is rebuilt even when Generation
	// did not move: token revocation, index allocation on other replicas
	// and key expiry change the list without moving it. Default TTL.
	RescanInterval time.Duration
	// ClaimCacheMaxAge bounds how long a credential's index is served from
	// memory without being read again; MaxClaims bounds how many are kept
	// (the cache is dropped whole beyond it).
	ClaimCacheMaxAge time.Duration
	MaxClaims        int
	// PurgeInterval is how often freed indices are returned to the store.
	PurgeInterval time.Duration
	// PageSize is how many entries one ListStatusEntries call returns.
	PageSize int
	// FullScanInterval is how often a build reads every entry rather than
	// only those that may not be VALID
	// (store.Queries.ListStatusExceptions). A full build ends the epochs
	// of credentials that died, which the others rely on; it also catches
	// what they cannot see: a row removed by hand, a status this code does
	// not write.
	FullScanInterval time.Duration

	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
}

func (cfg Config) withDefaults() (Config, error) {
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&cfg.TTL, DefaultTTL)
	def(&cfg.Validity, DefaultValidity)
	def(&cfg.MaxTokenLifetime, DefaultMaxTokenLifetime)
	def(&cfg.PollInterval, DefaultPollInterval)
	def(&cfg.MinRebuildInterval, DefaultMinRebuildInterval)
	def(&cfg.RescanInterval, cfg.TTL)
	def(&cfg.ClaimCacheMaxAge, DefaultClaimCacheMaxAge)
	def(&cfg.PurgeInterval, DefaultPurgeInterval)
	def(&cfg.FullScanInterval, DefaultFullScanInterval)
	if cfg.MaxClaims == 0 {
		cfg.MaxClaims = DefaultMaxClaims
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = DefaultPageSize
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var errs []error
	if u, err := url.Parse(cfg.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("issuer %q is not an absolute http(s) URL", cfg.Issuer))
	}
	for _, d := range []time.Duration{cfg.TTL, cfg.Validity, cfg.MaxTokenLifetime, cfg.PollInterval, cfg.MinRebuildInterval, cfg.RescanInterval, cfg.ClaimCacheMaxAge, cfg.PurgeInterval, cfg.FullScanInterval} {
		if d < 0 {
			errs = append(errs, errors.New("durations must not be negative"))
			break
		}
	}
	if cfg.MaxClaims < 0 || cfg.PageSize < 0 {
		errs = append(errs, errors.New("MaxClaims and PageSize must not be negative"))
	}
	if cfg.TTL%time.Second != 0 {
		errs = append(errs, fmt.Errorf("ttl %s is not a whole number of seconds", cfg.TTL))
	}
	if cfg.Validity < 2*cfg.TTL {
		errs = append(errs, fmt.Errorf("validity %s is shorter than twice the ttl %s: a cached list could outlive its exp", cfg.Validity, cfg.TTL))
	}
	if cfg.Validity > cfg.MaxTokenLifetime {
		errs = append(errs, fmt.Errorf("validity %s exceeds the maximum token lifetime %s: the key that signed a list could be unpublished before the list expires", cfg.Validity, cfg.MaxTokenLifetime))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("statuslist: %w", err)
	}
	return cfg, nil
}

// retireAfter is how long after its epoch ended an index stays INVALID.
// Until then a token carrying it may be unexpired: it was issued at most
// ClaimCacheMaxAge after the invalidation (a replica's cached index) and
// lives at most MaxTokenLifetime.
func (cfg Config) retireAfter() time.Duration {
	return cfg.MaxTokenLifetime + cfg.ClaimCacheMaxAge + clockSkew
}

// purgeAfter is how long after its epoch ended an index may be given to
// another credential: once retired it is published VALID, and every list
// signed while it was INVALID has expired (Validity) and left caches
// (TTL), so no gateway refuses the new credential's tokens with it.
func (cfg Config) purgeAfter() time.Duration {
	return cfg.retireAfter() + cfg.Validity + cfg.TTL + clockSkew
}

// resignAfter is how old a served list may get before a rebuild re-signs
// it even though nothing changed: half its validity, or sooner when a
// rescan (every RescanInterval, at most every MinRebuildInterval, noticed
// within a PollInterval) could otherwise come only after it expired.
func (c Config) resignAfter() time.Duration {
	margin := c.Validity - (c.RescanInterval + c.MinRebuildInterval + c.PollInterval)
	return max(0, min(c.Validity/2, margin))
}
