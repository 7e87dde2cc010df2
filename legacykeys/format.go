package legacykeys

import (
	"crypto/rand"
	"hash/crc32"
	"strings"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// Prefix starts every key authz issues, so that secret scanners and people
// can recognise one, and so that Parse can hold it to the strict format.
const Prefix = "azk_"

// Issued keys look like
//
//	azk_<key id: 16 base32>_<secret: 43 base62><checksum: 6 base62>
//
// The key id is the store id without its "key_" prefix, so a key names
// itself in logs of the holder's side without revealing anything. The
// secret is 43 uniformly random base62 characters (256.03 bits). The
// checksum is the CRC-32 of everything before it, in base62: any single
// mistyped character changes it, so a typo is key_malformed (caught without
// a database read) rather than key_unknown.
const (
	idLen       = 16
	secretLen   = 43
	checksumLen = 6
	issuedLen   = len(Prefix) + idLen + 1 + secretLen + checksumLen

	// MinKeyLen and MaxKeyLen bound imported keys: a shorter key is
	// guessable, a longer one is not an API key but a mistake (or an attack
	// on the parser).
	MinKeyLen = 8
	MaxKeyLen = 512
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// Generate returns a new issued key and its store id. The key is shown to
// its holder once; only its hash is stored.
func Generate() (key, id string) {
	id = store.NewID(store.PrefixKey)
	return Format(id, randomBase62(secretLen)), id
}

// Format writes the issued key of store id with the given secret (43
// base62 characters) and its checksum. Generate is the only caller that
// should invent secrets; tests use Format to build a well-formed key with
// a known id and a wrong secret.
func Format(id, secret string) string {
	var b strings.Builder
	b.Grow(issuedLen)
	b.WriteString(Prefix)
	b.WriteString(strings.TrimPrefix(id, store.PrefixKey))
	b.WriteByte('_')
	b.WriteString(secret)
	b.WriteString(checksum(b.String()))
	return b.String()
}

// randomBase62 draws n uniform base62 characters from crypto/rand,
// rejecting bytes ≥ 248 (= 4·62) so that no character is more likely.
func randomBase62(n int) string {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
		for _, c := range buf {
			if c < 248 && len(out) < n {
				out = append(out, base62[c%62])
			}
		}
	}
	return string(out)
}

// checksum is CRC-32 (IEEE) of s as exactly checksumLen base62 digits.
func checksum(s string) string {
	v := uint64(crc32.ChecksumIEEE([]byte(s)))
	var out [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return string(out[:])
}

// Parsed is a syntactically valid key.
type Parsed struct {
	// Raw is the key as given. It is a secret: never log or echo it.
	Raw string
	// ID is the store id named by an issued key; "" for imported keys.
	ID string
	// Issued reports the authz format (Prefix, id, secret, checksum).
	Issued bool
}

// Parse checks the syntax of a presented key. Anything starting with Prefix
// must be a well-formed issued key; any other printable ASCII string of
// MinKeyLen to MaxKeyLen characters is taken as an imported key. Failures
// are *errcode.Error with code KeyMalformed and a description that says
// what is wrong without repeating any of the key.
func Parse(s string) (Parsed, error) {
	switch {
	case s == "":
		return Parsed{}, malformed("the key is empty")
	case len(s) > MaxKeyLen:
		return Parsed{}, malformed("the key is %d bytes long; keys are at most %d", len(s), MaxKeyLen)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
			return Parsed{}, malformed("the key contains whitespace or a line break at position %d; copy it without surrounding spaces", i+1)
		case c < 0x21 || c > 0x7e:
			return Parsed{}, malformed("the key contains a non-printable or non-ASCII character at position %d", i+1)
		}
	}
	if strings.HasPrefix(s, Prefix) {
		return parseIssued(s)
	}
	if len(s) < MinKeyLen {
		return Parsed{}, malformed("the key is %d characters long; keys are at least %d", len(s), MinKeyLen)
	}
	return Parsed{Raw: s}, nil
}

func parseIssued(s string) (Parsed, error) {
	if len(s) != issuedLen {
		return Parsed{}, malformed("an authz key (%s...) is %d characters long; this one has %d, so it was truncated or extended when copied", Prefix, issuedLen, len(s))
	}
	idEnd := len(Prefix) + idLen
	for i := len(Prefix); i < idEnd; i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return Parsed{}, malformed("the key id part of the key has an invalid character at position %d", i+1)
		}
	}
	if s[idEnd] != '_' {
		return Parsed{}, malformed("an authz key has '_' at position %d", idEnd+1)
	}
	for i := idEnd + 1; i < len(s); i++ {
		if strings.IndexByte(base62, s[i]) < 0 {
			return Parsed{}, malformed("the secret part of the key has an invalid character at position %d", i+1)
		}
	}
	body := s[:len(s)-checksumLen]
	if checksum(body) != s[len(body):] {
		return Parsed{}, malformed("the key's checksum does not match: a character was mistyped or changed when copied")
	}
	return Parsed{Raw: s, ID: store.PrefixKey + s[len(Prefix):idEnd], Issued: true}, nil
}

func malformed(format string, args ...any) *errcode.Error {
	return errcode.Newf(errcode.KeyMalformed, format, args...)
}
