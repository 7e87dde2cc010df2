package gateway_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/gateway"
)

// BenchmarkDecisionEndpoint measures the HTTP decision endpoint in
// process (handler only, no sockets): forwarded-header parsing, the
// decision for a token the verifier has cached (or a legacy key whose
// exchanged token is cached), and the answer's headers. Run with -cpu 1
// for decisions per second on one core (reported as decisions/s).
func BenchmarkDecisionEndpoint(b *testing.B) {
	for _, cred := range []string{"token", "legacy_key"} {
		b.Run(cred, func(b *testing.B) {
			f := newDecision(b, nil)
			f.authz.setKey("lk_bench", legacyKey{id: "bench", owner: "p"})
			h := f.decider.DecisionHandler()
			req := httptest.NewRequest(http.MethodGet, "/_authz", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			req.Header.Set("X-Original-Method", "GET")
			req.Header.Set("X-Original-URI", "/orders/42?page=2")
			if cred == "token" {
				req.Header.Set("Authorization", "Bearer "+f.authz.validToken(b, nil))
			} else {
				req.Header.Set("X-API-Key", "lk_bench")
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req) // warm the caches
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
			b.ReportAllocs()
			for b.Loop() {
				w := &discardWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
				if w.code != http.StatusOK {
					b.Fatalf("status %d", w.code)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }

// BenchmarkNGINXDecisionVsProxy measures, in one run and interleaved, what
// each way of protecting an upstream adds on loopback: the gateway as a
// reverse proxy (proxy − direct) against a real NGINX asking the decision
// endpoint (nginx_decision − nginx_plain, the same NGINX location without
// auth_request). ratio = nginx-added / proxy-added, the issue 21 goal
// being ≤ 1.5. token: a cached verified token; legacy_key: a bridged key
// whose exchanged token is cached (warm).
func BenchmarkNGINXDecisionVsProxy(b *testing.B) {
	for _, cred := range []string{"token", "legacy_key"} {
		b.Run(cred, func(b *testing.B) {
			f := newProxy(b, nil)
			d, err := gateway.NewDecider(gateway.Config{
				Verifier: f.verifier, LegacyKeyHeader: "X-API-Key", TokenEndpoint: f.authz.iss.URL + "/oauth2/token",
				ClientID: gatewayClient, ClientSecret: gatewaySecret, ExchangeAudience: audience, Now: f.authz.clock.Now,
			})
			if err != nil {
				b.Fatal(err)
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &http.Server{Handler: d.DecisionHandler(), ReadHeaderTimeout: 5 * time.Second}
			go func() { _ = srv.Serve(l) }()
			b.Cleanup(func() { _ = srv.Close() })
			nginx := startNGINXConf(b, l.Addr().String(), strings.TrimPrefix(f.upstream.srv.URL, "http://"), true)

			f.authz.setKey("lk_bench", legacyKey{id: "bench", owner: "p"})
			header := http.Header{"Authorization": {"Bearer " + f.authz.validToken(b, nil)}}
			if cred == "legacy_key" {
				header = http.Header{"X-Api-Key": {"lk_bench"}}
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
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
				if resp.StatusCode != 200 {
					b.Fatalf("%s: status %d", url, resp.StatusCode)
				}
				return time.Since(t0)
			}
			targets := []struct {
				url string
				h   http.Header
			}{
				{f.upstream.srv.URL + "/orders", http.Header{}},
				{f.srv.URL + "/orders", header},
				{nginx + "/plain/orders", http.Header{}},
				{nginx + "/orders", header},
			}
			for _, tg := range targets { // warm connections and caches
				do(tg.url, tg.h)
			}
			lat := make([][]time.Duration, len(targets))
			for b.Loop() {
				for i, tg := range targets {
					lat[i] = append(lat[i], do(tg.url, tg.h))
				}
			}
			direct, proxy, plain, decision := median(lat[0]), median(lat[1]), median(lat[2]), median(lat[3])
			b.ReportMetric(float64(direct.Microseconds()), "direct-p50-µs")
			b.ReportMetric(float64(proxy.Microseconds()), "proxy-p50-µs")
			b.ReportMetric(float64(plain.Microseconds()), "nginx-plain-p50-µs")
			b.ReportMetric(float64(decision.Microseconds()), "nginx-decision-p50-µs")
			b.ReportMetric(float64((proxy - direct).Microseconds()), "proxy-added-µs")
			b.ReportMetric(float64((decision - plain).Microseconds()), "nginx-decision-added-µs")
			b.ReportMetric(float64(decision-plain)/float64(proxy-direct), "ratio")
		})
	}
}
