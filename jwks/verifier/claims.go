package verifier

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/authz/authz/statuslist"
)

// Claims are the verified claims of an authz access token (SPEC §3,
// RFC 9068 §2.2).
type Claims struct {
	Issuer    string
	Subject   string
	Audience  []string
	ExpiresAt time.Time
	IssuedAt  time.Time
	// NotBefore is zero when the token has no nbf.
	NotBefore time.Time
	JTI       string
	ClientID  string
	// Scope is the space-separated scope claim, split.
	Scope  []string
	Tenant string
	Roles  []string
	// KeyID is set on tokens exchanged for a legacy API key.
	KeyID string
	// Act is the actor that obtained the token on the subject's behalf
	// (RFC 8693 §4.1), such as a gateway exchanging a caller's key.
	Act *Actor
	// Status is the entry of a Token Status List that the token's status
	// claim refers to (draft-ietf-oauth-status-list), nil when it refers
	// to none. Verify has already checked it unless status lists are
	// disabled (Config.StatusLists).
	Status *statuslist.ListReference
	// Raw is the verified JSON payload, for claims this type does not
	// model (such as status); decode it with Decode or Map.
	Raw json.RawMessage
}

// Actor is an RFC 8693 §4.1 act claim; Act nests prior actors.
type Actor struct {
	Subject string
	Act     *Actor
}

// Decode unmarshals the verified payload into v (a struct with the claims
// the caller needs).
func (c *Claims) Decode(v any) error { return json.Unmarshal(c.Raw, v) }

// Map returns every claim as decoded JSON.
func (c *Claims) Map() (map[string]any, error) {
	var m map[string]any
	err := json.Unmarshal(c.Raw, &m)
	return m, err
}

// LegacyKey reports whether the token was obtained by exchanging a legacy
// API key.
func (c *Claims) LegacyKey() bool { return c.KeyID != "" }

// HasScopes reports whether every one of scopes was granted.
func (c *Claims) HasScopes(scopes ...string) bool {
	for _, s := range scopes {
		if !slices.Contains(c.Scope, s) {
			return false
		}
	}
	return true
}

// HasAnyRole reports whether the subject holds at least one of roles (or
// roles is empty).
func (c *Claims) HasAnyRole(roles ...string) bool {
	if len(roles) == 0 {
		return true
	}
	for _, r := range roles {
		if slices.Contains(c.Roles, r) {
			return true
		}
	}
	return false
}

// Require is what a resource demands of a valid token.
type Require struct {
	// Scopes must all be granted.
	Scopes []string
	// Roles: at least one must be held (empty: no role needed).
	Roles []string
	// Tenant, when set, must be the token's tenant.
	Tenant string
	// Tenants, when not empty, must hold the token's tenant: a resource
	// whose audience its owner shares with other tenants (issue 18 §4).
	Tenants []string
}

// Check returns nil if c satisfies r, or an *Error whose Reason is
// ReasonTenant, ReasonScope or ReasonRole (Forbidden reports true). The
// tenant is checked first, so that another tenant's token learns nothing
// of the scopes the resource requires.
func (r Require) Check(c *Claims) error {
	if (r.Tenant != "" && c.Tenant != r.Tenant) || (len(r.Tenants) > 0 && !slices.Contains(r.Tenants, c.Tenant)) {
		return refuse(ReasonTenant, "", nil)
	}
	if !c.HasScopes(r.Scopes...) {
		return refuse(ReasonScope, "The access token lacks a scope this resource requires: "+strings.Join(r.Scopes, " ")+".", nil)
	}
	if !c.HasAnyRole(r.Roles...) {
		return refuse(ReasonRole, "", nil)
	}
	return nil
}

// tokenClaims is what golang-jwt decodes the payload into. It only keeps
// the bytes: they are decoded when the validator first asks for a claim,
// which golang-jwt does after the signature has verified. So the claims
// decoder only ever sees issuer-signed input, and a forged token costs no
// more than its header and signature.
type tokenClaims struct {
	raw     []byte
	w       wireClaims
	decoded bool
	err     error
	// The validator's view of the dates, and the result, live here too:
	// one allocation instead of five on the hot path.
	exp, iat, nbf jwt.NumericDate
	out           Claims
}

// wireClaims has the claims in their JSON shapes, as decodePayload fills
// them: a claim of the wrong type fails the token.
type wireClaims struct {
	Issuer    string
	Subject   string
	Audience  audience
	ExpiresAt *numericDate
	NotBefore *numericDate
	IssuedAt  *numericDate
	JTI       string
	ClientID  string
	Scope     string
	Tenant    string
	Roles     []string
	KeyID     string
	Act       *actorClaim
	// Status is the status claim's list reference, when HasStatus.
	HasStatus bool
	Status    statuslist.ListReference
}

// UnmarshalJSON keeps a copy of the payload (golang-jwt has validated it
// as JSON by now) for decode.
func (t *tokenClaims) UnmarshalJSON(b []byte) error {
	t.raw = slices.Clone(b)
	return nil
}

func (t *tokenClaims) decode() error {
	if !t.decoded {
		t.decoded = true
		// One string backs every claim value (substrings share it).
		if err := decodePayload(string(t.raw), &t.w); err != nil {
			t.err = refuse(ReasonClaims, "The access token has a claim of the wrong type.", err)
			return t.err
		}
		t.exp, t.iat, t.nbf = t.w.ExpiresAt.jwt(), t.w.IssuedAt.jwt(), t.w.NotBefore.jwt()
	}
	return t.err
}

// date returns d for the validator, nil when the claim is absent.
func date(present *numericDate, d *jwt.NumericDate) *jwt.NumericDate {
	if present == nil {
		return nil
	}
	return d
}

func (t *tokenClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	if err := t.decode(); err != nil {
		return nil, err
	}
	return date(t.w.ExpiresAt, &t.exp), nil
}

func (t *tokenClaims) GetIssuedAt() (*jwt.NumericDate, error) {
	if err := t.decode(); err != nil {
		return nil, err
	}
	return date(t.w.IssuedAt, &t.iat), nil
}

func (t *tokenClaims) GetNotBefore() (*jwt.NumericDate, error) {
	if err := t.decode(); err != nil {
		return nil, err
	}
	return date(t.w.NotBefore, &t.nbf), nil
}

func (t *tokenClaims) GetIssuer() (string, error) {
	if err := t.decode(); err != nil {
		return "", err
	}
	return t.w.Issuer, nil
}

func (t *tokenClaims) GetSubject() (string, error) {
	if err := t.decode(); err != nil {
		return "", err
	}
	return t.w.Subject, nil
}

func (t *tokenClaims) GetAudience() (jwt.ClaimStrings, error) {
	if err := t.decode(); err != nil {
		return nil, err
	}
	return jwt.ClaimStrings(t.w.Audience), nil
}

// claims types the claims golang-jwt has verified (exp, iat, nbf, iss and
// aud are checked by then) and checks the RFC 9068 §2.2 claims that must be
// present.
func (t *tokenClaims) claims() (*Claims, error) {
	if err := t.decode(); err != nil {
		return nil, err
	}
	w := &t.w
	for _, req := range [...]struct{ name, v string }{{"sub", w.Subject}, {"jti", w.JTI}, {"client_id", w.ClientID}} {
		if req.v == "" {
			return nil, refuse(ReasonClaims, "The access token's "+req.name+" claim is missing.", nil)
		}
	}
	if w.ExpiresAt == nil || w.IssuedAt == nil {
		return nil, refuse(ReasonClaims, "The access token lacks exp or iat.", nil)
	}
	c := &t.out
	*c = Claims{
		Issuer:    w.Issuer,
		Subject:   w.Subject,
		Audience:  w.Audience,
		ExpiresAt: w.ExpiresAt.time(),
		IssuedAt:  w.IssuedAt.time(),
		JTI:       w.JTI,
		ClientID:  w.ClientID,
		Scope:     strings.Fields(w.Scope),
		Tenant:    w.Tenant,
		Roles:     w.Roles,
		KeyID:     w.KeyID,
		Raw:       t.raw,
	}
	if w.NotBefore != nil {
		c.NotBefore = w.NotBefore.time()
	}
	if w.HasStatus {
		// Points into t, which the result already shares: no allocation.
		c.Status = &w.Status
	}
	if w.Act != nil {
		a, ok := w.Act.actor(0)
		if !ok {
			return nil, refuse(ReasonClaims, "The access token's act claim is malformed.", nil)
		}
		c.Act = a
	}
	return c, nil
}

// numericDate is an RFC 7519 NumericDate: a JSON number of seconds.
type numericDate float64

func (d *numericDate) time() time.Time {
	sec, frac := math.Modf(float64(*d))
	return time.Unix(int64(sec), int64(frac*1e9)).UTC()
}

func (d *numericDate) jwt() jwt.NumericDate {
	if d == nil {
		return jwt.NumericDate{}
	}
	return jwt.NumericDate{Time: d.time()}
}

// audience is the aud claim: a string or an array of strings (RFC 7519
// §4.1.3).
type audience []string

// actorClaim is the act claim (RFC 8693 §4.1).
type actorClaim struct {
	Subject string
	Act     *actorClaim
}

// maxActorDepth bounds act nesting: delegation chains are short.
const maxActorDepth = 8

func (a *actorClaim) actor(depth int) (*Actor, bool) {
	if depth >= maxActorDepth || a.Subject == "" {
		return nil, false
	}
	out := &Actor{Subject: a.Subject}
	if a.Act != nil {
		inner, ok := a.Act.actor(depth + 1)
		if !ok {
			return nil, false
		}
		out.Act = inner
	}
	return out, true
}
