package conformance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// asymmetricAlgs are the JWS algorithms an access token may use: a
// resource server holds only public keys, so none and HS* never verify
// (RFC 9068 §4: "none" MUST NOT be used).
var asymmetricAlgs = []string{"ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

// jwtToken returns the first token's header and claims, or the outcome to
// report: a server may issue opaque tokens, to which RFC 9068 does not
// apply.
func (s *session) jwtToken(ctx context.Context) (*metadata, string, map[string]any, map[string]any, *Outcome) {
	md, tok, o := s.accessToken(ctx)
	if o != nil {
		return nil, "", nil, nil, o
	}
	h, c, ok := jwtParts(tok)
	if !ok {
		o := skipped("the access token is not a JWT; RFC 9068 applies to JWT access tokens only")
		return nil, "", nil, nil, &o
	}
	return md, tok, h, c, nil
}

func checkATTyp(ctx context.Context, s *session) Outcome {
	_, _, h, _, o := s.jwtToken(ctx)
	if o != nil {
		return *o
	}
	typ, _ := h["typ"].(string)
	// §2.1: "at+jwt"; the "application/" prefix may be included (RFC 7515 §4.1.9).
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return failed("typ %q: a verifier cannot tell this access token from an ID token or other JWT; want at+jwt", typ)
	}
	return passed("typ %s", typ)
}

func checkATClaims(ctx context.Context, s *session) Outcome {
	_, _, _, c, o := s.jwtToken(ctx)
	if o != nil {
		return *o
	}
	var problems []string
	for _, k := range []string{"iss", "sub", "client_id", "jti"} {
		if v, _ := c[k].(string); v == "" {
			problems = append(problems, k+" is missing")
		}
	}
	for _, k := range []string{"exp", "iat"} {
		if _, ok := jsonNumber(c[k]); !ok {
			problems = append(problems, k+" is missing or not a number")
		}
	}
	switch aud := c["aud"].(type) {
	case string:
		if aud == "" {
			problems = append(problems, "aud is empty")
		}
	case []any:
		if len(aud) == 0 {
			problems = append(problems, "aud is an empty array")
		}
		for _, a := range aud {
			if s, ok := a.(string); !ok || s == "" {
				problems = append(problems, "aud holds a non-string or empty value")
				break
			}
		}
	default:
		problems = append(problems, "aud is missing")
	}
	// The issuer the client trusts, which metadata.issuer holds the
	// metadata to.
	if iss, _ := c["iss"].(string); iss != "" && iss != s.issuer {
		problems = append(problems, fmt.Sprintf("iss %q is not the issuer %q", iss, s.issuer))
	}
	if cid, _ := c["client_id"].(string); cid != "" && cid != s.cfg.ClientID {
		problems = append(problems, fmt.Sprintf("client_id %q is not the client that asked (%s)", cid, s.cfg.ClientID))
	}
	if len(problems) > 0 {
		return failed("%s", strings.Join(problems, "; "))
	}
	return passed("")
}

func checkATLifetime(ctx context.Context, s *session) Outcome {
	_, _, _, c, o := s.jwtToken(ctx)
	if o != nil {
		return *o
	}
	exp, okE := jsonNumber(c["exp"])
	iat, okI := jsonNumber(c["iat"])
	if !okE || !okI {
		return skipped("exp or iat is missing (see access_token.claims)")
	}
	if exp <= iat {
		return failed("exp %v is not after iat %v: the token was never valid", exp, iat)
	}
	return passed("lifetime %v s", exp-iat)
}

func checkATSignature(ctx context.Context, s *session) Outcome {
	md, tok, h, _, o := s.jwtToken(ctx)
	if o != nil {
		return *o
	}
	alg, _ := h["alg"].(string)
	if !slices.Contains(asymmetricAlgs, alg) {
		return failed("alg %q: access tokens must be signed with an asymmetric algorithm (never none or HS*)", alg)
	}
	if len(md.SigningAlgs) > 0 && !slices.Contains(md.SigningAlgs, alg) {
		return failed("alg %s is not in the metadata's access_token_signing_alg_values_supported %v", alg, md.SigningAlgs)
	}
	ks, err := s.keys(ctx, md)
	if err != nil {
		return skipped("no JWKS (see jwks.fetch): %v", err)
	}
	kid, _ := h["kid"].(string)
	var candidates []any
	for _, k := range ks.public {
		if (kid == "" || k.KeyID == kid) && (k.Algorithm == "" || k.Algorithm == alg) && (k.Use == "" || k.Use == "sig") {
			candidates = append(candidates, k.Key)
		}
	}
	if len(candidates) == 0 {
		return failed("no key in the JWKS for kid %q and alg %s", kid, alg)
	}
	p := jwt.NewParser(jwt.WithValidMethods([]string{alg}), jwt.WithoutClaimsValidation())
	var last error
	for _, key := range candidates {
		_, err := p.Parse(tok, func(*jwt.Token) (any, error) { return key, nil })
		if err == nil {
			return passed("%s, kid %s", alg, kid)
		}
		last = err
	}
	if errors.Is(last, jwt.ErrTokenSignatureInvalid) {
		return failed("the signature does not verify with the JWKS key for kid %q", kid)
	}
	return failed("the token does not verify: %v", last)
}
