package verifier_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/jwks/verifier"
	"github.com/authz/authz/jwks/verifier/verifiertest"
)

// benchToken returns a verifier with a warm key cache and a token of the
// shape authz issues (SPEC §3 claims) signed with alg. Unless cached is
// set, the verified-token cache is off: every Verify does the whole work.
func benchToken(b *testing.B, alg string, cached bool) (*verifier.Verifier, *verifiertest.Key, string) {
	b.Helper()
	iss := verifiertest.NewIssuer(b)
	clock := verifiertest.NewClock(start)
	k := iss.AddKey(b, alg)
	cacheSize := -1
	if cached {
		cacheSize = 0 // default
	}
	v, err := verifier.New(b.Context(), verifier.Config{Issuer: iss.URL, Audience: []string{audience}, Now: clock.Now, TokenCacheSize: cacheSize})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(v.Close)
	tok := k.Sign(b, iss.Claims(start, audience), nil)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		b.Fatal(err)
	}
	return v, k, tok
}

// BenchmarkVerify is the full check a gateway makes per request (parse,
// header checks, key lookup, signature, claims) with a warm key cache and
// no verified-token cache. Compare with BenchmarkRawVerify of the same
// alg, run with -cpu 1.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range verifier.DefaultAlgorithms() {
		b.Run(alg, func(b *testing.B) {
			v, _, tok := benchToken(b, alg, false)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawVerify is the floor: the standard library verifying the same
// token's signature over its signing input, with the key and signature
// already decoded (SHA-256 included, as it is part of the algorithm).
func BenchmarkRawVerify(b *testing.B) {
	for _, alg := range verifier.DefaultAlgorithms() {
		b.Run(alg, func(b *testing.B) {
			_, k, tok := benchToken(b, alg, false)
			verify := rawVerifier(b, k, tok)
			b.ReportAllocs()
			for b.Loop() {
				if !verify() {
					b.Fatal("signature does not verify")
				}
			}
		})
	}
}

// BenchmarkVerifyPaired alternates one Verify and one raw verification of
// the same token and times each, so that both see the same machine load;
// it reports their per-operation times and the ratio raw/verify (1.0 means
// Verify costs no more than the signature check itself).
func BenchmarkVerifyPaired(b *testing.B) {
	for _, alg := range verifier.DefaultAlgorithms() {
		b.Run(alg, func(b *testing.B) {
			v, k, tok := benchToken(b, alg, false)
			raw := rawVerifier(b, k, tok)
			ctx := context.Background()
			var tVerify, tRaw time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				if !raw() {
					b.Fatal("signature does not verify")
				}
				t2 := time.Now()
				tVerify += t1.Sub(t0)
				tRaw += t2.Sub(t1)
			}
			b.ReportMetric(float64(tVerify.Nanoseconds())/float64(b.N), "verify-ns/op")
			b.ReportMetric(float64(tRaw.Nanoseconds())/float64(b.N), "raw-ns/op")
			b.ReportMetric(float64(tRaw)/float64(tVerify), "raw/verify")
		})
	}
}

// BenchmarkVerifyCached is Verify of a token seen before, with the
// verified-token cache on (the default): what a client reusing its token
// costs the gateway after the first request.
func BenchmarkVerifyCached(b *testing.B) {
	for _, alg := range verifier.DefaultAlgorithms() {
		b.Run(alg, func(b *testing.B) {
			v, _, tok := benchToken(b, alg, true)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func rawVerifier(b *testing.B, k *verifiertest.Key, tok string) func() bool {
	b.Helper()
	i := strings.LastIndexByte(tok, '.')
	input := []byte(tok[:i])
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	switch pub := k.Public().(type) {
	case *ecdsa.PublicKey:
		der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])})
		if err != nil {
			b.Fatal(err)
		}
		return func() bool {
			h := sha256.Sum256(input)
			return ecdsa.VerifyASN1(pub, h[:], der)
		}
	case ed25519.PublicKey:
		return func() bool { return ed25519.Verify(pub, input, sig) }
	case *rsa.PublicKey:
		return func() bool {
			h := sha256.Sum256(input)
			return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], sig) == nil
		}
	}
	b.Fatalf("unsupported key %T", k.Public())
	return nil
}
