package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/authz/authz/jwks"
	"github.com/authz/authz/outbound"
	"github.com/authz/authz/reqmeta"
)

// Config is everything `authz serve` can be told. Zero values take the
// defaults of Defaults().
type Config struct {
	// Addr is the public listener: token endpoint, discovery, JWKS and
	// health. Never metrics (see MetricsAddr).
	Addr string
	// AdminAddr is the admin API's own listener; keep it off the internet.
	AdminAddr string
	// MetricsAddr serves Prometheus /metrics (and /healthz) on a listener
	// of its own, loopback by default: the metrics name tenants and count
	// their traffic, which the public listener must not tell anyone
	// (issue 18 §5). Empty disables it.
	MetricsAddr string
	// Profile adds Go's runtime profiles (net/http/pprof, /debug/pprof/)
	// to the metrics listener, for measuring where a server's CPU goes
	// under load. Off by default: a profile shows the process's code
	// paths and the listener is meant for a scraper.
	Profile bool
	// ConsoleAddr is the web console's listener ("" = no console);
	// ConsoleURL is the console's URL as browsers reach it (default
	// http://<ConsoleAddr>), used in sign-in links; https makes its
	// cookies Secure.
	ConsoleAddr string
	ConsoleURL  string
	// ConsoleOIDCIssuer, when set, adds sign-in to the console through
	// that OpenID Connect provider (authorization code with PKCE), as the
	// client ConsoleOIDCClientID / ConsoleOIDCClientSecret whose redirect
	// URI is <ConsoleURL>/oidc/callback. ConsoleOIDCClaim is the ID token
	// claim matched against principals' external_id (default "sub").
	// Requests to the provider go through package outbound
	// (--outbound-allow-cidr for a provider on a private network).
	ConsoleOIDCIssuer       string
	ConsoleOIDCClientID     string
	ConsoleOIDCClientSecret string
	ConsoleOIDCClaim        string
	// Issuer is the public base URL, the iss of every token. Default:
	// http://<Addr>.
	Issuer string
	// Database is sqlite:PATH (embedded default) or postgres://... (a
	// host list such as postgres://h1,h2/db finds the primary).
	Database string
	// DatabaseListenURL is a direct connection to PostgreSQL for change
	// notifications and migrations when Database goes through a
	// transaction pooler; DatabasePooler is "", none, session or
	// transaction (see store/backends.Options).
	DatabaseListenURL string
	DatabasePooler    string
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
	// Lockouts count per credential and source (see docs/security.md):
	// LockoutThreshold is per address; LockoutPrefixThreshold per IPv4 /24
	// or IPv6 /64 (0: 3×LockoutThreshold); LockoutAlertThreshold failures
	// of one credential from all sources raise the distributed-guessing
	// alert (0: 10×LockoutThreshold); LockoutWeakKeys then also locks the
	// imported legacy keys for everyone.
	LockoutPrefixThreshold int
	LockoutAlertThreshold  int
	LockoutWeakKeys        bool
	// LockoutSyncInterval is how often a replica reads the locks other
	// replicas set (default 1 s).
	LockoutSyncInterval time.Duration
	// TrustedProxies are the CIDRs whose X-Forwarded-For names the client
	// address (--trusted-proxy); from anyone else it is ignored.
	TrustedProxies []string

	ShutdownTimeout time.Duration

	// AuditRetention, when positive, has the server export the audit
	// events older than this into AuditRetentionDir and prune them from
	// the store, every AuditRetentionEvery (one replica at a time: a
	// store lease). Zero: off, the log grows.
	AuditRetention      time.Duration
	AuditRetentionDir   string
	AuditRetentionEvery time.Duration

	// Alerts (package alerts): the built-in detectors; DisableAlerts
	// turns them off. AlertNewNetworkAction is notify (default) or
	// suspend-credential.
	DisableAlerts         bool
	AlertNewNetworkAction string
	AlertRefusalMin       int
	AlertRefusalWindow    time.Duration
	AlertBurstPrincipals  int
	// OutboundAllowCIDRs are networks that outbound requests (clients'
	// jwks_uri, webhooks) may reach although they are private, loopback or
	// link-local (--outbound-allow-cidr; package outbound). Entries may be
	// comma-separated lists.
	OutboundAllowCIDRs []string
	// outboundAllow is OutboundAllowCIDRs parsed by validate.
	outboundAllow []netip.Prefix

	// Out receives the one-time bootstrap credentials (default: stdout).
	Out io.Writer
	// Now is the clock (default time.Now); tests move it.
	Now func() time.Time
}

// DefaultMetricsAddr is where /metrics is served unless told otherwise:
// loopback, port 9464 (the port OpenTelemetry's Prometheus exporter uses).
const DefaultMetricsAddr = "127.0.0.1:9464"

// Defaults returns the configuration of a fresh `authz serve`.
func Defaults() Config {
	return Config{
		Addr:                "127.0.0.1:8080",
		AdminAddr:           "127.0.0.1:8081",
		MetricsAddr:         DefaultMetricsAddr,
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
		LockoutSyncInterval: time.Second,
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
	switch {
	case c.AuditRetention < 0:
		bad("--audit-retention %s: want a positive duration such as 2160h (90 days), or 0 to keep every event", c.AuditRetention)
	case c.AuditRetention > 0 && c.AuditRetentionDir == "":
		bad("--audit-retention needs --audit-retention-dir: the directory that receives the exported segments before they are pruned")
	case c.AuditRetention == 0 && c.AuditRetentionDir != "":
		bad("--audit-retention-dir is set but --audit-retention is not: set how long events stay in the store")
	case c.AuditRetentionEvery < 0:
		bad("--audit-retention-every %s: want a positive duration", c.AuditRetentionEvery)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("--metrics-addr %q: want HOST:PORT, for example %s, or empty to disable", c.MetricsAddr, DefaultMetricsAddr)
		} else if c.MetricsAddr == c.Addr || c.MetricsAddr == c.AdminAddr {
			bad("--metrics-addr must differ from --addr and --admin-addr: metrics have their own listener")
		}
	}
	if c.ConsoleAddr != "" {
		if _, _, err := net.SplitHostPort(c.ConsoleAddr); err != nil {
			bad("--console-addr %q: want HOST:PORT, for example 127.0.0.1:8082, or empty for no console", c.ConsoleAddr)
		}
		if c.ConsoleAddr == c.Addr || c.ConsoleAddr == c.AdminAddr || c.ConsoleAddr == c.MetricsAddr {
			bad("--console-addr must differ from --addr, --admin-addr and --metrics-addr: the console has its own listener")
		}
		if c.ConsoleURL == "" {
			c.ConsoleURL = "http://" + c.ConsoleAddr
		}
		if u, err := url.Parse(c.ConsoleURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("--console-url %q: want an absolute http(s) URL, for example https://console.authz.example.com", c.ConsoleURL)
		}
	}
	if c.ConsoleOIDCIssuer != "" {
		if c.ConsoleAddr == "" {
			bad("--console-oidc-issuer needs the console (--console-addr)")
		}
		if u, err := url.Parse(c.ConsoleOIDCIssuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("--console-oidc-issuer %q: want the provider's issuer URL, for example https://login.example.com/realms/acme", c.ConsoleOIDCIssuer)
		}
		if c.ConsoleOIDCClientID == "" {
			bad("--console-oidc-issuer needs --console-oidc-client-id (the console's client at the provider)")
		}
	} else if c.ConsoleOIDCClientID != "" || c.ConsoleOIDCClientSecret != "" || c.ConsoleOIDCClaim != "" {
		bad("--console-oidc-client-id, --console-oidc-client-secret and --console-oidc-claim need --console-oidc-issuer")
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
	if _, err := reqmeta.ParseTrustedProxies(c.TrustedProxies); err != nil {
		errs = append(errs, err)
	}
	if c.WebhookURL != "" {
		if u, err := url.Parse(c.WebhookURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			bad("--webhook-url %q: want an absolute http(s) URL", c.WebhookURL)
		}
	}
	switch c.AlertNewNetworkAction {
	case "", "notify", "suspend-credential":
	default:
		bad("--alert-new-network-action %q: use notify or suspend-credential", c.AlertNewNetworkAction)
	}
	if p, err := outbound.ParseCIDRs(c.OutboundAllowCIDRs); err != nil {
		bad("--outbound-allow-cidr: %v", err)
	} else {
		c.outboundAllow = p
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
