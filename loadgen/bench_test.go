package loadgen

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// staticIssuer answers every token request with the same small token
// response, so that what is measured is the client side.
func staticIssuer(b *testing.B) *httptest.Server {
	body := []byte(`{"access_token":"a.b.c","token_type":"Bearer","expires_in":300}`)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/oauth-authorization-server" {
			_, _ = w.Write([]byte(`{"issuer":"` + srv.URL + `","token_endpoint":"` + srv.URL + `/token"}`))
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	b.Cleanup(srv.Close)
	return srv
}

// BenchmarkRun is one client-credentials request through the load
// generator (request building, keep-alive client, classification, the
// histogram) at concurrency 32; BenchmarkBareHTTP, the reference measured
// in the same run, is the same request through a bare http.Client. Their
// ratio is what the generator adds to what it measures.
//
//	go test -run '^$' -bench 'Run|BareHTTP' -benchmem ./loadgen
func BenchmarkRun(b *testing.B) {
	srv := staticIssuer(b)
	b.ReportAllocs()
	b.ResetTimer()
	res, err := Run(context.Background(), Config{
		Issuer: srv.URL, ClientID: "c", ClientSecret: "s", Mode: ClientCredentials,
		Concurrency: 32, Requests: int64(b.N),
	})
	if err != nil {
		b.Fatal(err)
	}
	if res.Failed != 0 {
		b.Fatalf("errors: %v", res.Errors)
	}
}

func BenchmarkBareHTTP(b *testing.B) {
	srv := staticIssuer(b)
	hc := NewHTTPClient(32, 10*time.Second)
	body := []byte("grant_type=client_credentials")
	var left atomic.Int64
	left.Store(int64(b.N))
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				req, _ := http.NewRequest(http.MethodPost, srv.URL+"/token", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth("c", "s")
				resp, err := hc.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := NewHistogram()
	d := 1234567 * time.Nanosecond
	for b.Loop() {
		h.Record(d)
	}
}
