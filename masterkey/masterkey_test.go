package masterkey

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	k := Generate()
	raw := k.raw[:]
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"hex", k.String(), true},
		{"hex with newline", k.String() + "\n", true},
		{"base64", base64.StdEncoding.EncodeToString(raw), true},
		{"raw url base64", base64.RawURLEncoding.EncodeToString(raw), true},
		{"empty", "", false},
		{"short hex", k.String()[:62], false},
		{"16 bytes", base64.StdEncoding.EncodeToString(raw[:16]), false},
		{"garbage", strings.Repeat("z", 64), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("Parse(%q) error = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if tt.ok && got != k {
				t.Fatalf("Parse(%q) returned another key", tt.in)
			}
			if !tt.ok && !strings.Contains(err.Error(), "64 hex characters") {
				t.Fatalf("error %q does not say which forms are accepted", err)
			}
		})
	}
}

func TestSealOpen(t *testing.T) {
	k := Generate()
	s := k.Sealer(PurposeSigningKeys)
	sealed := s.Seal([]byte("private"), []byte("kid-1"))
	if bytes.Contains(sealed, []byte("private")) {
		t.Fatal("sealed output contains the plaintext")
	}
	pt, err := s.Open(sealed, []byte("kid-1"))
	if err != nil || string(pt) != "private" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	if _, err := s.Open(sealed, []byte("kid-2")); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open with other aad = %v, want ErrWrongKey", err)
	}
	if _, err := Generate().Sealer(PurposeSigningKeys).Open(sealed, []byte("kid-1")); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open under another master key = %v, want ErrWrongKey", err)
	}
	if _, err := k.Sealer(PurposeWebhooks).Open(sealed, []byte("kid-1")); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open under another purpose = %v, want ErrWrongKey", err)
	}
	if _, err := s.Open(sealed[:5], nil); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Open of truncated data = %v, want ErrWrongKey", err)
	}
}

func TestDeriveSeparatesPurposes(t *testing.T) {
	k := Generate()
	if bytes.Equal(k.Derive(PurposeLegacyKeys), k.Derive(PurposeClientSecrets)) {
		t.Fatal("two purposes derived the same subkey")
	}
	if !bytes.Equal(k.Derive(PurposeLegacyKeys), k.Derive(PurposeLegacyKeys)) {
		t.Fatal("Derive is not deterministic")
	}
}

func TestCheckValue(t *testing.T) {
	k := Generate()
	check := k.CheckValue()
	if err := k.Verify(check); err != nil {
		t.Fatalf("Verify(own check) = %v", err)
	}
	if err := Generate().Verify(check); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("Verify with another key = %v, want ErrWrongKey", err)
	}
}

func TestLoadOrCreateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "authz.master-key")
	k1, created, err := LoadOrCreateFile(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreateFile = %v, created=%v", err, created)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, want 0600", fi.Mode().Perm())
	}
	k2, created, err := LoadOrCreateFile(path)
	if err != nil || created || k1 != k2 {
		t.Fatalf("second LoadOrCreateFile = %v, created=%v, same=%v", err, created, k1 == k2)
	}
	if err := os.WriteFile(path, []byte("nope"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("corrupt key file error = %v, want one naming the file", err)
	}
}
