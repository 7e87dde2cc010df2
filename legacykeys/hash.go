package legacykeys

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"

	"github.com/authz/authz/errcode"
)

// Hasher computes the stored form of a key: HMAC-SHA-256 under a pepper of
// the key's SHA-256 digest. Keys are either 256-bit random (issued) or
// imported as they are, so a slow password hash would cost every exchange
// without protecting the weak imported ones much; the pepper (derived from
// the master key, never stored) is what makes a stolen database useless for
// testing guesses. Hashing the digest rather than the key lets an import
// take the bare SHA-256 that an old system kept instead of the key.
type Hasher struct {
	pepper []byte
}

// NewHasher returns a Hasher keyed with pepper, which is
// masterkey.Key.Derive(masterkey.PurposeLegacyKeys).
func NewHasher(pepper []byte) *Hasher {
	return &Hasher{pepper: append([]byte(nil), pepper...)}
}

// Hash returns HMAC-SHA-256(pepper, SHA-256(key)).
func (h *Hasher) Hash(key string) []byte {
	d := sha256.Sum256([]byte(key))
	return h.mac(d[:])
}

// HashFromSHA256Hex returns what Hash would return for the key whose
// SHA-256 is hexDigest (64 hexadecimal characters, either case).
func (h *Hasher) HashFromSHA256Hex(hexDigest string) ([]byte, error) {
	if len(hexDigest) != 2*sha256.Size {
		return nil, errcode.Newf(errcode.RequestInvalid, "key_sha256 must be the 64 hexadecimal characters of the key's SHA-256; got %d characters", len(hexDigest))
	}
	d, err := hex.DecodeString(hexDigest)
	if err != nil {
		return nil, errcode.New(errcode.RequestInvalid, "key_sha256 must be the 64 hexadecimal characters of the key's SHA-256; it contains a character that is not hexadecimal")
	}
	return h.mac(d), nil
}

func (h *Hasher) mac(digest []byte) []byte {
	m := hmac.New(sha256.New, h.pepper)
	m.Write(digest)
	return m.Sum(nil)
}
