package verifier_test

import (
	"context"
	"testing"
	"time"

	"github.com/authz/authz/jwks/verifier"
	"github.com/authz/authz/jwks/verifier/verifiertest"
)

// BenchmarkVerifyStatusPaired is what the Token Status List check adds to
// Verify with the list cached (the warm path). Two verifiers of one
// issuer, identical but for the check, take turns (order rotated every
// iteration), each Verify timed, so that all see the same load:
//
//   - with: a token carrying a status claim, the check on;
//   - without: the same token, the check off;
//   - plain: the token without the claim, the check off (a gateway and an
//     issuer before status lists; the token is about 113 bytes shorter).
//
// full: the verified-token cache off, every Verify parses and checks the
// signature; cached: a token seen before, the verified-token cache on.
// It reports the three times and the ratios with/without (the check) and
// with/plain (the check and the longer token); 1.0 = no cost.
func BenchmarkVerifyStatusPaired(b *testing.B) {
	for _, mode := range []string{"full", "cached"} {
		b.Run(mode, func(b *testing.B) {
			iss := verifiertest.NewIssuer(b)
			clock := verifiertest.NewClock(start)
			k := iss.AddKey(b, verifier.ES256)
			iss.SetStatusList(verifiertest.StatusList{Now: clock.Now, Size: 1 << 20})
			cacheSize := -1
			if mode == "cached" {
				cacheSize = 0
			}
			newV := func(disabled bool) *verifier.Verifier {
				v, err := verifier.New(b.Context(), verifier.Config{Issuer: iss.URL, Audience: []string{audience}, Now: clock.Now,
					TokenCacheSize: cacheSize, StatusLists: verifier.StatusListConfig{Disabled: disabled}})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(v.Close)
				return v
			}
			with, without := newV(false), newV(true)
			claims := iss.Claims(start, audience)
			plain := k.Sign(b, claims, nil)
			claims["status"] = iss.StatusClaim(412345)
			referenced := k.Sign(b, claims, nil)
			ctx := context.Background()
			verify := func(v *verifier.Verifier, tok string) time.Duration {
				t0 := time.Now()
				c, err := v.Verify(ctx, tok)
				d := time.Since(t0)
				if err != nil || c == nil {
					b.Fatal(err)
				}
				return d
			}
			verify(with, referenced) // fetches the list
			verify(without, plain)
			verify(without, referenced)
			var t [3]time.Duration
			runs := [3]func() time.Duration{
				func() time.Duration { return verify(with, referenced) },
				func() time.Duration { return verify(without, referenced) },
				func() time.Duration { return verify(without, plain) },
			}
			i := 0
			for b.Loop() {
				for j := range 3 {
					k := (i + j) % 3
					t[k] += runs[k]()
				}
				i++
			}
			if hits := iss.StatusListHits(); hits != 1 {
				b.Fatalf("status list fetched %d times: not the warm path", hits)
			}
			n := float64(b.N)
			b.ReportMetric(float64(t[0].Nanoseconds())/n, "with-ns/op")
			b.ReportMetric(float64(t[1].Nanoseconds())/n, "without-ns/op")
			b.ReportMetric(float64(t[2].Nanoseconds())/n, "plain-ns/op")
			b.ReportMetric(float64(t[0])/float64(t[1]), "with/without")
			b.ReportMetric(float64(t[0])/float64(t[2]), "with/plain")
		})
	}
}

// BenchmarkStatusCheck is the check alone on the warm path (the clock read
// by Verify anyway): atomic loads, a string comparison and a bit read.
func BenchmarkStatusCheck(b *testing.B) {
	iss := verifiertest.NewIssuer(b)
	clock := verifiertest.NewClock(start)
	k := iss.AddKey(b, verifier.ES256)
	iss.SetStatusList(verifiertest.StatusList{Now: clock.Now, Size: 1 << 20})
	v, err := verifier.New(b.Context(), verifier.Config{Issuer: iss.URL, Now: clock.Now})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(v.Close)
	claims := iss.Claims(start)
	claims["status"] = iss.StatusClaim(412345)
	c, err := v.Verify(context.Background(), k.Sign(b, claims, nil))
	if err != nil {
		b.Fatal(err)
	}
	ctx, now := context.Background(), clock.Now()
	b.ReportAllocs()
	for b.Loop() {
		if err := verifier.CheckStatusLists(ctx, v, c, now); err != nil {
			b.Fatal(err)
		}
	}
}
