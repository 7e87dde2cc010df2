package jwks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authz/authz/store"
)

// Signing algorithms. ES256 is the default: every common gateway verifies
// it, and it signs about 30 times faster than RS256 (SPEC §3).
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
	RS256 = "RS256"
)

// Defaults applied by NewManager to zero Config fields.
const (
	DefaultRotationPeriod   = 30 * 24 * time.Hour
	DefaultCacheMaxAge      = 5 * time.Minute
	DefaultClockSkew        = time.Minute
	DefaultMaxTokenLifetime = time.Hour
	DefaultReloadInterval   = time.Second
)

// Config tunes a Manager. Zero values take the defaults above.
type Config struct {
	// Alg is the algorithm of newly created keys: ES256 (default), EdDSA or
	// RS256 (RSA 2048). Existing keys keep theirs; Init replaces a next key
	// of another algorithm, so a change takes effect at the next rotation.
	Alg string
	// RotationPeriod is how long a key signs before it is rotated
	// automatically. Negative disables automatic rotation.
	RotationPeriod time.Duration
	// CacheMaxAge is the JWKS Cache-Control max-age. A next key is
	// published at least CacheMaxAge+ClockSkew before it signs.
	CacheMaxAge time.Duration
	// ClockSkew is the margin added to every lifecycle window. It also
	// covers replicas that have not reloaded yet, so it must not be shorter
	// than ReloadInterval.
	ClockSkew time.Duration
	// MaxTokenLifetime is the longest lifetime of any JWT signed with these
	// keys (access tokens, status lists). A retired key stays published for
	// MaxTokenLifetime+CacheMaxAge+ClockSkew. Default one hour: set it to
	// the real maximum, never lower.
	MaxTokenLifetime time.Duration
	// ReloadInterval is how often Run compares the store's Generation with
	// the loaded keys when the store cannot push changes.
	ReloadInterval time.Duration
	// Audit records a lifecycle event in the transaction that makes the
	// change (audit.Append). Nil records nothing.
	Audit func(ctx context.Context, tx store.Tx, ev store.AuditEvent) error
	// Registerer receives the manager's metrics. Nil registers none.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives lifecycle and reload messages; nil discards them.
	Logger *slog.Logger
}

// withDefaults returns cfg completed and checked.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Alg == "" {
		cfg.Alg = ES256
	}
	if cfg.RotationPeriod == 0 {
		cfg.RotationPeriod = DefaultRotationPeriod
	}
	if cfg.CacheMaxAge == 0 {
		cfg.CacheMaxAge = DefaultCacheMaxAge
	}
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = DefaultClockSkew
	}
	if cfg.MaxTokenLifetime == 0 {
		cfg.MaxTokenLifetime = DefaultMaxTokenLifetime
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = DefaultReloadInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	var errs []error
	if !supportedAlg(cfg.Alg) {
		errs = append(errs, fmt.Errorf("signing algorithm %q is not supported; use ES256, EdDSA or RS256", cfg.Alg))
	}
	if cfg.CacheMaxAge < 0 || cfg.ClockSkew < 0 || cfg.MaxTokenLifetime < 0 || cfg.ReloadInterval < 0 {
		errs = append(errs, errors.New("cache max-age, clock skew, token lifetime and reload interval must not be negative"))
	}
	if cfg.CacheMaxAge%time.Second != 0 {
		errs = append(errs, fmt.Errorf("cache max-age %s is not a whole number of seconds", cfg.CacheMaxAge))
	}
	if cfg.ReloadInterval > cfg.ClockSkew {
		errs = append(errs, fmt.Errorf("reload interval %s exceeds clock skew %s: replicas could sign with a key, or drop one, later than the JWKS promises allow", cfg.ReloadInterval, cfg.ClockSkew))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("jwks: %w", err)
	}
	return cfg, nil
}

// publishAhead is how long a next key must have been published before it
// may sign: any JWKS cached before it appeared has expired by then.
func (cfg Config) publishAhead() time.Duration { return cfg.CacheMaxAge + cfg.ClockSkew }

// retention is how long a retired key stays published: the last token it
// signed has expired, and so has any JWKS cached before that.
func (cfg Config) retention() time.Duration {
	return cfg.MaxTokenLifetime + cfg.CacheMaxAge + cfg.ClockSkew
}

func supportedAlg(alg string) bool {
	switch alg {
	case ES256, EdDSA, RS256:
		return true
	}
	return false
}
