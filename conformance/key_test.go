package conformance

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
)

func pemOf(t testing.TB, typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func pkcs8(t testing.TB, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemOf(t, "PRIVATE KEY", der)
}

func TestParseAssertionKey(t *testing.T) {
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	sec1, _ := x509.MarshalECPrivateKey(ec256)
	jwkPrivate, _ := json.Marshal(jose.JSONWebKey{Key: ec384, KeyID: "client-key-1", Algorithm: "ES384", Use: "sig"})
	jwkNoAlg, _ := json.Marshal(jose.JSONWebKey{Key: ed, KeyID: "ed"})
	jwkPublic, _ := json.Marshal(jose.JSONWebKey{Key: &ec256.PublicKey, KeyID: "pub"})
	jwkHS, _ := json.Marshal(jose.JSONWebKey{Key: ec256, Algorithm: "HS256"})
	cert := pemOf(t, "CERTIFICATE", []byte{0x30, 0x00})

	tests := []struct {
		name    string
		data    []byte
		wantAlg string
		wantKid string
		wantErr string
	}{
		{name: "PKCS #8 P-256", data: pkcs8(t, ec256), wantAlg: "ES256"},
		{name: "SEC 1 P-256", data: pemOf(t, "EC PRIVATE KEY", sec1), wantAlg: "ES256"},
		{name: "PKCS #8 P-384", data: pkcs8(t, ec384), wantAlg: "ES384"},
		{name: "PKCS #8 Ed25519", data: pkcs8(t, ed), wantAlg: "EdDSA"},
		{name: "PKCS #1 RSA", data: pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa2048)), wantAlg: "RS256"},
		{name: "JWK with kid and alg", data: jwkPrivate, wantAlg: "ES384", wantKid: "client-key-1"},
		{name: "JWK without alg", data: jwkNoAlg, wantAlg: "EdDSA", wantKid: "ed"},
		{name: "public JWK", data: jwkPublic, wantErr: "public key"},
		{name: "JWK with a symmetric alg", data: jwkHS, wantErr: "asymmetric"},
		{name: "short RSA key", data: pemOf(t, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsa1024)), wantErr: "2048"},
		{name: "certificate", data: cert, wantErr: "not a private key"},
		{name: "garbage", data: []byte("hello"), wantErr: "neither a JWK nor PEM"},
		{name: "empty", data: nil, wantErr: "neither a JWK nor PEM"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseAssertionKey(tt.data)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Algorithm != tt.wantAlg || k.KeyID != tt.wantKid {
				t.Fatalf("alg %q kid %q, want %q %q", k.Algorithm, k.KeyID, tt.wantAlg, tt.wantKid)
			}
			// The key signs an RFC 7523 assertion that its public half
			// verifies, with the claims a server checks.
			now := time.Unix(1_900_000_000, 0)
			s := newSession(Config{AssertionClientID: "cli_x", AssertionKey: k})
			a, err := s.assertion("https://as.example/token", now, now.Add(time.Minute), "jti-1")
			if err != nil {
				t.Fatal(err)
			}
			tok, err := josejwt.ParseSigned(a, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(tt.wantAlg)})
			if err != nil {
				t.Fatal(err)
			}
			var c josejwt.Claims
			if err := tok.Claims(k.Public().Key, &c); err != nil {
				t.Fatalf("the assertion does not verify with the public key: %v", err)
			}
			if c.Issuer != "cli_x" || c.Subject != "cli_x" || !c.Audience.Contains("https://as.example/token") || c.ID != "jti-1" ||
				!c.Expiry.Time().Equal(now.Add(time.Minute)) || !c.IssuedAt.Time().Equal(now) {
				t.Fatalf("claims %+v", c)
			}
			if tok.Headers[0].KeyID != tt.wantKid {
				t.Errorf("header kid %q, want %q", tok.Headers[0].KeyID, tt.wantKid)
			}
		})
	}
}

func FuzzParseAssertionKey(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: ec, KeyID: "k", Algorithm: "ES256"})
	pub, _ := json.Marshal(jose.JSONWebKey{Key: &ec.PublicKey})
	for _, seed := range [][]byte{pkcs8(f, ec), pkcs8(f, ed), jwk, pub, []byte("{}"), []byte(`{"kty":"oct","k":"AAAA"}`),
		[]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), nil} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseAssertionKey(data)
		if err != nil {
			return
		}
		if k.IsPublic() || !k.Valid() {
			t.Fatalf("accepted an unusable key: public %v valid %v", k.IsPublic(), k.Valid())
		}
		if !slices.Contains(asymmetricAlgs, k.Algorithm) {
			t.Fatalf("accepted algorithm %q", k.Algorithm)
		}
	})
}

func FuzzJWTParts(f *testing.F) {
	for _, seed := range []string{
		"eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCJ9.eyJpc3MiOiJodHRwczovL2FzIiwiZXhwIjoxfQ.c2ln",
		"a.b.c", "..", "", "eyJ9.e30.", "e30.e30.e30.e30",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, token string) {
		h, c, ok := jwtParts(token)
		if !ok {
			return
		}
		if h == nil || c == nil || strings.Count(token, ".") != 2 {
			t.Fatalf("accepted %q with header %v claims %v", token, h, c)
		}
	})
}
