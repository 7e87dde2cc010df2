package gateway_test

import (
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/authz/authz/gateway"
	"github.com/authz/authz/jwks/verifier"
)

// BenchmarkProxyRoundTrip measures what the gateway adds to a request on
// loopback: each iteration sends one request straight to the upstream and
// one through the proxy (verification and forwarding included), over
// keep-alive connections, and the benchmark reports the median latency of
// each and their difference. Interleaving makes both see the same load.
//
// token: a client reusing its token (the verifier's token cache hits);
// token_uncached: the verifier's token cache off, so every request pays a
// full ES256 verification; legacy_key: a legacy key whose exchanged token
// is cached.
func BenchmarkProxyRoundTrip(b *testing.B) {
	for _, cred := range []string{"token", "token_uncached", "legacy_key"} {
		b.Run(cred, func(b *testing.B) {
			f := newProxy(b, func(c *gateway.Config) {
				if cred != "token_uncached" {
					return
				}
				issuer := c.Verifier.(*verifier.Verifier).Metadata().Issuer
				v, err := verifier.New(b.Context(), verifier.Config{Issuer: issuer, Audience: []string{audience}, Now: c.Now, TokenCacheSize: -1})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(v.Close)
				c.Verifier = v
			})
			f.authz.setKey("lk_bench", legacyKey{id: "bench", owner: "p"})
			header := http.Header{"Authorization": {"Bearer " + f.authz.validToken(b, nil)}}
			if cred == "legacy_key" {
				header = http.Header{"X-Api-Key": {"lk_bench"}}
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
			do := func(url string, h http.Header) time.Duration {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				req.Header = h
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				d := time.Since(t0)
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
				return d
			}
			// Warm up connections and the token cache.
			do(f.upstream.srv.URL+"/orders", http.Header{})
			do(f.srv.URL+"/orders", header)

			var direct, proxied []time.Duration
			for b.Loop() {
				direct = append(direct, do(f.upstream.srv.URL+"/orders", http.Header{}))
				proxied = append(proxied, do(f.srv.URL+"/orders", header))
			}
			d, p := median(direct), median(proxied)
			b.ReportMetric(float64(d.Microseconds()), "direct-p50-µs")
			b.ReportMetric(float64(p.Microseconds()), "proxy-p50-µs")
			b.ReportMetric(float64((p - d).Microseconds()), "added-p50-µs")
		})
	}
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
