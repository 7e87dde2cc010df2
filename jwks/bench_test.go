package jwks

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"

	fjwt "github.com/ory/fosite/token/jwt"
)

// Run with: go test -run '^$' -bench . -benchmem -cpu 1 ./jwks/
//
// BenchmarkRawSign is the reference: the standard-library signature over a
// 420-byte signing input, about a typical access token's, which is the
// floor of the token endpoint's signing cost. BenchmarkSignToken and
// BenchmarkVerify are read as ratios to it, measured in the same run. (The
// claims below, with authz's full-length ids, make a ~500-byte signing
// input for ES256; hashing the extra 80 bytes costs well under 1% of a
// signature.)

var benchAlgs = []string{ES256, EdDSA, RS256}

// typicalClaims are an access token of SPEC §3's shape.
func typicalClaims() fjwt.MapClaims {
	now := time.Now()
	return fjwt.MapClaims{
		"iss":       "https://authz.example.com",
		"sub":       "cli_7wq3xk2mbd4nrt5a",
		"aud":       []string{"https://api.example.com"},
		"exp":       now.Add(5 * time.Minute).Unix(),
		"iat":       now.Unix(),
		"jti":       "0e645338-7b43-4a4e-9d1c-6c4e2f6a9b1d",
		"client_id": "cli_7wq3xk2mbd4nrt5a",
		"scope":     "orders:read",
		"tenant":    "ten_q4lp2x7m3kd9sa2b",
		"roles":     []string{"orders-writer"},
	}
}

func BenchmarkRawSign(b *testing.B) {
	msg := []byte(strings.Repeat("x", 420))
	for _, alg := range benchAlgs {
		m := detachedManager(b, alg)
		priv := m.snap.Load().current.private.Key
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				var err error
				switch k := priv.(type) {
				case *ecdsa.PrivateKey:
					h := sha256.Sum256(msg)
					_, _, err = ecdsa.Sign(rand.Reader, k, h[:])
				case ed25519.PrivateKey:
					_ = ed25519.Sign(k, msg)
				case *rsa.PrivateKey:
					h := sha256.Sum256(msg)
					_, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, h[:])
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkSignToken(b *testing.B) {
	ctx := context.Background()
	for _, alg := range benchAlgs {
		s := detachedManager(b, alg).Signer()
		claims := typicalClaims()
		header := &fjwt.Headers{}
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := s.Generate(ctx, claims, header); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	ctx := context.Background()
	for _, alg := range benchAlgs {
		m := detachedManager(b, alg)
		tok, _, err := m.Signer().Generate(ctx, typicalClaims(), nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(alg, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := m.Verify(ctx, tok, TypeAccessToken); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSignPaired measures the token signing path (Signer.Generate:
// claims to JSON, header, signature, serialization) against its two
// references in the same loop, one call each per iteration, timed apart:
// one raw signature over a token-sized input, and the previous path
// (the claims marshalled the same way, then go-jose's signer and
// CompactSerialize). It reports each per call and the ratios.
//
//	go test ./jwks -run '^$' -bench SignPaired -benchtime 3000x -count 5
func BenchmarkSignPaired(b *testing.B) {
	ctx := context.Background()
	for _, alg := range benchAlgs {
		m := detachedManager(b, alg)
		k := m.snap.Load().current
		s := m.Signer()
		claims := typicalClaims()
		msg := []byte(strings.Repeat("x", 420))
		b.Run(alg, func(b *testing.B) {
			var tNew, tOld, tRaw time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, _, err := s.Generate(ctx, claims, &fjwt.Headers{}); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				payload, err := json.Marshal(map[string]any(claims))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := signWithJose(k, payload, TypeAccessToken, (&fjwt.Headers{}).ToMap()); err != nil {
					b.Fatal(err)
				}
				t2 := time.Now()
				rawSign(b, k.private.Key, msg)
				t3 := time.Now()
				tNew, tOld, tRaw = tNew+t1.Sub(t0), tOld+t2.Sub(t1), tRaw+t3.Sub(t2)
			}
			n := float64(b.N)
			b.ReportMetric(float64(tNew)/n, "sign-ns")
			b.ReportMetric(float64(tOld)/n, "previous-ns")
			b.ReportMetric(float64(tRaw)/n, "raw-ns")
			b.ReportMetric(float64(tNew)/float64(tRaw), "sign/raw")
			b.ReportMetric(float64(tOld)/float64(tRaw), "previous/raw")
		})
	}
}

func rawSign(b *testing.B, priv any, msg []byte) {
	var err error
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		h := sha256.Sum256(msg)
		_, _, err = ecdsa.Sign(rand.Reader, k, h[:])
	case ed25519.PrivateKey:
		_ = ed25519.Sign(k, msg)
	case *rsa.PrivateKey:
		h := sha256.Sum256(msg)
		_, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, h[:])
	}
	if err != nil {
		b.Fatal(err)
	}
}
