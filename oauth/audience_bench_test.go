package oauth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// BenchmarkTokenEndpointAudience is what the tenant check of a registered
// audience adds to a client-credentials token (docs/benchmarks.md,
// "Audience check"): a client without an audience list gets the issuer
// (no lookup, the reference); one allowed an audience registered to its
// tenant gets that (one read of the directory cache); same owner, one run.
func BenchmarkTokenEndpointAudience(b *testing.B) {
	srv, id, secret := benchServer(b, storetest.SQLiteURL(b))
	ctx := context.Background()
	c, err := srv.Store.GetClient(ctx, id)
	if err != nil {
		b.Fatal(err)
	}
	const api = "https://orders.bench"
	now := time.Now()
	if err := srv.Store.CreateAudience(ctx, store.Audience{ID: store.NewID(store.PrefixAudience), Identifier: api, TenantID: c.TenantID, CreatedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	// A second client of the same owner, allowed the registered audience.
	withAud := c
	var s store.ClientSecret
	var audSecret string
	audSecret, s = srv.Secrets.New(now)
	withAud.ID, withAud.Secrets, withAud.Audiences = store.NewID(store.PrefixClient), []store.ClientSecret{s}, []string{api}
	if err := srv.Store.CreateClient(ctx, withAud); err != nil {
		b.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the directory confirms its generation
	h := srv.Handler()
	for _, bc := range []struct{ name, id, secret string }{{"issuer", id, secret}, {"registered", withAud.ID, audSecret}} {
		b.Run(bc.name, func(b *testing.B) {
			id, secret := bc.id, bc.secret
			body := url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:read"}}.Encode()
			b.ReportAllocs()
			b.SetParallelism(32)
			cpu := cpuTime()
			b.ResetTimer()
			defer func() { b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op") }()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
			})
		})
	}
}
