package legacykeys

import (
	"errors"
	"strings"
	"testing"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

func TestGenerate(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		key, id := Generate()
		if seen[key] {
			t.Fatal("Generate repeated a key")
		}
		seen[key] = true
		if !store.HasPrefix(id, store.PrefixKey) {
			t.Fatalf("id %q is not a key id", id)
		}
		p, err := Parse(key)
		if err != nil {
			t.Fatalf("Parse(Generate()) = %v", err)
		}
		if !p.Issued || p.ID != id || p.Raw != key {
			t.Fatalf("Parse(Generate()) = %+v, want issued key with id %s", p, id)
		}
		if strings.Contains(key, id) {
			t.Fatalf("key embeds the store id with its prefix: %q", key)
		}
	}
}

// TestGenerateSecretEntropy checks the secret part: 43 base62 characters
// carry 43·log2(62) ≈ 256.03 bits, and every character of the alphabet
// shows up (a broken sampler would skip some).
func TestGenerateSecretEntropy(t *testing.T) {
	counts := map[byte]int{}
	for range 200 {
		key, _ := Generate()
		secret := key[len(Prefix)+idLen+1 : len(key)-checksumLen]
		if len(secret) != secretLen {
			t.Fatalf("secret has %d characters, want %d", len(secret), secretLen)
		}
		for i := range len(secret) {
			counts[secret[i]]++
		}
	}
	if len(counts) != 62 {
		t.Fatalf("secrets used %d distinct characters, want all 62", len(counts))
	}
}

func TestParse(t *testing.T) {
	good, goodID := Generate()
	tests := []struct {
		name     string
		in       string
		issued   bool
		id       string
		wantDesc string // substring of the KeyMalformed description; "" = valid
	}{
		{"ok/issued", good, true, goodID, ""},
		{"ok/imported hex", "0123456789abcdef0123456789abcdef", false, "", ""},
		{"ok/imported with punctuation", "sk-live_AbC.12:3~x", false, "", ""},
		{"ok/imported shortest", "abcdefgh", false, "", ""},
		{"ok/imported longest", strings.Repeat("k", MaxKeyLen), false, "", ""},
		{"ok/imported that looks like a prefix in another case", "AZK_" + good[4:], false, "", ""},

		{"fail/empty", "", false, "", "empty"},
		{"fail/too long", strings.Repeat("k", MaxKeyLen+1), false, "", "at most 512"},
		{"fail/too short", "abc1234", false, "", "at least 8"},
		{"fail/trailing newline", good + "\n", false, "", "whitespace"},
		{"fail/leading space", " " + good, false, "", "whitespace"},
		{"fail/inner tab", "abcd\tefgh", false, "", "whitespace"},
		{"fail/control character", "abcd\x00efgh", false, "", "non-printable"},
		{"fail/non-ASCII", "clé-secrète-123", false, "", "non-ASCII"},
		{"fail/issued truncated", good[:len(good)-1], false, "", "truncated"},
		{"fail/issued extended", good + "x", false, "", "truncated"},
		{"fail/issued prefix only", Prefix, false, "", "truncated"},
		{"fail/issued bad id character", good[:5] + "1" + good[6:], false, "", "key id part"},
		{"fail/issued missing separator", good[:20] + "-" + good[21:], false, "", "'_'"},
		{"fail/issued bad secret character", good[:30] + "-" + good[31:], false, "", "secret part"},
		{"fail/issued bad checksum", good[:len(good)-1] + flip(good[len(good)-1]), false, "", "checksum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse(tt.in)
			if tt.wantDesc == "" {
				if err != nil {
					t.Fatalf("Parse = %v, want valid", err)
				}
				if p.Issued != tt.issued || p.ID != tt.id || p.Raw != tt.in {
					t.Fatalf("Parse = %+v, want issued=%v id=%q", p, tt.issued, tt.id)
				}
				return
			}
			e, ok := errcode.As(err)
			if !ok || e.Code != errcode.KeyMalformed {
				t.Fatalf("Parse error = %v, want key_malformed", err)
			}
			if !strings.Contains(e.Description, tt.wantDesc) {
				t.Fatalf("description %q does not say %q", e.Description, tt.wantDesc)
			}
			if len(tt.in) >= MinKeyLen && strings.Contains(e.Error(), strings.TrimSpace(tt.in)) {
				t.Fatalf("error echoes the key: %q", e.Error())
			}
		})
	}
}

// TestParseEveryTypo mistypes each character of an issued key in turn: the
// result must be key_malformed (caught by the format or the checksum),
// never a key that parses and would be looked up as key_unknown.
func TestParseEveryTypo(t *testing.T) {
	for range 20 {
		key, _ := Generate()
		for i := len(Prefix); i < len(key); i++ {
			for _, c := range []byte{flipByte(key[i]), nextSame(key[i])} {
				typo := key[:i] + string(c) + key[i+1:]
				if typo == key {
					continue
				}
				if _, err := Parse(typo); errcode.Of(err) != errcode.KeyMalformed {
					t.Fatalf("typo at position %d parses: %v", i+1, err)
				}
			}
		}
		// Two adjacent characters swapped: the commonest transcription error.
		for i := len(Prefix); i+1 < len(key); i++ {
			if key[i] == key[i+1] {
				continue
			}
			b := []byte(key)
			b[i], b[i+1] = b[i+1], b[i]
			if _, err := Parse(string(b)); errcode.Of(err) != errcode.KeyMalformed {
				t.Fatalf("transposition at position %d parses: %v", i+1, err)
			}
		}
	}
}

func flip(c byte) string { return string(flipByte(c)) }

// flipByte changes case, or a digit, keeping the character in base62.
func flipByte(c byte) byte {
	switch {
	case c >= 'a' && c <= 'z':
		return c - 'a' + 'A'
	case c >= 'A' && c <= 'Z':
		return c - 'A' + 'a'
	case c == '9':
		return '0'
	case c >= '0' && c <= '8':
		return c + 1
	}
	return 'x'
}

// nextSame returns the next character of the same class (a→b, 7→2 in the
// id's base32), so the typo stays inside the alphabet and only the checksum
// can catch it.
func nextSame(c byte) byte {
	switch {
	case c == 'z':
		return 'a'
	case c == 'Z':
		return 'A'
	case c == '7':
		return '2'
	case c == '9':
		return '0'
	}
	return c + 1
}

func TestHasher(t *testing.T) {
	h := NewHasher([]byte("pepper-0123456789abcdef-0123456789"))
	key := "legacy-key-0001"
	sum := "9f6e9b5a6f0c7f3d7a4a0f5ef0e7a3b1a2f4d9d3c4d1b2a0f9e8d7c6b5a49382" // not the digest of key
	got, err := h.HashFromSHA256Hex(sha256Hex(key))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(h.Hash(key)) {
		t.Fatal("hash from the SHA-256 hex differs from the hash of the key")
	}
	upper, err := h.HashFromSHA256Hex(strings.ToUpper(sha256Hex(key)))
	if err != nil || string(upper) != string(got) {
		t.Fatalf("upper-case hex: %v", err)
	}
	other, _ := h.HashFromSHA256Hex(sum)
	if string(other) == string(got) {
		t.Fatal("different digests hash alike")
	}
	if string(NewHasher([]byte("another pepper")).Hash(key)) == string(got) {
		t.Fatal("the pepper does not change the hash")
	}
	for _, bad := range []string{"", sum[:63], sum + "0", "zz" + sum[2:]} {
		_, err := h.HashFromSHA256Hex(bad)
		if e, ok := errcode.As(err); !ok || e.Code != errcode.RequestInvalid {
			t.Fatalf("HashFromSHA256Hex(%q) = %v, want request_invalid", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	good, _ := Generate()
	for _, s := range []string{"", good, good[:len(good)-1], "abcdefgh", "azk_", " x", "\xff\xfe", strings.Repeat("a", 600)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			var e *errcode.Error
			if !errors.As(err, &e) || e.Code != errcode.KeyMalformed || e.Description == "" {
				t.Fatalf("Parse(%q) error %v is not a described key_malformed", s, err)
			}
			return
		}
		if p.Raw != s {
			t.Fatalf("Raw = %q, want %q", p.Raw, s)
		}
		if len(s) < MinKeyLen || len(s) > MaxKeyLen {
			t.Fatalf("Parse accepted a key of length %d", len(s))
		}
		if p.Issued != strings.HasPrefix(s, Prefix) {
			t.Fatalf("Issued = %v for %q", p.Issued, s)
		}
		if p.Issued && (!store.HasPrefix(p.ID, store.PrefixKey) || checksum(s[:len(s)-checksumLen]) != s[len(s)-checksumLen:]) {
			t.Fatalf("accepted issued key %q with id %q", s, p.ID)
		}
	})
}
