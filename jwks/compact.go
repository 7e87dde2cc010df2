package jwks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// compactSigner writes a compact JWS (RFC 7515 §7.1) with a protected
// header encoded once per key and type: per token it encodes the payload,
// makes one signature call over the signing input and appends the
// signature, in one buffer. go-jose's signer, which it replaces on the
// token path, builds the header as a map and marshals it, and builds a
// JSONWebSignature object before serializing it, on every token (measured:
// about a quarter of the signing path's CPU beside the signature itself).
//
// The header bytes are those go-jose writes for the same key and typ
// (members alg, kid, typ in that order: go-jose marshals a map), which the
// golden test holds it to, so tokens are byte-compatible apart from the
// signature, which is randomized for ES256 anyway.
type compactSigner struct {
	header []byte // base64url of the header JSON
	alg    jose.SignatureAlgorithm
	ec     *ecdsa.PrivateKey
	ed     ed25519.PrivateKey
	rsa    *rsa.PrivateKey
}

// compactHeader is the protected header as go-jose writes it.
type compactHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

func newCompactSigner(k *material, typ string) (*compactSigner, error) {
	raw, err := json.Marshal(compactHeader{Alg: string(k.alg), Kid: k.kid, Typ: typ})
	if err != nil {
		return nil, fmt.Errorf("jwks: header for key %s: %w", k.kid, err)
	}
	c := &compactSigner{header: base64.RawURLEncoding.AppendEncode(nil, raw), alg: k.alg}
	switch key := k.private.Key.(type) {
	case *ecdsa.PrivateKey:
		if k.alg != jose.ES256 || key.Curve.Params().BitSize != 256 {
			return nil, fmt.Errorf("jwks: key %s: %s with a P-%d key", k.kid, k.alg, key.Curve.Params().BitSize)
		}
		c.ec = key
	case ed25519.PrivateKey:
		if k.alg != jose.EdDSA {
			return nil, fmt.Errorf("jwks: key %s: %s with an Ed25519 key", k.kid, k.alg)
		}
		c.ed = key
	case *rsa.PrivateKey:
		if k.alg != jose.RS256 {
			return nil, fmt.Errorf("jwks: key %s: %s with an RSA key", k.kid, k.alg)
		}
		c.rsa = key
	default:
		return nil, fmt.Errorf("jwks: key %s: unsupported private key %T", k.kid, k.private.Key)
	}
	return c, nil
}

// sign returns header.payload.signature.
func (c *compactSigner) sign(payload []byte) (string, error) {
	enc := base64.RawURLEncoding
	sigLen := 64 // ES256: r and s, 32 bytes each (RFC 7518 §3.4); EdDSA: 64
	if c.rsa != nil {
		sigLen = c.rsa.Size()
	}
	buf := make([]byte, 0, len(c.header)+1+enc.EncodedLen(len(payload))+1+enc.EncodedLen(sigLen))
	buf = append(buf, c.header...)
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, payload)
	input := buf
	var sig []byte
	switch {
	case c.ec != nil:
		h := sha256.Sum256(input)
		r, s, err := ecdsa.Sign(rand.Reader, c.ec, h[:])
		if err != nil {
			return "", fmt.Errorf("jwks: ES256 signature: %w", err)
		}
		var rs [64]byte
		r.FillBytes(rs[:32])
		s.FillBytes(rs[32:])
		sig = rs[:]
	case c.ed != nil:
		sig = ed25519.Sign(c.ed, input)
	default:
		h := sha256.Sum256(input)
		var err error
		if sig, err = rsa.SignPKCS1v15(nil, c.rsa, crypto.SHA256, h[:]); err != nil {
			return "", fmt.Errorf("jwks: RS256 signature: %w", err)
		}
	}
	buf = append(buf, '.')
	buf = enc.AppendEncode(buf, sig)
	return string(buf), nil
}

// compact returns the cached compact signer for tokens of type typ.
func (k *material) compact(typ string) (*compactSigner, error) {
	if s, ok := k.compacts.Load(typ); ok {
		return s.(*compactSigner), nil
	}
	s, err := newCompactSigner(k, typ)
	if err != nil {
		return nil, err
	}
	actual, _ := k.compacts.LoadOrStore(typ, s)
	return actual.(*compactSigner), nil
}
