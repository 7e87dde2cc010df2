package store

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// ID prefixes make an identifier's kind visible in logs and audit events.
const (
	PrefixTenant    = "ten_"
	PrefixPrincipal = "prn_"
	PrefixClient    = "cli_"
	PrefixRole      = "rol_"
	PrefixKey       = "key_"
	PrefixSecret    = "sec_"
	PrefixEvent     = "evt_"
	PrefixWebhook   = "whk_"
	// PrefixKeyConflict names a cross-tenant key conflict (store.KeyClaim).
	PrefixKeyConflict = "kcf_"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// NewID returns prefix followed by 80 random bits (16 lowercase base32
// characters): unguessable enough for identifiers, short enough to type.
func NewID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("store: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return prefix + idEncoding.EncodeToString(b[:])
}

// HasPrefix reports whether id looks like an identifier of that kind.
func HasPrefix(id, prefix string) bool {
	return strings.HasPrefix(id, prefix) && len(id) == len(prefix)+16
}

// MaxClientIDLen is the longest client id authz accepts anywhere.
const MaxClientIDLen = 128

// WellFormedClientID reports whether id can name a client at all: 1 to
// MaxClientIDLen visible ASCII characters (RFC 6749 VSCHAR without the
// space). Generated ids and operator-chosen bootstrap ids both are; an id
// with a control character, a space or a non-ASCII byte is refused as
// malformed before it can reach the audit log or a terminal (issue 22 §4).
func WellFormedClientID(id string) bool {
	if id == "" || len(id) > MaxClientIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}
