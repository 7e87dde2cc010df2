package clientsecret

import (
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

func TestGenerate(t *testing.T) {
	a, b := Generate(), Generate()
	if a == b {
		t.Fatal("two secrets are equal")
	}
	// 32 bytes base64url without padding = 43 characters: 256 bits.
	if !strings.HasPrefix(a, Prefix) || len(a) != len(Prefix)+43 {
		t.Fatalf("secret %q: want %s + 43 characters", a, Prefix)
	}
}

func TestMatchAndRotate(t *testing.T) {
	h := NewHasher([]byte("0123456789abcdef0123456789abcdef"))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	old, s := h.New(now)
	c := store.Client{Secrets: []store.ClientSecret{s}}
	if !h.Match(c, old, now) {
		t.Fatal("fresh secret does not match")
	}
	if h.Match(c, old+"x", now) || h.Match(c, "", now) {
		t.Fatal("wrong secret matches")
	}
	if string(s.Hash) == old || strings.Contains(string(s.Hash), old) {
		t.Fatal("hash contains the secret")
	}
	other := NewHasher([]byte("another pepper, another database!"))
	if other.Match(c, old, now) {
		t.Fatal("secret matches under another pepper")
	}

	fresh, list := h.Rotate(c, time.Hour, now)
	c.Secrets = list
	if len(list) != 2 {
		t.Fatalf("after rotation %d secrets, want 2", len(list))
	}
	freshID := list[1].ID
	for _, tc := range []struct {
		name   string
		secret string
		at     time.Time
		want   bool
		id     string // the secret MatchID names
	}{
		{"new secret now", fresh, now, true, freshID},
		{"old secret in overlap", old, now.Add(59 * time.Minute), true, s.ID},
		{"old secret after overlap", old, now.Add(time.Hour), false, ""},
		{"new secret after overlap", fresh, now.Add(24 * time.Hour), true, freshID},
		{"wrong secret", fresh + "x", now, false, ""},
	} {
		if got := h.Match(c, tc.secret, tc.at); got != tc.want {
			t.Errorf("%s: Match = %v, want %v", tc.name, got, tc.want)
		}
		if id, ok := h.MatchID(c, tc.secret, tc.at); ok != tc.want || id != tc.id {
			t.Errorf("%s: MatchID = %q %v, want %q %v", tc.name, id, ok, tc.id, tc.want)
		}
	}

	third, list := h.Rotate(c, 0, now.Add(time.Minute))
	c.Secrets = list
	if len(list) != store.MaxClientSecrets {
		t.Fatalf("after second rotation %d secrets, want %d", len(list), store.MaxClientSecrets)
	}
	if h.Match(c, old, now.Add(time.Minute)) {
		t.Fatal("oldest secret survived a second rotation")
	}
	if h.Match(c, fresh, now.Add(time.Minute)) {
		t.Fatal("rotation with zero overlap kept the previous secret")
	}
	if !h.Match(c, third, now.Add(time.Minute)) {
		t.Fatal("newest secret does not match")
	}
}

func TestFromOperator(t *testing.T) {
	h := NewHasher(make([]byte, 32))
	if _, err := h.FromOperator(strings.Repeat("a", 31), time.Now()); err == nil {
		t.Fatal("31-character bootstrap secret accepted")
	}
	s, err := h.FromOperator(strings.Repeat("a", 32), time.Now())
	if err != nil || !h.Match(store.Client{Secrets: []store.ClientSecret{s}}, strings.Repeat("a", 32), time.Now()) {
		t.Fatalf("32-character bootstrap secret: %v", err)
	}
}
