package jwks

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	jose3 "github.com/go-jose/go-jose/v3"
	fjwt "github.com/ory/fosite/token/jwt"
)

// Signer issues and checks RFC 9068 access tokens for fosite: use it as
// oauth2.DefaultJWTStrategy.Signer. Unlike fosite's DefaultSigner, which
// verifies with whatever key signs now, Decode and Validate find the key
// by kid among all published keys, so tokens survive a rotation; they also
// verify EdDSA, check typ and refuse algorithms outside the allow-list.
//
// fosite's token types are built on go-jose v3; the Signer verifies with
// go-jose v4 and only hands fosite the decoded header and claims.
type Signer struct {
	m *Manager
}

var _ fjwt.Signer = (*Signer)(nil)

// Signer returns the fosite signer backed by m's keys.
func (m *Manager) Signer() *Signer { return &Signer{m: m} }

// reservedHeader reports the header members a fosite session may not set:
// alg, kid and typ are the signer's, and the rest would let a token point
// a verifier at another key or change how it is processed.
func reservedHeader(name string) bool {
	switch name {
	case "alg", "kid", "typ", "cty", "crit", "b64", "zip", "jku", "jwk", "x5u", "x5c", "x5t", "x5t#S256":
		return true
	}
	return false
}

// Causes that tell fosite's error mapping what kind of failure a refusal
// is; anything else is a signature failure.
var (
	errMalformed = errors.New("malformed token")
	errWrongType = errors.New("wrong token type")
)

// Generate signs claims as an at+jwt access token with the current key and
// returns the token and its signature (third segment), which fosite uses as
// the storage key. Header members from the session are kept, except the
// reserved ones: the session cannot override alg, kid or typ.
func (s *Signer) Generate(ctx context.Context, claims fjwt.MapClaims, header fjwt.Mapper) (string, string, error) {
	if claims == nil {
		return "", "", errors.New("jwks: nil claims")
	}
	payload, err := json.Marshal(map[string]any(claims))
	if err != nil {
		return "", "", fmt.Errorf("jwks: encode claims: %w", err)
	}
	var extra map[string]any
	// fosite's Headers.ToMap builds two maps per call; a session that
	// sets no header member (every token authz issues) skips them.
	if h, ok := header.(*fjwt.Headers); ok && len(h.Extra) == 0 {
		header = nil
	}
	if header != nil {
		for k, v := range header.ToMap() {
			if reservedHeader(k) {
				continue
			}
			if extra == nil {
				extra = make(map[string]any)
			}
			extra[k] = v
		}
	}
	tok, err := s.m.signPayload(payload, TypeAccessToken, extra)
	if err != nil {
		return "", "", err
	}
	return tok, tok[strings.LastIndexByte(tok, '.')+1:], nil
}

// Decode verifies token (kid lookup over the published keys, algorithm
// allow-list, typ at+jwt) and returns it as fosite's Token: the header with
// alg, kid and typ, and the claims decoded the way fosite decodes them
// (integers as int64). Like fosite's DefaultSigner it then checks exp, iat
// and nbf, here against the Manager's clock with ClockSkew leeway, and on
// failure returns the token together with a *jwt.ValidationError.
//
// Errors are *jwt.ValidationError, which fosite maps to RFC 6749 errors;
// their Inner is the *errcode.Error that Verify would return. The returned
// Token's Valid method reports false: fosite does not consult it.
func (s *Signer) Decode(ctx context.Context, token string) (*fjwt.Token, error) {
	v, err := s.m.verify(token, TypeAccessToken)
	if err != nil {
		flag := fjwt.ValidationErrorSignatureInvalid
		switch {
		case errors.Is(err, errMalformed):
			flag = fjwt.ValidationErrorMalformed
		case errors.Is(err, errWrongType):
			flag = fjwt.ValidationErrorClaimsInvalid
		case errors.Is(err, errNotReady):
			flag = fjwt.ValidationErrorUnverifiable
		}
		return nil, &fjwt.ValidationError{Errors: flag, Inner: err}
	}
	claims := fjwt.MapClaims{}
	if err := claims.UnmarshalJSON(v.payload); err != nil {
		return nil, &fjwt.ValidationError{Errors: fjwt.ValidationErrorMalformed, Inner: invalid("The token's claims are not a JSON object.", err)}
	}
	header := map[string]any{"alg": v.alg, "kid": v.kid}
	for k, val := range v.header.ExtraHeaders {
		header[string(k)] = val
	}
	tok := &fjwt.Token{Header: header, Claims: claims, Method: jose3.SignatureAlgorithm(v.alg)}
	if err := s.m.checkTimes(claims); err != nil {
		return tok, err
	}
	return tok, nil
}

// checkTimes validates exp, iat and nbf when present, with ClockSkew leeway.
func (m *Manager) checkTimes(c fjwt.MapClaims) error {
	now := m.cfg.Now().Unix()
	skew := int64(m.cfg.ClockSkew.Seconds())
	ve := &fjwt.ValidationError{}
	if !c.VerifyExpiresAt(now-skew, false) {
		ve.Errors |= fjwt.ValidationErrorExpired
		ve.Inner = invalid("The token has expired.", nil)
	}
	if !c.VerifyIssuedAt(now+skew, false) {
		ve.Errors |= fjwt.ValidationErrorIssuedAt
		ve.Inner = invalid("The token was issued in the future.", nil)
	}
	if !c.VerifyNotBefore(now+skew, false) {
		ve.Errors |= fjwt.ValidationErrorNotValidYet
		ve.Inner = invalid("The token is not valid yet.", nil)
	}
	if ve.Errors != 0 {
		return ve
	}
	return nil
}

// Validate verifies token as Decode does and returns its signature.
func (s *Signer) Validate(ctx context.Context, token string) (string, error) {
	if _, err := s.Decode(ctx, token); err != nil {
		return "", err
	}
	return s.GetSignature(ctx, token)
}

// GetSignature returns the token's third segment.
func (s *Signer) GetSignature(ctx context.Context, token string) (string, error) {
	if strings.Count(token, ".") != 2 {
		return "", errors.New("jwks: a JWT has three segments")
	}
	return token[strings.LastIndexByte(token, '.')+1:], nil
}

// Hash returns the SHA-256 of in.
func (s *Signer) Hash(ctx context.Context, in []byte) ([]byte, error) {
	sum := sha256.Sum256(in)
	return sum[:], nil
}

// GetSigningMethodLength is the length of Hash's output.
func (s *Signer) GetSigningMethodLength(ctx context.Context) int { return sha256.Size }
