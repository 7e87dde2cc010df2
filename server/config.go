package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/authz/authz/jwks"
)

// Config is everything `authz serve` can be told. Zero values take the
// defaults of Defaults().
type Config struct {
	// Addr is the public listener: token endpoint, discovery, JWKS,
	// health and metrics.
	Addr string
	// AdminAddr is the admin API's own listener; keep it off the internet.
	AdminAddr string
	// ConsoleAddr is the web console's listener ("" = no console);
	// ConsoleURL is the console's URL as browsers reach it (default
	// http://<ConsoleAddr>), used in sign-in links; https makes its
	// cookies Secure.
	ConsoleAddr string
	ConsoleURL  string
	// Issuer is the public base URL, the iss of every token. Default:
	// http://<Addr>.
	Issuer string
	// Database is sqlite:PATH (embedded default) or postgres://...
	Database string
	// MasterKey is AUTHZ_MASTER_KEY (64 hex or base64 of 32 bytes). Empty
	// with SQLite: a key file beside the database is created and used;
	// empty with PostgreSQL: refused, since replicas must share it.
	MasterKey string

	// StatusListTTL is the status list's ttl and max-age: how late a
	// gateway learns that a token's credential was suspended or revoked.
	StatusListTTL time.Duration
	// StatusListValidity is how long a signed list stays valid (exp - iat):
	// how long a gateway cut off from authz keeps using its last list.
	StatusListValidity time.Duration

	SigningAlg       string
	TokenLifetime    time.Duration
	MaxTokenLifetime time.Duration
	RotationPeriod   time.Duration
	JWKSMaxAge       time.Duration

	BootstrapClientID     string
	BootstrapClientSecret string

	WebhookURL    string
	WebhookSecret string
	// WebhookPollInterval is how often the outbox is checked (default 5 s).
	WebhookPollInterval time.Duration
	ExpiryNotice        time.Duration

	// Rate limits per second (0 disables that limit) and burst.
	RateLimitAddr   float64
	RateLimitClient float64
	RateLimitKey    float64
	RateLimitBurst  int
	// LockoutThreshold failed authentications of one client id or key id
	// within LockoutWindow lock it for LockoutDuration (0 disables).
	LockoutThreshold int
	LockoutWindow    time.Duration
	LockoutDuration  time.Duration

	ShutdownTimeout time.Duration

	// Out receives the one-time bootstrap credentials (default: stdout).
	Out io.Writer
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// Defaults returns the configuration of a fresh `authz serve`.
func Defaults() Config {
	return Config{
		Addr:                "127.0.0.1:8080",
		AdminAddr:           "127.0.0.1:8081",
		ConsoleAddr:         "127.0.0.1:8082",
		Database:            "sqlite:authz.db",
		SigningAlg:          jwks.ES256,
		TokenLifetime:       5 * time.Minute,
		MaxTokenLifetime:    time.Hour,
		RotationPeriod:      30 * 24 * time.Hour,
		JWKSMaxAge:          5 * time.Minute,
		ExpiryNotice:        14 * 24 * time.Hour,
		WebhookPollInterval: 5 * time.Second,
		RateLimitAddr:       200,
		RateLimitClient:     100,
		RateLimitKey:        20,
		RateLimitBurst:      100,
		LockoutThreshold:    10,
		LockoutWindow:       5 * time.Minute,
		LockoutDuration:     5 * time.Minute,
		ShutdownTimeout:     20 * time.Second,
	}
}

// validate checks the configuration and reports every problem at once.
func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("--addr %q: want HOST:PORT, for example 127.0.0.1:8080", c.Addr)
	}
	if _, _, err := net.SplitHostPort(c.AdminAddr); err != nil {
		bad("--admin-addr %q: want HOST:PORT, for example 127.0.0.1:8081", c.AdminAddr)
	}
	if c.Addr == c.AdminAddr {
		bad("--admin-addr must differ from --addr: the admin API has its own listener")
	}
	if c.ConsoleAddr != "" {
		if _, _, err := net.SplitHostPort(c.ConsoleAddr); err != nil {
			bad("--console-addr %q: want HOST:PORT, for example 127.0.0.1:8082, or empty for no console", c.ConsoleAddr)
		}
		if c.ConsoleAddr == c.Addr || c.ConsoleAddr == c.AdminAddr {
			bad("--console-addr must differ from --addr and --admin-addr: the console has its own listener")
		}
		if c.ConsoleURL == "" {
			c.ConsoleURL = "http://" + c.ConsoleAddr
		}
		if u, err := url.Parse(c.ConsoleURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("--console-url %q: want an absolute http(s) URL, for example https://console.authz.example.com", c.ConsoleURL)
		}
	}
	if c.Issuer == "" {
		c.Issuer = "http://" + c.Addr
	}
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		bad("--issuer %q: want an absolute http(s) URL without query or fragment, for example https://authz.example.com", c.Issuer)
	}
	c.Issuer = strings.TrimRight(c.Issuer, "/")
	switch c.SigningAlg {
	case jwks.ES256, jwks.EdDSA, jwks.RS256:
	default:
		bad("--signing-alg %q: use ES256 (default), EdDSA or RS256", c.SigningAlg)
	}
	if c.TokenLifetime <= 0 || c.TokenLifetime > c.MaxTokenLifetime {
		bad("--token-lifetime %s: must be positive and at most --max-token-lifetime (%s)", c.TokenLifetime, c.MaxTokenLifetime)
	}
	if c.WebhookURL != "" {
		if u, err := url.Parse(c.WebhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("--webhook-url %q: want an absolute http(s) URL", c.WebhookURL)
		}
	}
	return errors.Join(errs...)
}

// sqlitePath returns the file of a sqlite database URL.
func sqlitePath(db string) (string, bool) {
	for _, p := range []string{"sqlite://", "sqlite:", "file:"} {
		if rest, ok := strings.CutPrefix(db, p); ok {
			path, _, _ := strings.Cut(rest, "?")
			return filepath.Clean(path), true
		}
	}
	return "", false
}
