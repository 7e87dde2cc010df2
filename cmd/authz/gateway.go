package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/authz/authz/gateway"
	"github.com/authz/authz/gateway/extauthz"
	"github.com/authz/authz/jwks/verifier"
	"github.com/authz/authz/reqmeta"
)

// addGatewayCommands adds `authz verify` and `authz gateway`: the
// gateway side, which talks to authz over HTTP only.
func addGatewayCommands(root *cobra.Command) {
	root.AddCommand(newVerifyCmd(), newGatewayCmd())
}

func newVerifyCmd() *cobra.Command {
	var (
		issuer, jwksURL, output string
		audiences               []string
		noStatus                bool
		tenantFlags             tenantChoice
	)
	cmd := &cobra.Command{
		Use:   "verify TOKEN",
		Short: "Verify an access token offline against the issuer's JWKS",
		Long: `Verify an access token the way a gateway does: signature against the issuer's
published keys, typ at+jwt, iss, aud, exp/nbf/iat, and the token's status in
the Token Status List its status claim names (fetched from the issuer; a
SUSPENDED or INVALID token is invalid; --no-status skips it). Prints the
verdict (valid, or the reason it is not), the status, the header, the claims
and the time to expiry, and exits 1 when the token is invalid.

Give TOKEN as - to read it from standard input (keeps it out of the process
list and the shell history). With --jwks and no --issuer, iss is not checked.

--tenant T (or --any-tenant) is required: one issuer serves every tenant, so a
token is valid for a resource only if it is of the resource's tenant.`,
		Example: `  authz verify "$TOKEN" --issuer https://authz.example.com --tenant ten_abc
  authz token | authz verify - --issuer http://127.0.0.1:8080 --tenant ten_abc --audience https://orders.example -o json
  authz verify "$TOKEN" --jwks http://127.0.0.1:8080/.well-known/jwks.json --any-tenant`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("-o %q: use table or json", output)
			}
			if issuer == "" && jwksURL == "" {
				return errors.New("give --issuer (discovers the JWKS and checks iss) or --jwks")
			}
			tenants, err := tenantFlags.resolve()
			if err != nil {
				return err
			}
			token := args[0]
			if token == "-" {
				line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 1<<20)).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("read token from stdin: %w", err)
				}
				token = line
			}
			token = strings.TrimSpace(token)
			token = strings.TrimSpace(strings.TrimPrefix(token, "Bearer "))

			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			v, err := verifier.New(ctx, verifier.Config{
				Issuer:                  issuer,
				JWKSURL:                 jwksURL,
				InsecureSkipIssuerCheck: issuer == "",
				Audience:                audiences,
				StatusLists:             verifier.StatusListConfig{Disabled: noStatus},
			})
			if err != nil {
				return err
			}
			defer v.Close()
			claims, verr := v.Verify(ctx, token)
			if verr == nil {
				verr = verifier.Require{Tenants: tenants}.Check(claims)
			}
			rep := newVerifyReport(token, claims, verr, issuer == "", time.Now())
			if noStatus && rep.Status == statusValid {
				rep.Status = statusUnchecked
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				enc.SetEscapeHTML(false)
				if err := enc.Encode(rep); err != nil {
					return err
				}
			} else {
				rep.print(cmd.OutOrStdout())
			}
			if verr != nil {
				return fmt.Errorf("token invalid: %s", rep.Reason)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&issuer, "issuer", "", "issuer URL: discovers jwks_uri and requires this iss")
	f.StringVar(&jwksURL, "jwks", "", "JWKS URL, instead of discovery")
	f.StringSliceVar(&audiences, "audience", nil, "require one of these audiences in aud (repeatable)")
	f.BoolVar(&noStatus, "no-status", false, "do not fetch the token's status list (signature and claims only)")
	tenantFlags.addFlags(f)
	f.StringVarP(&output, "output", "o", "table", "output format: table or json")
	return cmd
}

// verifyReport is what `authz verify` prints; with -o json, as is.
type verifyReport struct {
	Valid bool `json:"valid"`
	// Reason and Description say why an invalid token is invalid.
	Reason      string         `json:"reason,omitempty"`
	Description string         `json:"description,omitempty"`
	Header      map[string]any `json:"header,omitempty"`
	Claims      map[string]any `json:"claims,omitempty"`
	// ClaimsVerified is false when the claims shown are decoded from a
	// token that did not verify: they are what it says, not facts.
	ClaimsVerified bool `json:"claims_verified"`
	IssuerChecked  bool `json:"issuer_checked"`
	// Status is the token's entry in the Token Status List its status
	// claim names (VALID, SUSPENDED, INVALID, or another value),
	// "unchecked" with --no-status; empty when the token names no list
	// or was refused before its status was read.
	Status    string    `json:"status,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// ExpiresIn is the time left in seconds, negative once expired.
	ExpiresIn *int64 `json:"expires_in,omitempty"`
}

// Values of verifyReport.Status besides the list's own.
const (
	statusValid     = "VALID"
	statusUnchecked = "unchecked"
)

func newVerifyReport(token string, c *verifier.Claims, err error, skippedIssuer bool, now time.Time) verifyReport {
	rep := verifyReport{Valid: err == nil, IssuerChecked: !skippedIssuer}
	if err != nil {
		var e *verifier.Error
		if errors.As(err, &e) {
			rep.Reason, rep.Description = string(e.Reason), e.Description()
		} else {
			rep.Reason, rep.Description = "error", err.Error()
		}
		var se *verifier.StatusError
		if errors.As(err, &se) {
			rep.Status = se.Status.String()
		}
	} else if c.Status != nil {
		rep.Status = statusValid
	}
	// Display only: the segments are decoded without trusting them.
	parts := strings.Split(token, ".")
	if len(parts) == 3 {
		rep.Header = decodeSegment(parts[0])
		rep.Claims = decodeSegment(parts[1])
	}
	if c != nil {
		rep.ClaimsVerified = true
		rep.ExpiresAt = c.ExpiresAt
	} else if exp, ok := rep.Claims["exp"].(float64); ok {
		rep.ExpiresAt = time.Unix(int64(exp), 0).UTC()
	}
	if !rep.ExpiresAt.IsZero() {
		left := int64(rep.ExpiresAt.Sub(now).Seconds())
		rep.ExpiresIn = &left
	}
	return rep
}

func decodeSegment(s string) map[string]any {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}

func (r verifyReport) print(w io.Writer) {
	if r.Valid {
		fmt.Fprintln(w, "verdict:  valid")
	} else {
		fmt.Fprintf(w, "verdict:  invalid: %s (%s)\n", r.Reason, r.Description)
	}
	if !r.IssuerChecked {
		fmt.Fprintln(w, "note:     iss not checked (no --issuer)")
	}
	if r.Status != "" {
		fmt.Fprintln(w, "status:  ", r.Status)
	}
	pretty := func(v map[string]any) string {
		if v == nil {
			return "(not decodable)"
		}
		b, _ := json.MarshalIndent(v, "          ", "  ")
		return string(b)
	}
	fmt.Fprintln(w, "header:  ", pretty(r.Header))
	label := "claims:  "
	if !r.ClaimsVerified {
		label = "claims (unverified):\n         "
	}
	fmt.Fprintln(w, label, pretty(r.Claims))
	if r.ExpiresIn != nil {
		left := time.Duration(*r.ExpiresIn) * time.Second
		if left >= 0 {
			fmt.Fprintf(w, "expires:  %s (in %s)\n", r.ExpiresAt.Format(time.RFC3339), left)
		} else {
			fmt.Fprintf(w, "expires:  %s (expired %s ago)\n", r.ExpiresAt.Format(time.RFC3339), -left)
		}
	}
}

// gatewayFlags are the settings of `authz gateway`.
type gatewayFlags struct {
	listen, upstream, issuer, jwks, tokenEndpoint, metricsAddr string
	audiences, scopes, roles, routes                           []string
	keyHeader, clientID, clientSecret, realm                   string
	cacheSize                                                  int
	statusLists                                                bool
	negativeTTL, leeway, minRefresh, statusMaxStale            time.Duration
	readHeaderTimeout, readTimeout, writeTimeout, idleTimeout  time.Duration
	upstreamTimeout, shutdownTimeout                           time.Duration
	logLevel, logFormat                                        string
	// Bridge flood protection and the caller's address (docs/security.md).
	trustedProxies []string
	exchangeRate   float64
	exchangeBurst  int

	// tenantFlags is --tenant / --any-tenant; newGatewayApp resolves it
	// into tenants (none only with --any-tenant).
	tenantFlags tenantChoice
	tenants     []string

	// mode is proxy (forward to --upstream) or decision (answer front
	// proxies' auth subrequests; issue 21, docs/gateways.md).
	mode string
	// grpcListen serves Envoy's ext_authz over gRPC on the same decider.
	grpcListen string
}

func newGatewayCmd() *cobra.Command {
	var g gatewayFlags
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run a reverse proxy that verifies access tokens (and can bridge legacy API keys)",
		Long: `Run a reverse proxy that forwards to --upstream only requests carrying a valid
access token of --issuer (RFC 6750: 401 invalid_token, 403 insufficient_scope).

Migration bridge: with --legacy-key-header (for example X-API-Key), a request
that carries a legacy key instead of a token has the key exchanged at the
issuer's token endpoint (RFC 8693), the gateway authenticating as its own
client (AUTHZ_CLIENT_ID / AUTHZ_CLIENT_SECRET; tokens then carry act). The
upstream receives Authorization: Bearer with the token, never the key. A
refused key gets 401 with the exact error_code (key_revoked, owner_suspended...).
That client must be allowed the token-exchange grant; the gateway checks it
at start (one test exchange of a malformed key) and refuses to start if not:
  authz client create --tenant T --owner P --grant-type urn:ietf:params:oauth:grant-type:token-exchange
authz_gateway_requests_total counts requests by route and credential kind
(token, legacy_key, none), so you see who still has to move.

Token Status List: a token whose status claim names a list of the issuer is
refused (401 invalid_token, "The token status is suspended...") unless its
entry is VALID, so a suspended owner, tenant or client, a revoked key or an
RFC 7009-revoked token stops passing within the list's ttl, although the
token's signature and exp are still fine. Lists are fetched from the issuer's
origin only, verified against its JWKS, cached for their ttl and refreshed in
the background; while authz is unreachable the cached list keeps deciding for
--status-max-stale (never past its exp), then requests get 503: a status that
cannot be known never passes. A bridged key whose cached token is refused is
exchanged again, and the caller gets the exact cause (owner_suspended...).

Tenant: one issuer serves every tenant, so --tenant T (the tenant that owns the
upstream API; repeat it for the tenants its audience is shared with) or an
explicit --any-tenant is required; tokens of other tenants are refused (403
insufficient_scope, "tenant") even when they name --audience and carry
--require-scope. --require-tenant is the old name of --tenant.

/healthz and /metrics are served on --metrics-addr only, never proxied.

--mode decision: no --upstream; instead the gateway answers, on every path of
--listen, the "may this request pass?" of the proxy a company already runs:
NGINX auth_request (X-Original-Method / X-Original-URI), Traefik and Caddy
forward_auth (X-Forwarded-Method / -Uri / -Host) and Envoy HTTP ext_authz (the
original method, path and headers). 200 carries X-Authz-Subject, -Tenant,
-Client-Id, -Scope, -Credential and Authorization: Bearer <token> (for a bridged
key, the exchanged token: copy it upstream and drop the key header); a refusal
is the proxy mode's (401 + WWW-Authenticate + JSON with error_code, 403
insufficient_scope), with X-Authz-Error-Code and X-Authz-Error (the JSON) for
NGINX. Per-location requirements: X-Authz-Require-Scope, -Role, -Tenant,
-Audience, which add to the flags' requirements. With --trusted-proxy, only
those peers may ask (403 otherwise). Malformed or conflicting forwarded headers
get 400; nothing passes that cannot be described. --grpc-listen serves Envoy's
ext_authz over gRPC (in either mode) with the same decisions. See
docs/gateways.md.`,
		Example: `  authz gateway --listen 0.0.0.0:8000 --upstream http://127.0.0.1:9000 --tenant ten_abc \
    --issuer https://authz.example.com --audience https://orders.example --require-scope orders:read
  AUTHZ_CLIENT_ID=gw-orders AUTHZ_CLIENT_SECRET=... authz gateway --upstream http://orders:9000 --tenant ten_abc \
    --issuer https://authz.example.com --legacy-key-header X-API-Key --metrics-addr 127.0.0.1:9100`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(g.logLevel, g.logFormat)
			if err != nil {
				return err
			}
			return runGateway(cmd.Context(), g, log)
		},
	}
	f := cmd.Flags()
	f.StringVar(&g.listen, "listen", "127.0.0.1:8000", "address the proxy (or the decision endpoint) listens on")
	f.StringVar(&g.upstream, "upstream", "", "URL requests are forwarded to (required in proxy mode)")
	f.StringVar(&g.grpcListen, "grpc-listen", "", "address serving Envoy ext_authz over gRPC (envoy.service.auth.v3.Authorization/Check), same decisions (off when empty)")
	f.StringVar(&g.mode, "mode", "proxy", "proxy (forward to --upstream) or decision (answer NGINX auth_request, forward_auth, Envoy ext_authz)")
	f.StringVar(&g.issuer, "issuer", "", "authz issuer URL whose tokens are accepted (required)")
	f.StringVar(&g.jwks, "jwks", "", "JWKS URL, instead of the jwks_uri in the issuer's metadata")
	f.StringVar(&g.tokenEndpoint, "token-endpoint", "", "token endpoint for key exchange (default: from the issuer's metadata)")
	f.StringSliceVar(&g.audiences, "audience", nil, "accept only tokens naming one of these audiences (repeatable; the first is requested in key exchanges)")
	f.StringSliceVar(&g.scopes, "require-scope", nil, "scope every token must carry (repeatable: all are required)")
	f.StringSliceVar(&g.roles, "require-role", nil, "role a token must carry (repeatable: any one suffices)")
	g.tenantFlags.addFlags(f)
	f.StringVar(&g.keyHeader, "legacy-key-header", "", "request header carrying legacy API keys to exchange (for example X-API-Key); off when empty")
	f.StringVar(&g.clientID, "client-id", "", "the gateway's own client id, for key exchange")
	f.StringVar(&g.clientSecret, "client-secret", "", "its secret; prefer the environment variable (flags show in the process list)")
	f.StringSliceVar(&g.routes, "route", nil, "path prefix used as a metrics route label (repeatable; default: first path segment, bounded)")
	f.StringVar(&g.metricsAddr, "metrics-addr", "", "address serving /healthz and /metrics (off when empty)")
	f.StringVar(&g.realm, "realm", "authz", "realm of the WWW-Authenticate challenges")
	f.IntVar(&g.cacheSize, "cache-size", gateway.DefaultCacheSize, "legacy keys whose exchanged token is cached")
	f.DurationVar(&g.negativeTTL, "negative-ttl", gateway.DefaultNegativeTTL, "how long a refused key is refused without asking authz again")
	f.StringSliceVar(&g.trustedProxies, "trusted-proxy", nil, "CIDR of a proxy in front of the gateway whose X-Forwarded-For names the caller (repeatable); from any other peer the header is ignored")
	f.Float64Var(&g.exchangeRate, "exchange-rate-limit", gateway.DefaultExchangeRate, "legacy keys per second per caller address sent to authz for exchange (cache misses; negative: unlimited)")
	f.IntVar(&g.exchangeBurst, "exchange-burst", gateway.DefaultExchangeBurst, "burst above --exchange-rate-limit")
	f.DurationVar(&g.leeway, "leeway", verifier.DefaultLeeway, "clock skew tolerated on exp, nbf and iat")
	f.DurationVar(&g.minRefresh, "min-refresh-interval", verifier.DefaultMinRefreshInterval, "JWKS refetch on an unknown kid at most once per this interval")
	f.BoolVar(&g.statusLists, "status-lists", true, "refuse tokens whose Token Status List entry is not VALID (=false only for issuers that publish no lists)")
	f.DurationVar(&g.statusMaxStale, "status-max-stale", verifier.DefaultStatusListMaxStale, "how long a status list keeps deciding past its ttl while the issuer is unreachable (never past its exp); then 503")
	f.DurationVar(&g.readHeaderTimeout, "read-header-timeout", 10*time.Second, "time allowed to read request headers")
	f.DurationVar(&g.readTimeout, "read-timeout", time.Minute, "time allowed to read a whole request")
	f.DurationVar(&g.writeTimeout, "write-timeout", time.Minute, "time allowed to write a response, upstream time included (0: none, for streaming)")
	f.DurationVar(&g.idleTimeout, "idle-timeout", 2*time.Minute, "keep-alive idle timeout")
	f.DurationVar(&g.upstreamTimeout, "upstream-timeout", 30*time.Second, "time the upstream has to send response headers")
	f.DurationVar(&g.shutdownTimeout, "shutdown-timeout", 15*time.Second, "how long in-flight requests may take to finish on SIGTERM")
	f.StringVar(&g.logLevel, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&g.logFormat, "log-format", "text", "text or json")
	return cmd
}

func runGateway(ctx context.Context, g gatewayFlags, log *slog.Logger) error {
	app, err := newGatewayApp(ctx, g, log)
	if err != nil {
		return err
	}
	defer app.verifier.Close()
	addrs := []string{g.listen}
	if g.metricsAddr != "" {
		addrs = append(addrs, g.metricsAddr)
	}
	listeners := make([]net.Listener, 0, len(addrs))
	for _, addr := range addrs {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return fmt.Errorf("listen on %s: %w", addr, err)
		}
		listeners = append(listeners, l)
	}
	var ops net.Listener
	if len(listeners) > 1 {
		ops = listeners[1]
	}
	if g.grpcListen != "" {
		gl, err := net.Listen("tcp", g.grpcListen)
		if err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return fmt.Errorf("listen on %s: %w", g.grpcListen, err)
		}
		app.grpcL = gl
	}
	return app.serve(ctx, listeners[0], ops)
}

// gatewayApp is a configured gateway, ready to serve.
type gatewayApp struct {
	flags    gatewayFlags
	log      *slog.Logger
	verifier *verifier.Verifier
	proxy    http.Handler
	// decider is the decision function behind proxy (in both modes).
	decider *gateway.Decider
	// trusted are --trusted-proxy; grpcL, when set, serves ext_authz.
	trusted reqmeta.TrustedProxies
	grpcL   net.Listener
	// ops serves /healthz and /metrics, on their own listener.
	ops http.Handler
}

func newGatewayApp(ctx context.Context, g gatewayFlags, log *slog.Logger) (*gatewayApp, error) {
	var problems []string
	switch g.mode {
	case "", gateway.ModeProxy:
		g.mode = gateway.ModeProxy
		if g.upstream == "" {
			problems = append(problems, "--upstream is required")
		}
	case gateway.ModeDecision:
		if g.upstream != "" {
			problems = append(problems, "--upstream is not used with --mode decision: the front proxy forwards")
		}
	default:
		problems = append(problems, fmt.Sprintf("--mode %q: use proxy or decision", g.mode))
	}
	if g.issuer == "" {
		problems = append(problems, "--issuer is required")
	}
	if g.keyHeader != "" && (g.clientID == "" || g.clientSecret == "") {
		problems = append(problems, "--legacy-key-header needs the gateway's client credentials: set AUTHZ_CLIENT_ID and AUTHZ_CLIENT_SECRET")
	}
	if tenants, err := g.tenantFlags.resolve(); err != nil {
		problems = append(problems, err.Error())
	} else {
		g.tenants = tenants
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	var up *url.URL
	if g.mode == gateway.ModeProxy {
		var err error
		if up, err = url.Parse(g.upstream); err != nil {
			return nil, fmt.Errorf("--upstream: %w", err)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// ctx is the verifier's lifetime (its background refresh); the
	// verifier bounds its own fetches.
	v, err := verifier.New(ctx, verifier.Config{
		Issuer:             g.issuer,
		JWKSURL:            g.jwks,
		Audience:           g.audiences,
		Leeway:             g.leeway,
		MinRefreshInterval: g.minRefresh,
		StatusLists:        verifier.StatusListConfig{Disabled: !g.statusLists, MaxStale: g.statusMaxStale},
		Logger:             log,
		Registerer:         reg,
	})
	if err != nil {
		return nil, err
	}
	app := &gatewayApp{flags: g, log: log, verifier: v}
	if err := app.build(ctx, up, reg); err != nil {
		v.Close()
		return nil, err
	}
	return app, nil
}

func (a *gatewayApp) build(ctx context.Context, up *url.URL, reg *prometheus.Registry) error {
	g, log, v := a.flags, a.log, a.verifier
	if len(g.audiences) == 0 {
		log.Warn("no --audience: tokens of this issuer for any audience are accepted")
	}
	if !g.statusLists {
		log.Warn("--status-lists=false: a suspended or revoked credential's tokens pass until they expire")
	}
	tokenEndpoint := g.tokenEndpoint
	if g.keyHeader != "" && tokenEndpoint == "" {
		md := v.Metadata()
		if md == nil {
			var err error
			if md, err = verifier.Discover(ctx, nil, g.issuer); err != nil {
				return err
			}
		}
		if tokenEndpoint = md.TokenEndpoint; tokenEndpoint == "" {
			return errors.New("the issuer's metadata names no token_endpoint; set --token-endpoint")
		}
	}
	if g.keyHeader != "" {
		// Refuse to start rather than answer every bridged request 503.
		if err := gateway.CheckExchangeClient(ctx, nil, tokenEndpoint, g.clientID, g.clientSecret); err != nil {
			return err
		}
	}
	exchangeAudience := ""
	if len(g.audiences) > 0 {
		exchangeAudience = g.audiences[0]
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.ResponseHeaderTimeout = g.upstreamTimeout
	// One upstream: keep enough idle connections to it (the default of 2
	// per host turns every burst into new connections).
	transport.MaxIdleConns = 512
	transport.MaxIdleConnsPerHost = 512
	trusted, err := reqmeta.ParseTrustedProxies(g.trustedProxies)
	if err != nil {
		return err
	}
	a.trusted = trusted
	cfg := gateway.Config{
		TrustedProxies:   trusted,
		ExchangeRate:     g.exchangeRate,
		ExchangeBurst:    g.exchangeBurst,
		Upstream:         up,
		Verifier:         v,
		Require:          verifier.Require{Scopes: g.scopes, Roles: g.roles, Tenants: g.tenants},
		Realm:            g.realm,
		LegacyKeyHeader:  g.keyHeader,
		TokenEndpoint:    tokenEndpoint,
		ClientID:         g.clientID,
		ClientSecret:     g.clientSecret,
		ExchangeAudience: exchangeAudience,
		CacheSize:        g.cacheSize,
		NegativeTTL:      g.negativeTTL,
		Routes:           g.routes,
		Transport:        transport,
		Registerer:       reg,
		Logger:           log,
	}
	if g.mode == gateway.ModeDecision {
		d, err := gateway.NewDecider(cfg)
		if err != nil {
			return err
		}
		a.decider = d
		a.proxy = d.DecisionHandler()
		if trusted.Len() == 0 {
			log.Warn("--mode decision without --trusted-proxy: any peer that reaches --listen may ask for decisions (and learn identities); bind it to the front proxy's network")
		}
	} else {
		proxy, err := gateway.NewProxy(cfg)
		if err != nil {
			return err
		}
		a.decider = proxy.Decider
		a.proxy = proxy
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !v.Ready() {
			http.Error(w, "no usable key set from the issuer", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}))
	a.ops = mux
	if len(g.tenants) == 0 {
		log.Warn("--any-tenant: tokens of every tenant of the issuer are accepted")
	}
	upstreamName := ""
	if up != nil {
		upstreamName = up.Redacted()
	}
	log.Info("gateway configured", "mode", g.mode, "upstream", upstreamName, "issuer", g.issuer, "tenants", g.tenants, "legacy_key_header", g.keyHeader,
		"status_lists", g.statusLists)
	return nil
}

// serve serves the proxy on l (and /healthz, /metrics on ops, if not nil)
// until ctx ends (SIGTERM, SIGINT), then shuts down gracefully.
func (a *gatewayApp) serve(ctx context.Context, l, ops net.Listener) error {
	g, log := a.flags, a.log
	errLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	servers := []*http.Server{{
		Handler:           a.proxy,
		ReadHeaderTimeout: g.readHeaderTimeout,
		ReadTimeout:       g.readTimeout,
		WriteTimeout:      g.writeTimeout,
		IdleTimeout:       g.idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          errLog,
	}}
	listeners := []net.Listener{l}
	if ops != nil {
		servers = append(servers, &http.Server{Handler: a.ops, ReadHeaderTimeout: 5 * time.Second, ErrorLog: errLog})
		listeners = append(listeners, ops)
		log.Info("serving /healthz and /metrics", "addr", ops.Addr().String())
	}
	log.Info("gateway listening", "addr", l.Addr().String())

	errc := make(chan error, len(servers)+1)
	if a.grpcL != nil {
		gs := grpc.NewServer(grpc.MaxRecvMsgSize(1 << 20))
		extauthz.New(a.decider, a.trusted).Register(gs)
		log.Info("serving Envoy ext_authz over gRPC", "addr", a.grpcL.Addr().String())
		go func() {
			if err := gs.Serve(a.grpcL); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				errc <- err
			}
		}()
		defer func() {
			stopped := make(chan struct{})
			go func() { gs.GracefulStop(); close(stopped) }()
			select {
			case <-stopped:
			case <-time.After(g.shutdownTimeout):
				gs.Stop()
			}
		}()
	}
	for i, srv := range servers {
		go func() {
			if err := srv.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}
	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case serveErr = <-errc:
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.shutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(shutdown); err != nil {
			serveErr = errors.Join(serveErr, err)
		}
	}
	return serveErr
}
