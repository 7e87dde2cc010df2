package console

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
	"time"

	"github.com/authz/authz/store"
)

// Links makes one-time sign-in links. It implements admin.ConsoleLinks; it
// is apart from Console so that the admin API can be built before the
// console that calls it.
type Links struct {
	base string
	now  func() time.Time
}

// NewLinks returns the link maker of a console reachable at baseURL.
func NewLinks(baseURL string, now func() time.Time) *Links {
	if now == nil {
		now = time.Now
	}
	return &Links{base: strings.TrimRight(baseURL, "/"), now: now}
}

// NewLink implements admin.ConsoleLinks.
func (l *Links) NewLink(ctx context.Context, tx store.Tx, principalID, createdBy string, ttl time.Duration) (string, time.Time, error) {
	code := newSecret()
	now := l.now().UTC().Truncate(time.Microsecond)
	exp := now.Add(ttl)
	err := tx.CreateConsoleSession(ctx, store.ConsoleSession{
		Hash: hashSecret(code), Kind: store.ConsoleLink, PrincipalID: principalID,
		CreatedAt: now, LastSeenAt: now, ExpiresAt: exp, CreatedBy: createdBy,
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return l.base + "/signin?code=" + url.QueryEscape(code), exp, nil
}

// newSecret returns 256 random bits, URL-safe.
func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// hashSecret is what the store keeps of a link code or session secret: a
// plain SHA-256 suffices for 256 random bits (no dictionary to try).
func hashSecret(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
