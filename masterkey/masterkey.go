package masterkey

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Size is the master key length in bytes.
const Size = 32

// Purposes for Derive. Each yields an independent subkey; changing one of
// these strings makes everything sealed or hashed under it unreadable.
const (
	PurposeSigningKeys   = "authz signing-key encryption v1"
	PurposeLegacyKeys    = "authz legacy-key pepper v1"
	PurposeClientSecrets = "authz client-secret pepper v1"
	PurposeWebhooks      = "authz webhook signing v1"
	PurposeCheck         = "authz master-key check v1"
)

// ErrWrongKey means sealed data does not open under this master key: the
// server was started with a different AUTHZ_MASTER_KEY than the one that
// sealed it, or the data was altered.
var ErrWrongKey = errors.New("masterkey: data does not open under this master key (wrong AUTHZ_MASTER_KEY, or the stored data was altered)")

// Key is a parsed master key.
type Key struct {
	raw [Size]byte
}

// Parse accepts 32 bytes written as 64 hex characters or as standard or URL
// base64 (with or without padding).
func Parse(s string) (Key, error) {
	s = strings.TrimSpace(s)
	var k Key
	if b, err := hex.DecodeString(s); err == nil && len(b) == Size {
		copy(k.raw[:], b)
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == Size {
			copy(k.raw[:], b)
			return k, nil
		}
	}
	return Key{}, fmt.Errorf("master key must be %d bytes written as 64 hex characters or as base64 (44 characters); got %d characters (generate one with: openssl rand -hex 32)", Size, len(s))
}

// Generate returns a fresh random master key.
func Generate() Key {
	var k Key
	_, _ = rand.Read(k.raw[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return k
}

// String returns the key as hex, for writing to a key file. Never log it.
func (k Key) String() string { return hex.EncodeToString(k.raw[:]) }

// LoadOrCreateFile reads a master key from path, or creates the file with a
// new key (mode 0600) if it does not exist. created reports which happened.
func LoadOrCreateFile(path string) (k Key, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k, err = Parse(string(b))
		if err != nil {
			return Key{}, false, fmt.Errorf("master key file %s: %w", path, err)
		}
		return k, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return Key{}, false, fmt.Errorf("master key file: %w", err)
	}
	k = Generate()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) { // another process created it first
			return LoadOrCreateFile(path)
		}
		return Key{}, false, fmt.Errorf("create master key file: %w", err)
	}
	if _, err := f.WriteString(k.String() + "\n"); err != nil {
		f.Close()
		return Key{}, false, fmt.Errorf("write master key file: %w", err)
	}
	if err := f.Close(); err != nil {
		return Key{}, false, fmt.Errorf("write master key file: %w", err)
	}
	return k, true, nil
}

// Derive returns a 32-byte subkey for purpose.
func (k Key) Derive(purpose string) []byte {
	out, err := hkdf.Key(sha256.New, k.raw[:], nil, purpose, 32)
	if err != nil {
		panic("masterkey: hkdf: " + err.Error()) // only for lengths > 255*32
	}
	return out
}

// Sealer encrypts small records with AES-256-GCM under one derived subkey.
type Sealer struct {
	aead cipher.AEAD
}

// Sealer returns a Sealer for purpose.
func (k Key) Sealer(purpose string) *Sealer {
	block, err := aes.NewCipher(k.Derive(purpose))
	if err != nil {
		panic("masterkey: aes: " + err.Error()) // 32-byte key never fails
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic("masterkey: gcm: " + err.Error())
	}
	return &Sealer{aead: aead}
}

// Seal encrypts plaintext, binding it to aad (for example a key id, so a
// sealed blob cannot be moved to another row). Output: nonce || ciphertext.
func (s *Sealer) Seal(plaintext, aad []byte) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plaintext)+s.aead.Overhead())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plaintext, aad)
}

// Open decrypts what Seal produced with the same aad; ErrWrongKey otherwise.
func (s *Sealer) Open(sealed, aad []byte) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, ErrWrongKey
	}
	pt, err := s.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, ErrWrongKey
	}
	return pt, nil
}

// CheckValue returns a sealed marker to store once, so that a later start
// with another master key fails with ErrWrongKey from Verify before touching
// anything else.
func (k Key) CheckValue() string {
	return base64.RawStdEncoding.EncodeToString(k.Sealer(PurposeCheck).Seal([]byte("authz"), nil))
}

// Verify reports ErrWrongKey if check was not produced by CheckValue under k.
func (k Key) Verify(check string) error {
	b, err := base64.RawStdEncoding.DecodeString(check)
	if err != nil {
		return ErrWrongKey
	}
	_, err = k.Sealer(PurposeCheck).Open(b, nil)
	return err
}
