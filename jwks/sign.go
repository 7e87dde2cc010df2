package jwks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/authz/authz/errcode"
)

// TypeAccessToken is the JWT type of RFC 9068 access tokens.
const TypeAccessToken = "at+jwt"

// maxTokenSize bounds what Verify parses; authz's tokens are far smaller.
const maxTokenSize = 16 << 10

// verifyAlgs is the algorithm allow-list of every verification: the
// asymmetric algorithms authz signs with. "none" and HS* never pass, and a
// token must also name the algorithm of the key its kid designates.
var verifyAlgs = []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256}

// errNotReady is returned when no current key is loaded (Init not run, or
// the store has been unreachable since start).
var errNotReady = errcode.New(errcode.Unavailable, "No signing key is loaded yet; retry shortly.")

// Sign signs claims (marshalled as JSON) with the current key. The header
// is alg, kid and typ. Use it for JWTs other than access tokens (status
// lists, for instance), with their own typ.
func (m *Manager) Sign(ctx context.Context, claims any, typ string) (string, error) {
	if typ == "" {
		return "", errors.New("jwks: Sign needs a typ")
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("jwks: encode claims: %w", err)
	}
	return m.signPayload(payload, typ, nil)
}

// signPayload signs with the current key of the loaded snapshot. A replica
// that has not reloaded since another rotated keeps signing with its
// previous current key for at most ReloadInterval; that key is retired, so
// it is still published.
func (m *Manager) signPayload(payload []byte, typ string, extra map[string]any) (string, error) {
	s := m.snap.Load()
	if s == nil || s.current == nil {
		return "", errNotReady
	}
	if len(extra) == 0 {
		c, err := s.current.compact(typ)
		if err != nil {
			return "", err
		}
		tok, err := c.sign(payload)
		if err != nil {
			return "", fmt.Errorf("jwks: sign with key %s: %w", s.current.kid, err)
		}
		return tok, nil
	}
	return signWithJose(s.current, payload, typ, extra)
}

// signWithJose signs through go-jose: the path for headers with members
// beyond alg, kid and typ, and the reference the compact signer is held to.
func signWithJose(k *material, payload []byte, typ string, extra map[string]any) (string, error) {
	var signer jose.Signer
	var err error
	if len(extra) == 0 {
		signer, err = k.signer(typ)
	} else {
		signer, err = k.newSigner(typ, extra)
	}
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("jwks: sign with key %s: %w", k.kid, err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("jwks: serialize token: %w", err)
	}
	return tok, nil
}

// Verify checks token's signature against the published key its kid names
// (next, current or retired), with an explicit algorithm allow-list, and
// checks its typ header against typ (case-insensitively; the
// "application/" prefix is optional, so "at+jwt" also accepts
// "application/at+jwt"). It returns the claims, which it does NOT validate:
// the caller checks exp, iss, aud and the rest. Every refusal is an
// *errcode.Error with code TokenInvalid.
func (m *Manager) Verify(ctx context.Context, token, typ string) (claims []byte, kid string, err error) {
	v, err := m.verify(token, typ)
	if err != nil {
		return nil, "", err
	}
	return v.payload, v.kid, nil
}

// verified is a token whose signature, algorithm and typ passed.
type verified struct {
	payload []byte
	kid     string
	alg     string
	header  jose.Header
}

func invalid(description string, cause error) error {
	return errcode.Wrap(errcode.TokenInvalid, cause, description)
}

func (m *Manager) verify(token, typ string) (verified, error) {
	if len(token) > maxTokenSize {
		return verified{}, invalid("The token is too large.", errMalformed)
	}
	if !canonical(token) {
		return verified{}, invalid("The token is not a well-formed signed JWT.", errMalformed)
	}
	jws, err := jose.ParseSignedCompact(token, verifyAlgs)
	if err != nil {
		var alg *jose.ErrUnexpectedSignatureAlgorithm
		if errors.As(err, &alg) {
			return verified{}, invalid("The token's signing algorithm is not accepted.", err)
		}
		return verified{}, invalid("The token is not a well-formed signed JWT.", fmt.Errorf("%w: %w", errMalformed, err))
	}
	if len(jws.Signatures) != 1 {
		return verified{}, invalid("The token must carry exactly one signature.", errMalformed)
	}
	h := jws.Signatures[0].Header
	for _, name := range []jose.HeaderKey{"crit", "b64"} {
		if _, ok := h.ExtraHeaders[name]; ok {
			return verified{}, invalid("The token's header has a member authz does not accept ("+string(name)+").", errMalformed)
		}
	}
	if !typMatches(h.ExtraHeaders[jose.HeaderType], typ) {
		return verified{}, invalid(fmt.Sprintf("The token's typ header is not %q.", typ), errWrongType)
	}
	s := m.snap.Load()
	if s == nil {
		return verified{}, errNotReady
	}
	k := s.keys[h.KeyID]
	if k == nil {
		return verified{}, invalid("The token was not signed by a published key (unknown kid).", nil)
	}
	if h.Algorithm != string(k.alg) {
		return verified{}, invalid("The token's alg does not match its key.", nil)
	}
	payload, err := jws.Verify(&k.public)
	if err != nil {
		return verified{}, invalid("The token's signature is invalid.", err)
	}
	if len(payload) == 0 || payload[0] != '{' || !json.Valid(payload) {
		return verified{}, invalid("The token's claims are not a JSON object.", errMalformed)
	}
	return verified{payload: payload, kid: k.kid, alg: h.Algorithm, header: h}, nil
}

// typMatches compares a typ header with the wanted type as RFC 7515
// §4.1.9 says: media types are case-insensitive and "application/" may be
// omitted.
func typMatches(got any, want string) bool {
	s, ok := got.(string)
	if !ok {
		return false
	}
	return strings.EqualFold(trimApplication(s), trimApplication(want))
}

func trimApplication(typ string) string {
	const prefix = "application/"
	if len(typ) > len(prefix) && strings.EqualFold(typ[:len(prefix)], prefix) {
		return typ[len(prefix):]
	}
	return typ
}

// canonical reports whether every segment of a compact JWS is canonical
// base64url: Go's decoder ignores non-zero padding bits, which would let
// one signed token be written several ways, defeating anything keyed by
// the token string.
func canonical(token string) bool {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for seg := range strings.SplitSeq(token, ".") {
		if len(seg) == 0 {
			continue
		}
		unused := 0
		switch len(seg) % 4 {
		case 1:
			return false
		case 2:
			unused = 0x0f
		case 3:
			unused = 0x03
		}
		i := strings.IndexByte(alphabet, seg[len(seg)-1])
		if i < 0 || i&unused != 0 {
			return false
		}
	}
	return true
}
