package clientsecret

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"github.com/authz/authz/store"
)

// Prefix marks authz client secrets so that secret scanners can find leaked ones.
const Prefix = "azs_"

// MinBootstrapLen is the shortest operator-chosen secret accepted for the
// bootstrap admin client (SPEC §5).
const MinBootstrapLen = 32

// Hasher hashes and checks client secrets under one pepper.
type Hasher struct {
	pepper []byte
}

// NewHasher returns a Hasher keyed with pepper (32 bytes from
// masterkey.Key.Derive(masterkey.PurposeClientSecrets)).
func NewHasher(pepper []byte) *Hasher {
	return &Hasher{pepper: append([]byte(nil), pepper...)}
}

// Generate returns a new secret: Prefix and 256 random bits, base64url.
func Generate() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return Prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// Hash returns HMAC-SHA-256(pepper, secret).
func (h *Hasher) Hash(secret string) []byte {
	m := hmac.New(sha256.New, h.pepper)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// Match reports whether secret matches one of the client's secrets that has
// not expired at now.
func (h *Hasher) Match(c store.Client, secret string, now time.Time) bool {
	_, ok := h.MatchID(c, secret, now)
	return ok
}

// MatchID is Match that also says which secret matched (its ID), so that
// the use is recorded against it: during a rotation overlap the holder
// sees whether the outgoing secret is still in use. Every stored hash is
// compared, in constant time, so the time taken does not reveal which one
// matched.
func (h *Hasher) MatchID(c store.Client, secret string, now time.Time) (string, bool) {
	got := h.Hash(secret)
	id, ok := "", false
	for _, s := range c.Secrets {
		eq := hmac.Equal(got, s.Hash)
		live := s.ExpiresAt == nil || now.Before(*s.ExpiresAt)
		if eq && live {
			id, ok = s.ID, true
		}
	}
	return id, ok
}

// New returns a fresh secret and its stored form.
func (h *Hasher) New(now time.Time) (plain string, s store.ClientSecret) {
	plain = Generate()
	return plain, store.ClientSecret{ID: store.NewID(store.PrefixSecret), Hash: h.Hash(plain), CreatedAt: now}
}

// FromOperator returns the stored form of an operator-chosen secret (the
// bootstrap client's), refusing one shorter than MinBootstrapLen.
func (h *Hasher) FromOperator(plain string, now time.Time) (store.ClientSecret, error) {
	if len(plain) < MinBootstrapLen {
		return store.ClientSecret{}, errors.New("AUTHZ_BOOTSTRAP_CLIENT_SECRET must be at least 32 characters")
	}
	return store.ClientSecret{ID: store.NewID(store.PrefixSecret), Hash: h.Hash(plain), CreatedAt: now}, nil
}

// Rotate adds a new secret to c's list. The secrets already there expire
// after overlap (0: at once); if the list would exceed
// store.MaxClientSecrets, the oldest are dropped. It returns the new plain
// secret and the updated list.
func (h *Hasher) Rotate(c store.Client, overlap time.Duration, now time.Time) (string, []store.ClientSecret) {
	plain, fresh := h.New(now)
	end := now.Add(overlap)
	var kept []store.ClientSecret
	for _, s := range c.Secrets {
		if s.ExpiresAt != nil && !now.Before(*s.ExpiresAt) {
			continue // already expired: drop
		}
		if s.ExpiresAt == nil || s.ExpiresAt.After(end) {
			s.ExpiresAt = &end
		}
		kept = append(kept, s)
	}
	kept = append(kept, fresh)
	if len(kept) > store.MaxClientSecrets {
		kept = kept[len(kept)-store.MaxClientSecrets:]
	}
	return plain, kept
}
