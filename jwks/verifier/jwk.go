package verifier

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
)

// Algorithms the verifier can check. Symmetric algorithms and "none" are
// not in the list and cannot be configured: a verifier that accepts HS256
// can be fooled with the issuer's public key as the HMAC secret.
const (
	ES256 = "ES256"
	EdDSA = "EdDSA"
	RS256 = "RS256"
)

// DefaultAlgorithms are the algorithms authz signs with (SPEC §3).
func DefaultAlgorithms() []string { return []string{ES256, EdDSA, RS256} }

func supportedAlg(alg string) bool {
	return alg == ES256 || alg == EdDSA || alg == RS256
}

// minRSABits refuses RSA keys too short to be trusted (NIST SP 800-131A).
const minRSABits = 2048

// publicKey is one usable verification key: the alg it is bound to (so a
// token cannot pick another algorithm for the same kid) and the parsed key.
type publicKey struct {
	kid string
	alg string
	key crypto.PublicKey
}

func (k *publicKey) equal(o *publicKey) bool {
	if k.kid != o.kid || k.alg != o.alg {
		return false
	}
	eq, ok := k.key.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(o.key)
}

// privateMember reports whether a JWK member is one that only private or
// symmetric keys carry (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
func privateMember(name string) bool {
	switch name {
	case "d", "p", "q", "dp", "dq", "qi", "oth", "k":
		return true
	}
	return false
}

type jwkWire struct {
	Kty string `json:"kty"`
	Kid string `json:"kid"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Crv string `json:"crv"`
	X   string `json:"x"`
	Y   string `json:"y"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// parseJWKS parses a JWKS document into the keys usable with the allowed
// algorithms, by kid. Keys for other uses (enc), other algorithms or
// without a kid are skipped: they cannot verify an authz token. A document
// that carries private key material, or two keys under one kid, is refused
// whole: the endpoint is misconfigured or compromised and nothing it says
// can be trusted.
func parseJWKS(data []byte, allowed []string) (map[string]*publicKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	if doc.Keys == nil {
		return nil, errors.New("jwks: no \"keys\" member")
	}
	keys := make(map[string]*publicKey, len(doc.Keys))
	for i, raw := range doc.Keys {
		var members map[string]json.RawMessage
		if err := json.Unmarshal(raw, &members); err != nil {
			return nil, fmt.Errorf("jwks: key %d: %w", i, err)
		}
		for m := range members {
			if privateMember(m) {
				return nil, fmt.Errorf("jwks: key %d carries private member %q; refusing the whole key set", i, m)
			}
		}
		var w jwkWire
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, fmt.Errorf("jwks: key %d: %w", i, err)
		}
		if w.Kid == "" || (w.Use != "" && w.Use != "sig") {
			continue
		}
		pk, err := parseJWK(&w)
		if err != nil {
			return nil, fmt.Errorf("jwks: key %q: %w", w.Kid, err)
		}
		if pk == nil || !slices.Contains(allowed, pk.alg) {
			continue
		}
		if _, dup := keys[w.Kid]; dup {
			return nil, fmt.Errorf("jwks: kid %q appears twice", w.Kid)
		}
		keys[w.Kid] = pk
	}
	return keys, nil
}

// parseJWK returns the key, or nil if its type is not one we verify with.
// The alg is taken from the JWK when present and must fit the key type;
// otherwise it is implied by the key type, as each type here has exactly
// one algorithm.
func parseJWK(w *jwkWire) (*publicKey, error) {
	var (
		alg string
		key crypto.PublicKey
	)
	switch w.Kty {
	case "EC":
		if w.Crv != "P-256" {
			return nil, nil
		}
		alg = ES256
		x, err := decodeFixed(w.X, 32)
		if err != nil {
			return nil, fmt.Errorf("x: %w", err)
		}
		y, err := decodeFixed(w.Y, 32)
		if err != nil {
			return nil, fmt.Errorf("y: %w", err)
		}
		point := append(append([]byte{4}, x...), y...)
		// Refuses points off the curve (invalid-curve attacks).
		k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			return nil, err
		}
		key = k
	case "OKP":
		if w.Crv != "Ed25519" {
			return nil, nil
		}
		alg = EdDSA
		x, err := decodeFixed(w.X, ed25519.PublicKeySize)
		if err != nil {
			return nil, fmt.Errorf("x: %w", err)
		}
		key = ed25519.PublicKey(x)
	case "RSA":
		alg = RS256
		n, err := base64.RawURLEncoding.DecodeString(w.N)
		if err != nil || len(n) == 0 || n[0] == 0 {
			return nil, errors.New("n: not a base64url unsigned integer")
		}
		e, err := base64.RawURLEncoding.DecodeString(w.E)
		if err != nil || len(e) == 0 || len(e) > 4 || e[0] == 0 {
			return nil, errors.New("e: not a base64url unsigned integer")
		}
		var exp int
		for _, b := range e {
			exp = exp<<8 | int(b)
		}
		mod := new(big.Int).SetBytes(n)
		if mod.BitLen() < minRSABits {
			return nil, fmt.Errorf("RSA modulus of %d bits is below %d", mod.BitLen(), minRSABits)
		}
		if exp < 3 || exp%2 == 0 {
			return nil, fmt.Errorf("RSA exponent %d is invalid", exp)
		}
		key = &rsa.PublicKey{N: mod, E: exp}
	default:
		return nil, nil
	}
	if w.Alg != "" && w.Alg != alg {
		if supportedAlg(w.Alg) {
			return nil, fmt.Errorf("alg %q does not fit key type %s", w.Alg, w.Kty)
		}
		// An alg we do not verify with (PS256 on an RSA key, say): skip it.
		return nil, nil
	}
	return &publicKey{kid: w.Kid, alg: alg, key: key}, nil
}

func decodeFixed(s string, size int) ([]byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b) != size {
		return nil, fmt.Errorf("%d bytes, want %d", len(b), size)
	}
	return b, nil
}
