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
