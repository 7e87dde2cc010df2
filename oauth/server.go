package oauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/ory/fosite"
	fositeoauth2 "github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authz/authz/bodylimit"
	"github.com/authz/authz/clientsecret"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/outbound"
	"github.com/authz/authz/ratelimit"
	"github.com/authz/authz/store"
)

// Token type URNs (RFC 8693 §3) and the subject token type of legacy keys.
const (
	TokenTypeAccessToken = "urn:ietf:params:oauth:token-type:access_token"
	TokenTypeJWT         = "urn:ietf:params:oauth:token-type:jwt"
	TokenTypeAPIKey      = "urn:authz:token-type:api-key"
)

// Endpoint paths (SPEC §3).
const (
	PathToken      = "/oauth2/token"
	PathIntrospect = "/oauth2/introspect"
	PathRevoke     = "/oauth2/revoke"
	PathMetadata   = "/.well-known/oauth-authorization-server"
	PathOIDC       = "/.well-known/openid-configuration"
	PathJWKS       = "/.well-known/jwks.json"
)

// Config is the token service's behaviour.
type Config struct {
	// Issuer is the iss of every token and the base of every endpoint URL,
	// e.g. "https://authz.example.com". No trailing slash.
	Issuer string
	// TokenLifetime is the default access-token lifetime (default 5 min).
	TokenLifetime time.Duration
	// MaxTokenLifetime caps per-client lifetimes (default 1 h).
	MaxTokenLifetime time.Duration
	// DefaultAudience is the aud of tokens for clients and keys without an
	// audience list (default: the issuer).
	DefaultAudience []string
	// AssertionMaxLifetime is the longest private_key_jwt assertion
	// accepted, from now to its exp (default 5 min).
	AssertionMaxLifetime time.Duration
	// ClockSkew is tolerated on assertion timestamps (default 60 s).
	ClockSkew time.Duration
	// MaxBodyBytes caps request bodies (default 64 KiB).
	MaxBodyBytes int64
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
	Now          func() time.Time
}

// Directory is the hot-path read interface (directory.Directory; a plain
// store.Store works too, uncached).
type Directory interface {
	GetTenant(ctx context.Context, id string) (store.Tenant, error)
	GetPrincipal(ctx context.Context, id string) (store.Principal, error)
	GetClient(ctx context.Context, id string) (store.Client, error)
	GetLegacyKeyByHash(ctx context.Context, hash []byte) (store.LegacyKey, error)
	RolesOfPrincipal(ctx context.Context, principalID string) ([]store.Role, error)
	GetAudienceByIdentifier(ctx context.Context, identifier string) (store.Audience, error)
}

// TokenVerifier checks a JWT's signature against the published signing
// keys and its typ header (jwks.Manager).
type TokenVerifier interface {
	Verify(ctx context.Context, token, typ string) (claims []byte, kid string, err error)
}

// Auditor writes audit events: Record durably before returning, Sample for
// floods (audit.Recorder).
type Auditor interface {
	Record(ctx context.Context, ev store.AuditEvent) error
	Sample(ctx context.Context, ev store.AuditEvent)
}

// UsageSink counts uses without a write per request (usage.Recorder).
type UsageSink interface {
	KeyUsed(keyID string, at time.Time)
	// ClientUsed: secretID is the secret that authenticated the request
	// ("" for private_key_jwt).
	ClientUsed(clientID, secretID string, at time.Time)
	// Refused counts a refused token request of the tenant ("" when none
	// is known) by error code, alongside authz_token_requests_total.
	Refused(tenantID, code string, at time.Time)
}

// Limiter sheds load before any work is done (nil: no limits). Allow
// reports whether one more request of that kind and key may proceed, and if
// not, after how long.
type Limiter interface {
	Allow(kind, key string) (bool, time.Duration)
}

// Lockout locks a source (an address or prefix) out of a client id or key
// id after repeated failed authentication from it (ratelimit.Lockout; nil:
// never).
type Lockout interface {
	Locked(a ratelimit.Attempt) (bool, time.Duration)
	Failed(ctx context.Context, a ratelimit.Attempt) ratelimit.Outcome
	Succeeded(ctx context.Context, a ratelimit.Attempt)
}

// StatusLists gives each token its Token Status List reference
// (draft-ietf-oauth-status-list): the value of the "status" claim for a
// credential ("client:<id>" or "key:<id>"). nil: tokens carry no status.
type StatusLists interface {
	StatusClaim(ctx context.Context, credential string) (any, error)
}

// Observer sees every token decision, after it is made (alerts.Detectors):
// the credential ("key:<id>", "client:<id>"), its tenant, the refusal's
// error code ("" when a token was issued) and the client address. It must
// not block. nil: none.
type Observer interface {
	ObserveToken(credential, tenantID, errorCode, clientAddr string)
}

// AuditAppender appends events inside a transaction (audit.Append).
type AuditAppender func(ctx context.Context, tx store.Tx, events ...store.AuditEvent) error

// Deps are the collaborators the token service needs.
type Deps struct {
	Store        store.Store
	Directory    Directory
	Signer       jwt.Signer
	Verifier     TokenVerifier
	SigningAlgs  []string
	JWKS         http.Handler
	Secrets      *clientsecret.Hasher
	LegacyHasher *legacykeys.Hasher
	Audit        Auditor
	AuditAppend  AuditAppender
	Usage        UsageSink
	Limiter      Limiter
	Lockout      Lockout
	Status       StatusLists
	Observer     Observer
	// Outbound fetches clients' jwks_uri under the SSRF rules of package
	// outbound (nil: outbound's defaults, which refuse every private,
	// loopback and link-local destination).
	Outbound *outbound.Fetcher
}

// Server serves the OAuth endpoints.
type Server struct {
	cfg      Config
	deps     Deps
	provider *fosite.Fosite
	jwksURIs *remoteKeySets
	metrics  *metrics
	// dummyClient has one secret hash under a fixed key: what an unknown
	// client id's secret is compared with.
	dummyClient store.Client
}

// New builds the token service.
func New(cfg Config, deps Deps) (*Server, error) {
	cfg.Issuer = strings.TrimRight(cfg.Issuer, "/")
	if cfg.Issuer == "" {
		return nil, errors.New("oauth: issuer is required")
	}
	if deps.Store == nil || deps.Signer == nil || deps.Verifier == nil || deps.Secrets == nil || deps.LegacyHasher == nil || deps.Audit == nil || deps.AuditAppend == nil {
		return nil, errors.New("oauth: missing dependency")
	}
	if deps.Directory == nil {
		deps.Directory = deps.Store
	}
	if deps.Usage == nil {
		deps.Usage = nopUsage{}
	}
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = 5 * time.Minute
	}
	if cfg.MaxTokenLifetime <= 0 {
		cfg.MaxTokenLifetime = time.Hour
	}
	if cfg.TokenLifetime > cfg.MaxTokenLifetime {
		return nil, errors.New("oauth: token lifetime exceeds the maximum token lifetime")
	}
	if len(cfg.DefaultAudience) == 0 {
		cfg.DefaultAudience = []string{cfg.Issuer}
	}
	if cfg.AssertionMaxLifetime <= 0 {
		cfg.AssertionMaxLifetime = 5 * time.Minute
	}
	if cfg.ClockSkew <= 0 {
		cfg.ClockSkew = time.Minute
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 64 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{cfg: cfg, deps: deps, metrics: newMetrics(cfg.Registerer)}
	s.dummyClient = store.Client{Secrets: []store.ClientSecret{{Hash: deps.Secrets.Hash("authz: no such client")}}}
	if deps.Outbound == nil {
		deps.Outbound = outbound.New(outbound.Config{Logger: cfg.Logger})
		s.deps.Outbound = deps.Outbound
	}
	s.jwksURIs = newRemoteKeySets(deps.Outbound, cfg.Now)

	// Every field whose getter would otherwise write a default lazily is
	// set here: fosite's getters race on first concurrent use (fosite
	// notes, pitfall 19).
	fc := &fosite.Config{
		AccessTokenLifespan:        cfg.TokenLifetime,
		AccessTokenIssuer:          cfg.Issuer,
		TokenURL:                   cfg.Issuer + PathToken,
		JWTScopeClaimKey:           jwt.JWTScopeFieldString,
		ScopeStrategy:              fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:   fosite.ExactAudienceMatchingStrategy,
		ClientSecretsHasher:        refuseHasher{},
		GlobalSecret:               randomBytes(32),
		SendDebugMessagesToClients: false,
	}
	fc.ClientAuthenticationStrategy = s.authenticateClient
	// No HMACSHAStrategy: it only serves refresh tokens and fosite's own
	// revocation handler, neither of which we use.
	strategy := &fositeoauth2.DefaultJWTStrategy{Signer: deps.Signer, Config: fc}
	helper := &fositeoauth2.HandleHelper{
		AccessTokenStrategy: strategy,
		AccessTokenStorage:  &tokenStorage{s: s},
		Config:              fc,
	}
	fc.TokenEndpointHandlers = fosite.TokenEndpointHandlers{
		&clientCredentialsHandler{s: s, helper: helper},
		&exchangeHandler{s: s, helper: helper},
	}
	s.provider = fosite.NewOAuth2Provider(fositeStorage{}, fc)
	return s, nil
}

// Handler returns the public endpoints of SPEC §3 (not health or metrics,
// which the server package adds).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc(PathToken, s.serveToken)
	mux.HandleFunc(PathIntrospect, s.serveIntrospect)
	mux.HandleFunc(PathRevoke, s.serveRevoke)
	mux.HandleFunc(PathMetadata, s.serveMetadata)
	mux.HandleFunc(PathOIDC, s.serveMetadata)
	if s.deps.JWKS != nil {
		mux.Handle(PathJWKS, s.deps.JWKS)
	}
	// Anything else is answered in the same JSON as every other error.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		errcode.Write(w, s.cfg.Logger, errcode.New(errcode.NotFound, "No such endpoint; the issuer's metadata lists them at "+PathMetadata+"."))
	})
	return bodylimit.Handler(s.cfg.MaxBodyBytes, s.cfg.Logger, mux)
}

func (s *Server) now() time.Time { return s.cfg.Now() }

type nopUsage struct{}

func (nopUsage) KeyUsed(string, time.Time)            {}
func (nopUsage) ClientUsed(string, string, time.Time) {}
func (nopUsage) Refused(string, string, time.Time)    {}
