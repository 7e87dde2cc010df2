package conformance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Config is what the suite runs with. Issuer, ClientID and ClientSecret are
// required; checks whose other inputs are missing are skipped.
type Config struct {
	// Issuer is the authorization server's issuer identifier; its
	// metadata is fetched from the RFC 8414 well-known URL built from it.
	Issuer string
	// ClientID and ClientSecret are a confidential client allowed the
	// client_credentials grant.
	ClientID     string
	ClientSecret string
	// ClientAuthMethod is how that client sends its secret:
	// client_secret_basic or client_secret_post, as it is registered
	// (RFC 7591 token_endpoint_auth_method; authz enforces it). Empty:
	// HTTP Basic unless the server advertises only client_secret_post.
	ClientAuthMethod string
	// AssertionClientID and AssertionKey are a client that authenticates
	// with private_key_jwt (RFC 7523) and its private key (see
	// ParseAssertionKey).
	AssertionClientID string
	AssertionKey      *jose.JSONWebKey
	// SubjectToken is a credential the server exchanges by RFC 8693 (for
	// authz, a legacy API key), of type SubjectTokenType (default: the
	// first of the metadata's subject_token_types_supported, else
	// urn:authz:token-type:api-key).
	SubjectToken     string
	SubjectTokenType string
	// HTTPClient sends every request (default: 10 s timeout). Redirects
	// are never followed, whatever its CheckRedirect says.
	HTTPClient *http.Client
	// Now is the clock for assertion timestamps (default time.Now).
	Now func() time.Time
}

// Status is a check's outcome.
type Status string

const (
	Pass Status = "pass"
	Fail Status = "fail"
	Skip Status = "skip"
)

// Check is one entry of the suite: what it checks and where the
// requirement is written.
type Check struct {
	// ID is stable and names the check in reports and tests, e.g.
	// "token.no_store".
	ID string
	// Section cites the requirement, e.g. "RFC 6749 §5.1".
	Section string
	// Title says what must hold, in a line.
	Title string
	run   func(ctx context.Context, s *session) Outcome
}

// Outcome is what a check found.
type Outcome struct {
	Status Status
	// Reason says why a check failed or was skipped, or what it saw.
	Reason string
}

func passed(format string, args ...any) Outcome {
	return Outcome{Pass, fmt.Sprintf(format, args...)}
}

func failed(format string, args ...any) Outcome {
	return Outcome{Fail, fmt.Sprintf(format, args...)}
}

func skipped(format string, args ...any) Outcome {
	return Outcome{Skip, fmt.Sprintf(format, args...)}
}

// Result is a check and its outcome.
type Result struct {
	ID      string `json:"check"`
	Section string `json:"section"`
	Title   string `json:"title"`
	Status  Status `json:"status"`
	Reason  string `json:"reason,omitempty"`
}

// Report is the outcome of a run, in the order of Checks.
type Report struct {
	Issuer  string   `json:"issuer"`
	Results []Result `json:"results"`
}

// Count returns how many checks ended with st.
func (r *Report) Count(st Status) int {
	n := 0
	for _, res := range r.Results {
		if res.Status == st {
			n++
		}
	}
	return n
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool { return r.Count(Fail) > 0 }

// Get returns the result of the check with the given id.
func (r *Report) Get(id string) (Result, bool) {
	for _, res := range r.Results {
		if res.ID == id {
			return res, true
		}
	}
	return Result{}, false
}

// Run runs every check against cfg.Issuer, in order, and reports each
// one. The error is for an unusable Config only: what the server gets
// wrong is in the report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	s := newSession(cfg)
	rep := &Report{Issuer: s.issuer}
	for _, c := range Checks() {
		out := c.run(ctx, s)
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		rep.Results = append(rep.Results, Result{ID: c.ID, Section: c.Section, Title: c.Title, Status: out.Status, Reason: out.Reason})
	}
	return rep, nil
}

func (c *Config) check() error {
	var errs []error
	if c.Issuer == "" {
		errs = append(errs, errors.New("the issuer URL is required"))
	} else if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, fmt.Errorf("issuer %q: want an absolute http(s) URL", c.Issuer))
	}
	if c.ClientID == "" || c.ClientSecret == "" {
		errs = append(errs, errors.New("a client id and secret are required"))
	}
	if (c.AssertionKey != nil) != (c.AssertionClientID != "") {
		errs = append(errs, errors.New("a private_key_jwt client needs both its client id and its private key"))
	}
	if c.AssertionKey != nil && c.AssertionKey.IsPublic() {
		errs = append(errs, errors.New("the assertion key is a public key; give the private key"))
	}
	return errors.Join(errs...)
}

// Checks returns the suite, in the order it runs.
func Checks() []Check {
	return []Check{
		{"metadata.fetch", "RFC 8414 §3.1, §3.2", "metadata is served as a JSON object at the well-known URL", checkMetadataFetch},
		{"metadata.required", "RFC 8414 §2, RFC 9068 §4", "metadata has issuer, token_endpoint, response_types_supported and jwks_uri", checkMetadataRequired},
		{"metadata.issuer", "RFC 8414 §3.3", "metadata issuer is identical to the issuer it was fetched for", checkMetadataIssuer},

		{"token.client_credentials", "RFC 6749 §4.4.3, §5.1", "client credentials give a JSON token response with token_type and expires_in", checkClientCredentials},
		{"token.no_store", "RFC 6749 §5.1", "the token response carries Cache-Control: no-store", checkNoStore},
		{"token.wrong_secret", "RFC 6749 §5.2", "a wrong client secret is refused with 401 invalid_client", checkWrongSecret},
		{"token.unknown_client", "RFC 6749 §5.2", "an unknown client is refused with 401 invalid_client", checkUnknownClient},
		{"token.missing_grant_type", "RFC 6749 §4.4.2, §5.2", "a request without grant_type is refused with 400 invalid_request", checkMissingGrantType},
		{"token.unsupported_grant_type", "RFC 6749 §5.2", "an unknown grant_type is refused with 400 unsupported_grant_type", checkUnsupportedGrantType},
		{"token.duplicate_parameter", "RFC 6749 §3.2, §5.2", "a parameter sent twice is refused with 400 invalid_request", checkDuplicateParameter},
		{"token.get", "RFC 6749 §3.2", "a GET to the token endpoint issues no token", checkGet},
		{"token.unknown_scope", "RFC 6749 §5.2", "an unknown scope is refused with 400 invalid_scope", checkUnknownScope},
		{"token.unknown_resource", "RFC 8707 §2", "a resource the issuer does not serve (not registered for the client's tenant) is refused with 400 invalid_target", checkUnknownResource},

		{"jwks.fetch", "RFC 7517 §5", "jwks_uri serves a JWK Set with at least one key", checkJWKSFetch},
		{"jwks.public_only", "RFC 7517 §9.2", "the JWK Set holds no private or symmetric key members", checkJWKSPublicOnly},
		{"jwks.key_members", "RFC 7517 §4.1, §4.2, §4.4, §4.5", "every key has kty, kid, and use or alg", checkJWKSMembers},
		{"jwks.unique_kids", "RFC 7517 §4.5", "key ids are unique within the set", checkJWKSUniqueKids},

		{"access_token.typ", "RFC 9068 §2.1", "the access token's header has typ at+jwt", checkATTyp},
		{"access_token.claims", "RFC 9068 §2.2", "the access token has iss, exp, aud, sub, client_id, iat and jti", checkATClaims},
		{"access_token.lifetime", "RFC 9068 §2.2", "the access token's exp is after its iat", checkATLifetime},
		{"access_token.signature", "RFC 9068 §4", "the access token's signature verifies against the JWKS with an asymmetric algorithm", checkATSignature},

		{"private_key_jwt.accepted", "RFC 7523 §2.2, §3", "a valid client assertion authenticates the client", checkAssertionAccepted},
		{"private_key_jwt.replay", "RFC 7523 §3", "a client assertion used twice is refused with invalid_client", checkAssertionReplay},
		{"private_key_jwt.expired", "RFC 7523 §3", "an expired client assertion is refused with invalid_client", checkAssertionExpired},
		{"private_key_jwt.wrong_audience", "RFC 7523 §3", "a client assertion for another audience is refused with invalid_client", checkAssertionAudience},

		{"introspection.active", "RFC 7662 §2.2", "a live token introspects as active", checkIntrospectActive},
		{"introspection.garbage", "RFC 7662 §2.2", "a garbage token introspects as inactive", checkIntrospectGarbage},
		{"revocation.revoke", "RFC 7009 §2.1, §2.2", "revoking a token is answered 200", checkRevoke},
		{"introspection.revoked", "RFC 7009 §2, RFC 7662 §2.2", "a revoked token introspects as inactive", checkIntrospectRevoked},
		{"revocation.garbage", "RFC 7009 §2.2", "revoking a garbage token is answered 200", checkRevokeGarbage},

		{"exchange.response", "RFC 8693 §2.2.1", "token exchange answers access_token, issued_token_type, token_type and expires_in", checkExchangeResponse},
		{"exchange.invalid_subject", "RFC 8693 §2.2.2", "an invalid subject_token is refused with 400 invalid_request", checkExchangeInvalidSubject},
	}
}
