package conformance

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

// ParseAssertionKey reads a private_key_jwt client's private key: a JWK
// (JSON, with its kid and alg if it has them) or PEM (PKCS #8, SEC 1 or
// PKCS #1; no kid, so the server picks the key by algorithm). The signing
// algorithm is the JWK's alg, else ES256/ES384/ES512 by curve, EdDSA for
// Ed25519 and RS256 for RSA.
func ParseAssertionKey(data []byte) (*jose.JSONWebKey, error) {
	data = bytes.TrimSpace(data)
	if len(data) > 0 && data[0] == '{' {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(data); err != nil {
			return nil, fmt.Errorf("assertion key: not a valid JWK: %w", err)
		}
		if k.IsPublic() {
			return nil, errors.New("assertion key: the JWK is a public key; the private key is needed to sign assertions")
		}
		if k.Algorithm == "" {
			alg, err := algFor(k.Key)
			if err != nil {
				return nil, err
			}
			k.Algorithm = alg
		} else if !slices.Contains(asymmetricAlgs, k.Algorithm) {
			return nil, fmt.Errorf("assertion key: alg %q is not an asymmetric signature algorithm", k.Algorithm)
		}
		if k.Use != "" && k.Use != "sig" {
			return nil, fmt.Errorf("assertion key: use %q, want sig", k.Use)
		}
		return &k, nil
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("assertion key: neither a JWK nor PEM")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("assertion key: PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("assertion key: %w", err)
	}
	alg, err := algFor(key)
	if err != nil {
		return nil, err
	}
	k := &jose.JSONWebKey{Key: key, Algorithm: alg, Use: "sig"}
	if !k.Valid() {
		return nil, errors.New("assertion key: the key is not valid")
	}
	return k, nil
}

func algFor(key any) (string, error) {
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256():
			return "ES256", nil
		case elliptic.P384():
			return "ES384", nil
		case elliptic.P521():
			return "ES512", nil
		}
		return "", errors.New("assertion key: unsupported elliptic curve")
	case ed25519.PrivateKey:
		return "EdDSA", nil
	case *rsa.PrivateKey:
		if k.N.BitLen() < 2048 {
			return "", errors.New("assertion key: RSA keys must have at least 2048 bits")
		}
		return "RS256", nil
	}
	return "", fmt.Errorf("assertion key: unsupported key type %T", key)
}

// assertion signs a client assertion (RFC 7523 §3) with the configured
// key: iss and sub are the client id.
func (s *session) assertion(aud string, iat, exp time.Time, jti string) (string, error) {
	k := s.cfg.AssertionKey
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(k.Algorithm), Key: k},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("assertion signer: %w", err)
	}
	id := s.cfg.AssertionClientID
	claims := josejwt.Claims{
		Issuer: id, Subject: id, Audience: josejwt.Audience{aud}, ID: jti,
		IssuedAt: josejwt.NewNumericDate(iat), Expiry: josejwt.NewNumericDate(exp),
	}
	return josejwt.Signed(signer).Claims(claims).Serialize()
}

// needAssertion returns the metadata when private_key_jwt can be tested,
// or why not.
func (s *session) needAssertion(ctx context.Context) (*metadata, *Outcome) {
	md, o := s.needMetadata(ctx)
	if o != nil {
		return nil, o
	}
	if !slices.Contains(md.AuthMethods, authPrivateKeyJWT) {
		o := skipped("the server does not advertise private_key_jwt in token_endpoint_auth_methods_supported")
		return nil, &o
	}
	if s.cfg.AssertionKey == nil {
		o := skipped("no private_key_jwt client given (--assertion-client-id and --assertion-key)")
		return nil, &o
	}
	return md, nil
}

// assert sends a client-credentials request authenticated by assertion.
func (s *session) assert(ctx context.Context, md *metadata, assertion string) (*response, error) {
	form := url.Values{
		"grant_type":            {grantClientCredentials},
		"client_assertion_type": {assertionType},
		"client_assertion":      {assertion},
	}
	return s.postForm(ctx, md.TokenEndpoint, form, noAuth)
}

// sendAssertion signs an assertion with the given times and audience and
// sends it.
func (s *session) sendAssertion(ctx context.Context, md *metadata, aud string, iat, exp time.Time) (*response, error) {
	a, err := s.assertion(aud, iat, exp, "conformance-"+random())
	if err != nil {
		return nil, err
	}
	return s.assert(ctx, md, a)
}

// assertionRefused is the answer RFC 7523 §3.2 asks for: invalid_client,
// which RFC 6749 §5.2 lets a server send with 400 or 401.
func assertionRefused(r *response) Outcome {
	return refusal(r, []int{http.StatusBadRequest, http.StatusUnauthorized}, "invalid_client")
}

func checkAssertionAccepted(ctx context.Context, s *session) Outcome {
	md, o := s.needAssertion(ctx)
	if o != nil {
		return *o
	}
	now := s.now()
	r, err := s.sendAssertion(ctx, md, md.TokenEndpoint, now, now.Add(time.Minute))
	if err != nil {
		return failed("%v", err)
	}
	if r.status != http.StatusOK || r.str("access_token") == "" {
		return failed("a valid assertion (aud = token_endpoint, exp in 1 min, fresh jti) was refused: %s", r.summary())
	}
	return passed("%s", s.cfg.AssertionKey.Algorithm)
}

func checkAssertionReplay(ctx context.Context, s *session) Outcome {
	md, o := s.needAssertion(ctx)
	if o != nil {
		return *o
	}
	now := s.now()
	a, err := s.assertion(md.TokenEndpoint, now, now.Add(time.Minute), "conformance-"+random())
	if err != nil {
		return failed("%v", err)
	}
	first, err := s.assert(ctx, md, a)
	if err != nil {
		return failed("%v", err)
	}
	if first.status != http.StatusOK {
		return skipped("the assertion was refused on first use (see private_key_jwt.accepted): %s", first.summary())
	}
	second, err := s.assert(ctx, md, a)
	if err != nil {
		return failed("%v", err)
	}
	if second.str("access_token") != "" {
		return failed("the same assertion (same jti) was accepted twice: a stolen assertion can be replayed")
	}
	return assertionRefused(second)
}

func checkAssertionExpired(ctx context.Context, s *session) Outcome {
	md, o := s.needAssertion(ctx)
	if o != nil {
		return *o
	}
	// Expired ten minutes ago: beyond any reasonable clock-skew allowance.
	now := s.now()
	r, err := s.sendAssertion(ctx, md, md.TokenEndpoint, now.Add(-15*time.Minute), now.Add(-10*time.Minute))
	if err != nil {
		return failed("%v", err)
	}
	return assertionRefused(r)
}

func checkAssertionAudience(ctx context.Context, s *session) Outcome {
	md, o := s.needAssertion(ctx)
	if o != nil {
		return *o
	}
	now := s.now()
	r, err := s.sendAssertion(ctx, md, "https://conformance.invalid/oauth2/token", now, now.Add(time.Minute))
	if err != nil {
		return failed("%v", err)
	}
	return assertionRefused(r)
}
