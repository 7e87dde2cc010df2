package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/authz/authz/gcpolicy"
	"github.com/authz/authz/server"
)

func newServeCmd() *cobra.Command {
	cfg := server.Defaults()
	var logLevel, logFormat string
	var gcHeadroomMiB int
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the authorization server",
		Long: `Run the authorization server: the token endpoint, discovery and JWKS on --addr,
the admin API on --admin-addr, Prometheus /metrics on --metrics-addr, the web
console on --console-addr.

With no --database it keeps everything in an embedded SQLite file (authz.db)
and, without AUTHZ_MASTER_KEY, a generated master key in authz.db.master-key
beside it: good for trying authz, not for production. The first start creates
a signing key and a bootstrap admin client (permission authz:admin), printed
once unless AUTHZ_BOOTSTRAP_CLIENT_ID and AUTHZ_BOOTSTRAP_CLIENT_SECRET are set.

Production checklist: set AUTHZ_MASTER_KEY (openssl rand -hex 32) and keep it
apart from the database; use PostgreSQL; terminate TLS in front and set
--issuer to the public https URL; never expose --admin-addr; keep the
rotation period (default 30 days) and watch authz_signing_key_age_seconds.`,
		Example: `  authz serve
  AUTHZ_MASTER_KEY=$(cat /run/secrets/authz-master-key) \
    authz serve --database postgres://authz@db:5432/authz --issuer https://authz.example.com --addr 0.0.0.0:8080`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel, logFormat)
			if err != nil {
				return err
			}
			cfg.Out = cmd.OutOrStdout()
			// A goroutine blocked in a syscall (SQLite's commit fsync) gives
			// up its P only when the runtime's monitor notices, which can
			// take milliseconds. With a single P — one core, or taskset —
			// every request then stalls behind each audit commit and the
			// group commit never groups (measured: 1.1 events per commit
			// with one P, 12 with two, on one core). A second P keeps
			// requests flowing while a commit waits for the disk.
			if runtime.GOMAXPROCS(0) < 2 {
				runtime.GOMAXPROCS(2)
			}
			ctx := cmd.Context()
			// Every listener is bound before anything is created, so a busy
			// port fails the start at once and leaves nothing behind.
			var ls server.Listeners
			closeAll := func() {
				for _, l := range []net.Listener{ls.Public, ls.Admin, ls.Metrics, ls.Console} {
					if l != nil {
						l.Close()
					}
				}
			}
			for _, b := range []struct {
				flag, addr string
				into       *net.Listener
				optional   bool // "" turns it off
			}{
				{"--addr", cfg.Addr, &ls.Public, false},
				{"--admin-addr", cfg.AdminAddr, &ls.Admin, false},
				{"--metrics-addr", cfg.MetricsAddr, &ls.Metrics, true},
				{"--console-addr", cfg.ConsoleAddr, &ls.Console, true},
			} {
				if b.optional && b.addr == "" {
					continue
				}
				l, err := net.Listen("tcp", b.addr)
				if err != nil {
					closeAll()
					hint := ""
					if b.optional {
						hint = fmt.Sprintf(" (give %s \"\" to run without it)", b.flag)
					}
					return fmt.Errorf("listen on %s %s: %w%s", b.flag, b.addr, err, hint)
				}
				*b.into = l
			}
			srv, err := server.New(ctx, cfg, log)
			if err != nil {
				closeAll()
				return err
			}
			if gcHeadroomMiB > 0 && !gcpolicy.OperatorSet(os.Getenv) {
				// Process-wide, so here and not in server.New: tests run
				// many servers in one process.
				go gcpolicy.New(gcpolicy.Config{MinHeadroom: uint64(gcHeadroomMiB) << 20, Logger: log}).Run(ctx)
			}
			return srv.Serve(ctx, ls)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Addr, "addr", cfg.Addr, "public listener: token endpoint, discovery, JWKS, status lists, /healthz, /readyz")
	f.StringVar(&cfg.AdminAddr, "admin-addr", cfg.AdminAddr, "admin API listener; never expose it publicly")
	f.StringVar(&cfg.MetricsAddr, "metrics-addr", cfg.MetricsAddr, "Prometheus /metrics listener (empty: off); keep it private, metrics name tenants")
	f.IntVar(&gcHeadroomMiB, "gc-min-headroom-mib", 8, "least heap growth, in MiB, between garbage collections (GOGC raised while the live heap is small; 0: Go's default pacing; GOGC or GOMEMLIMIT in the environment override it)")
	f.BoolVar(&cfg.Profile, "pprof", false, "also serve Go's runtime profiles (/debug/pprof/) on --metrics-addr, for measuring; off in production")
	f.StringVar(&cfg.ConsoleAddr, "console-addr", cfg.ConsoleAddr, "web console listener (\"\" = no console); sign in with: authz console link --principal prn_...")
	f.StringVar(&cfg.ConsoleURL, "console-url", "", "the console's URL as browsers reach it, in sign-in links; https makes its cookies Secure (default http://<console-addr>)")
	f.StringVar(&cfg.ConsoleOIDCIssuer, "console-oidc-issuer", "", "sign in to the console through this OpenID Connect provider (issuer URL; redirect URI <console-url>/oidc/callback)")
	f.StringVar(&cfg.ConsoleOIDCClientID, "console-oidc-client-id", "", "the console's client id at that provider")
	f.StringVar(&cfg.ConsoleOIDCClientSecret, "console-oidc-client-secret", "", "its client secret; prefer the environment variable")
	f.StringVar(&cfg.ConsoleOIDCClaim, "console-oidc-claim", "", "ID token claim matched against principals' external_id (default sub)")
	f.StringVar(&cfg.Issuer, "issuer", "", "public base URL and iss of every token (default http://<addr>)")
	f.StringVar(&cfg.Database, "database", cfg.Database, "sqlite:PATH or postgres://USER@HOST:PORT/DB; several hosts (postgres://USER@H1:PORT,H2:PORT/DB) find the primary after a failover")
	f.StringVar(&cfg.DatabasePooler, "database-pooler", "", "what --database goes through: none, session, or transaction (PgBouncer pool_mode=transaction: no session state, no LISTEN on it)")
	f.StringVar(&cfg.DatabaseListenURL, "database-listen-url", "", "direct postgres:// URL (bypassing the pooler) for change notifications and migrations; implies --database-pooler transaction; without one behind a pooler, replicas poll (docs/scaling.md)")
	f.StringVar(&cfg.MasterKey, "master-key", "", "32-byte key (64 hex chars) sealing signing keys and peppering hashes; prefer the environment variable")
	f.StringVar(&cfg.SigningAlg, "signing-alg", cfg.SigningAlg, "access-token signature algorithm: ES256, EdDSA or RS256")
	f.DurationVar(&cfg.TokenLifetime, "token-lifetime", cfg.TokenLifetime, "default access-token lifetime")
	f.DurationVar(&cfg.MaxTokenLifetime, "max-token-lifetime", cfg.MaxTokenLifetime, "longest lifetime a client may be configured with")
	f.DurationVar(&cfg.RotationPeriod, "rotation-period", cfg.RotationPeriod, "automatic signing-key rotation period (negative disables)")
	f.DurationVar(&cfg.JWKSMaxAge, "jwks-max-age", cfg.JWKSMaxAge, "JWKS Cache-Control max-age; a new key is published at least this long before it signs")
	f.DurationVar(&cfg.StatusListTTL, "status-list-ttl", cfg.StatusListTTL, "Token Status List ttl and max-age: how late gateways learn of a suspension or revocation")
	f.DurationVar(&cfg.StatusListValidity, "status-list-validity", cfg.StatusListValidity, "how long a signed status list stays valid for a gateway that cannot reach authz (at least 2× the ttl)")
	f.StringVar(&cfg.BootstrapClientID, "bootstrap-client-id", "", "client_id of the bootstrap admin client (first start)")
	f.StringVar(&cfg.BootstrapClientSecret, "bootstrap-client-secret", "", "its secret, at least 32 characters; prefer the environment variable")
	f.StringVar(&cfg.WebhookURL, "webhook-url", "", "URL receiving key.expiring, key.expired, key.revoked and principal.suspended notices")
	f.StringVar(&cfg.WebhookSecret, "webhook-secret", "", "HMAC secret for webhook signatures (default: derived from the master key)")
	f.DurationVar(&cfg.WebhookPollInterval, "webhook-poll-interval", cfg.WebhookPollInterval, "how often the webhook outbox is checked for due deliveries")
	f.DurationVar(&cfg.ExpiryNotice, "expiry-notice", cfg.ExpiryNotice, "how long before a legacy key expires its key.expiring notice is sent")
	f.Float64Var(&cfg.RateLimitAddr, "rate-limit-addr", cfg.RateLimitAddr, "token requests per second per client address (0: unlimited)")
	f.Float64Var(&cfg.RateLimitClient, "rate-limit-client", cfg.RateLimitClient, "token requests per second per client id (0: unlimited)")
	f.Float64Var(&cfg.RateLimitKey, "rate-limit-key", cfg.RateLimitKey, "exchanges per second per legacy key (0: unlimited)")
	f.IntVar(&cfg.RateLimitBurst, "rate-limit-burst", cfg.RateLimitBurst, "burst allowed above each rate limit")
	f.IntVar(&cfg.LockoutThreshold, "lockout-threshold", cfg.LockoutThreshold, "failed authentications of one client or key from one address within --lockout-window that lock that address out of it (0: never)")
	f.DurationVar(&cfg.LockoutWindow, "lockout-window", cfg.LockoutWindow, "window for counting failed authentications")
	f.DurationVar(&cfg.LockoutDuration, "lockout-duration", cfg.LockoutDuration, "how long a source locked out of a client or key is refused")
	// Lockouts per credential and source, shared by replicas (docs/security.md).
	f.IntVar(&cfg.LockoutPrefixThreshold, "lockout-prefix-threshold", cfg.LockoutPrefixThreshold, "failed authentications of one client or key from one IPv4 /24 or IPv6 /64 that lock the prefix out of it (0: 3× --lockout-threshold)")
	f.IntVar(&cfg.LockoutAlertThreshold, "lockout-alert-threshold", cfg.LockoutAlertThreshold, "failed authentications of one client or key from all sources within --lockout-window that raise the guessing alert (0: 10× --lockout-threshold)")
	f.BoolVar(&cfg.LockoutWeakKeys, "lockout-weak-keys", cfg.LockoutWeakKeys, "at the alert threshold also lock imported legacy keys for every source (guessing resistance over availability)")
	f.StringSliceVar(&cfg.TrustedProxies, "trusted-proxy", nil, "CIDR of a proxy whose X-Forwarded-For names the client address (repeatable; list the gateways too); from any other peer the header is ignored")
	f.DurationVar(&cfg.AuditRetention, "audit-retention", 0, "export and prune audit events older than this (e.g. 2160h for 90 days) into --audit-retention-dir, one replica at a time (0: off, keep every event)")
	f.StringVar(&cfg.AuditRetentionDir, "audit-retention-dir", "", "directory receiving the verified audit segments (audit-<first>-<last>.jsonl) before their events are pruned")
	f.DurationVar(&cfg.AuditRetentionEvery, "audit-retention-every", time.Hour, "how often the audit retention runs")
	f.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", cfg.ShutdownTimeout, "how long in-flight requests may take to finish on SIGTERM")
	f.BoolVar(&cfg.DisableAlerts, "disable-alerts", false, "turn off the built-in detectors (alert.refusal_spike, alert.new_network, alert.admin_burst)")
	f.StringVar(&cfg.AlertNewNetworkAction, "alert-new-network-action", "notify", "what alert.new_network does besides notifying: notify, or suspend-credential (suspend the client, revoke the key)")
	f.IntVar(&cfg.AlertRefusalMin, "alert-refusal-min", 50, "alert.refusal_spike: fewest refusals of one key, client or tenant in a window that can alert")
	f.DurationVar(&cfg.AlertRefusalWindow, "alert-refusal-window", 5*time.Minute, "alert.refusal_spike: the counting window")
	f.IntVar(&cfg.AlertBurstPrincipals, "alert-burst-principals", 10, "alert.admin_burst: suspensions or deletions by one actor within 10 minutes above which it alerts")
	f.StringSliceVar(&cfg.OutboundAllowCIDRs, "outbound-allow-cidr", nil, "network that outbound requests (clients' jwks_uri, webhooks) may reach although private, loopback or link-local; repeat or comma-separate (e.g. 10.20.0.0/16)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&logFormat, "log-format", "text", "text or json")
	return cmd
}

func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}
