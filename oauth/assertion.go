package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/sync/singleflight"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/outbound"
	"github.com/authz/authz/store"
)

// assertionAlgs are the signature algorithms accepted for private_key_jwt.
// Unlike fosite's (fosite notes, pitfall 16) EdDSA is included; HS* and
// "none" never are.
var assertionAlgs = []jose.SignatureAlgorithm{
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
}

const maxAssertionBytes = 8 << 10

type assertionClaims struct {
	josejwt.Claims
}

// checkAssertion verifies a private_key_jwt client assertion (RFC 7523 §3)
// and burns its jti. The jti is stored only after signature and claims
// verified, so a bad assertion cannot burn a good one's jti; the insert is
// atomic, so two concurrent replays cannot both pass.
func (s *Server) checkAssertion(ctx context.Context, creds credentials) (store.Client, error) {
	bad := func(format string, args ...any) (store.Client, error) {
		return store.Client{}, errcode.Newf(errcode.ClientInvalid, "Invalid client assertion: "+format, args...)
	}
	if creds.assertion == "" {
		return bad("client_assertion is empty.")
	}
	if len(creds.assertion) > maxAssertionBytes {
		return bad("larger than %d bytes.", maxAssertionBytes)
	}
	tok, err := josejwt.ParseSigned(creds.assertion, assertionAlgs)
	if err != nil {
		return bad("not a signed JWT with an accepted algorithm (%s).", algNames(assertionAlgs))
	}
	if len(tok.Headers) != 1 {
		return bad("exactly one signature is required.")
	}
	var unverified assertionClaims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return bad("claims are not valid JSON.")
	}
	id := unverified.Issuer
	if id == "" || unverified.Subject != id {
		return bad("iss and sub must both be the client_id.")
	}
	if creds.clientID != "" && creds.clientID != id {
		return bad("client_id does not match the assertion's iss.")
	}
	c, err := s.deps.Directory.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return bad("unknown client.")
	}
	if err != nil {
		return store.Client{}, fmt.Errorf("authenticate client: %w", err)
	}
	if c.AuthMethod != store.AuthPrivateKeyJWT {
		return bad("client %s does not authenticate with private_key_jwt.", id)
	}
	if creds.clientID == "" {
		// The client is named by the assertion only: a source locked out
		// of it is refused before its signature costs a verification.
		if err := s.guard(ctx, kindClient, id, s.clientLimitKey(ctx, id)); err != nil {
			return store.Client{}, err
		}
	}
	// From here the client id is known to exist: refusals name it.
	var claims assertionClaims
	if err := s.verifyWithClientKeys(ctx, c, tok, &claims); err != nil {
		return c, err
	}
	now := s.now()
	skew := s.cfg.ClockSkew
	switch {
	case claims.Expiry == nil:
		return c, errcode.New(errcode.ClientInvalid, "Invalid client assertion: exp is required.")
	case now.After(claims.Expiry.Time().Add(skew)):
		return c, errcode.New(errcode.ClientInvalid, "Invalid client assertion: expired.")
	case claims.Expiry.Time().Sub(now) > s.cfg.AssertionMaxLifetime+skew:
		return c, errcode.Newf(errcode.ClientInvalid, "Invalid client assertion: exp is more than %s ahead; use short-lived assertions.", s.cfg.AssertionMaxLifetime)
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(skew)):
		return c, errcode.New(errcode.ClientInvalid, "Invalid client assertion: not valid yet (nbf).")
	case claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(skew)):
		return c, errcode.New(errcode.ClientInvalid, "Invalid client assertion: issued in the future (iat); check the client's clock.")
	case claims.ID == "" || len(claims.ID) > 256:
		return c, errcode.New(errcode.ClientInvalid, "Invalid client assertion: jti is required (at most 256 characters).")
	}
	if !slices.ContainsFunc(claims.Audience, s.isOurAudience) {
		return c, errcode.Newf(errcode.ClientInvalid, "Invalid client assertion: aud must name this server's token endpoint (%s).", s.cfg.Issuer+PathToken)
	}
	if err := s.deps.Store.InsertAssertionJTI(ctx, c.ID, claims.ID, claims.Expiry.Time().Add(skew)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return c, errcode.New(errcode.ClientInvalid, "Invalid client assertion: replayed (its jti was already used).")
		}
		return c, fmt.Errorf("record assertion jti: %w", err)
	}
	return c, nil
}

// isOurAudience accepts the endpoint the assertion is presented to, by
// RFC 7523 §3, and the issuer, which RFC 7521 and many clients also use.
func (s *Server) isOurAudience(aud string) bool {
	switch aud {
	case s.cfg.Issuer, s.cfg.Issuer + "/", s.cfg.Issuer + PathToken, s.cfg.Issuer + PathIntrospect, s.cfg.Issuer + PathRevoke:
		return true
	}
	return false
}

func (s *Server) verifyWithClientKeys(ctx context.Context, c store.Client, tok *josejwt.JSONWebToken, out any) error {
	hdr := tok.Headers[0]
	try := func(set *jose.JSONWebKeySet) (bool, error) {
		for _, k := range candidateKeys(set, hdr) {
			if err := tok.Claims(k.Key, out); err == nil {
				return true, nil
			}
		}
		return false, nil
	}
	switch {
	case len(c.JWKS) > 0:
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(c.JWKS, &set); err != nil {
			return errcode.Newf(errcode.ClientInvalid, "Client %s has an unreadable JWKS; an administrator must fix it.", c.ID)
		}
		if ok, _ := try(&set); ok {
			return nil
		}
	case c.JWKSURI != "":
		// A jwks_uri that cannot be fetched is answered exactly like a
		// signature that does not verify: telling the two apart would let
		// whoever registers a jwks_uri probe what this server can reach
		// (issue 18 §2). The reason is in the log (outbound.Fetcher).
		set, err := s.jwksURIs.get(ctx, c.JWKSURI, false)
		if err != nil {
			s.cfg.Logger.WarnContext(ctx, "private_key_jwt: the client's jwks_uri is unusable", "client_id", c.ID, "err", err)
			break
		}
		if ok, _ := try(set); ok {
			return nil
		}
		// The client may have rotated: refetch once (rate limited per URI).
		if set, err = s.jwksURIs.get(ctx, c.JWKSURI, true); err == nil {
			if ok, _ := try(set); ok {
				return nil
			}
		}
	default:
		return errcode.Newf(errcode.ClientInvalid, "Client %s has no public keys registered.", c.ID)
	}
	return errcode.New(errcode.ClientInvalid, "Invalid client assertion: the signature does not verify with any of the client's registered keys.")
}

// candidateKeys are the public signing keys of set that may have made a
// signature with this header: the kid's key if the header names one, else
// every key whose algorithm fits. "use", when present, must be "sig".
func candidateKeys(set *jose.JSONWebKeySet, hdr jose.Header) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range set.Keys {
		if !k.Valid() {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.Algorithm != "" && k.Algorithm != hdr.Algorithm {
			continue
		}
		if hdr.KeyID != "" && k.KeyID != hdr.KeyID {
			continue
		}
		pub := k.Public()
		if !pub.Valid() {
			continue
		}
		out = append(out, pub)
	}
	return out
}

func algNames(algs []jose.SignatureAlgorithm) string {
	var s []byte
	for i, a := range algs {
		if i > 0 {
			s = append(s, ", "...)
		}
		s = append(s, a...)
	}
	return string(s)
}

// remoteKeySets caches clients' jwks_uri documents. A refetch forced by an
// unknown key happens at most once per refetchEvery per URI, so a stream
// of assertions with random kids cannot turn this server into a request
// amplifier toward the client's host.
type remoteKeySets struct {
	fetcher *outbound.Fetcher
	now     func() time.Time
	ttl     time.Duration
	// refetchEvery bounds forced refetches per URI.
	refetchEvery time.Duration

	mu    sync.Mutex
	sets  map[string]*remoteSet
	group singleflight.Group
}

type remoteSet struct {
	set     *jose.JSONWebKeySet
	fetched time.Time
}

func newRemoteKeySets(f *outbound.Fetcher, now func() time.Time) *remoteKeySets {
	return &remoteKeySets{fetcher: f, now: now, ttl: 10 * time.Minute, refetchEvery: 30 * time.Second, sets: map[string]*remoteSet{}}
}

func (r *remoteKeySets) get(ctx context.Context, uri string, force bool) (*jose.JSONWebKeySet, error) {
	r.mu.Lock()
	cur := r.sets[uri]
	r.mu.Unlock()
	now := r.now()
	if cur != nil {
		age := now.Sub(cur.fetched)
		if age < r.ttl && (!force || age < r.refetchEvery) {
			return cur.set, nil
		}
	}
	v, err, _ := r.group.Do(uri, func() (any, error) {
		set, err := r.fetch(ctx, uri)
		if err != nil {
			return nil, err
		}
		r.mu.Lock()
		r.sets[uri] = &remoteSet{set: set, fetched: r.now()}
		r.mu.Unlock()
		return set, nil
	})
	if err != nil {
		if cur != nil {
			return cur.set, nil // keep using what we had while the client's host is down
		}
		return nil, err
	}
	return v.(*jose.JSONWebKeySet), nil
}

func (r *remoteKeySets) fetch(ctx context.Context, uri string) (*jose.JSONWebKeySet, error) {
	body, err := r.fetcher.Get(ctx, uri, "application/jwk-set+json, application/json")
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("%w: jwks_uri %s is not a JWK Set: %v", outbound.ErrFetch, uri, err)
	}
	return &set, nil
}
