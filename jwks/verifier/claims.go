package verifier

import (
	"math"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
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
	// Raw holds every claim as decoded JSON, including ones this type
	// does not model (such as status). Treat it as read-only.
	Raw map[string]any
}

// Actor is an RFC 8693 §4.1 act claim; Act nests prior actors.
type Actor struct {
	Subject string
	Act     *Actor
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
}

// Check returns nil if c satisfies r, or an *Error whose Reason is
// ReasonScope, ReasonRole or ReasonTenant (Forbidden reports true).
func (r Require) Check(c *Claims) error {
	if !c.HasScopes(r.Scopes...) {
		return refuse(ReasonScope, "The access token lacks a scope this resource requires: "+strings.Join(r.Scopes, " ")+".", nil)
	}
	if !c.HasAnyRole(r.Roles...) {
		return refuse(ReasonRole, "", nil)
	}
	if r.Tenant != "" && c.Tenant != r.Tenant {
		return refuse(ReasonTenant, "", nil)
	}
	return nil
}

// claimsFrom types the claims golang-jwt has verified. golang-jwt has
// already checked exp, iat, nbf, iss and aud; this adds the RFC 9068 §2.2
// claims that must be present and the types of authz's own.
func claimsFrom(m jwt.MapClaims) (*Claims, error) {
	c := &Claims{Raw: m}
	var ok bool
	bad := func(name string) (*Claims, error) {
		return nil, refuse(ReasonClaims, "The access token's "+name+" claim is missing or malformed.", nil)
	}
	if c.Issuer, ok = str(m, "iss", true); !ok {
		return bad("iss")
	}
	if c.Subject, ok = str(m, "sub", true); !ok {
		return bad("sub")
	}
	if c.JTI, ok = str(m, "jti", true); !ok {
		return bad("jti")
	}
	if c.ClientID, ok = str(m, "client_id", true); !ok {
		return bad("client_id")
	}
	if c.Tenant, ok = str(m, "tenant", false); !ok {
		return bad("tenant")
	}
	if c.KeyID, ok = str(m, "key_id", false); !ok {
		return bad("key_id")
	}
	scope, ok := str(m, "scope", false)
	if !ok {
		return bad("scope")
	}
	c.Scope = strings.Fields(scope)
	aud, err := m.GetAudience()
	if err != nil {
		return bad("aud")
	}
	c.Audience = aud
	if c.Roles, ok = stringList(m["roles"]); !ok {
		return bad("roles")
	}
	if c.ExpiresAt, ok = date(m, "exp", true); !ok {
		return bad("exp")
	}
	if c.IssuedAt, ok = date(m, "iat", true); !ok {
		return bad("iat")
	}
	if c.NotBefore, ok = date(m, "nbf", false); !ok {
		return bad("nbf")
	}
	if a, present := m["act"]; present {
		if c.Act, ok = actor(a, 0); !ok {
			return bad("act")
		}
	}
	return c, nil
}

func str(m jwt.MapClaims, name string, required bool) (string, bool) {
	v, present := m[name]
	if !present {
		return "", !required
	}
	s, ok := v.(string)
	return s, ok && (s != "" || !required)
}

func stringList(v any) ([]string, bool) {
	if v == nil {
		return nil, true
	}
	list, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

func date(m jwt.MapClaims, name string, required bool) (time.Time, bool) {
	v, present := m[name]
	if !present {
		return time.Time{}, !required
	}
	f, ok := v.(float64)
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), true
}

// maxActorDepth bounds act nesting: delegation chains are short, and an
// unbounded recursion on attacker-shaped input is a stack risk.
const maxActorDepth = 8

func actor(v any, depth int) (*Actor, bool) {
	if depth >= maxActorDepth {
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	sub, ok := m["sub"].(string)
	if !ok || sub == "" {
		return nil, false
	}
	a := &Actor{Subject: sub}
	if inner, present := m["act"]; present {
		if a.Act, ok = actor(inner, depth+1); !ok {
			return nil, false
		}
	}
	return a, true
}
