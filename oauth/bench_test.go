package oauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/server"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// benchServer is a full server (store, audit group commit, directory,
// signer) whose public handler the benchmark calls in-process.
func benchServer(b *testing.B, dbURL string) (*server.Server, string, string) {
	b.Helper()
	cfg := server.Defaults()
	cfg.Addr, cfg.AdminAddr = "127.0.0.1:1", "127.0.0.1:2"
	cfg.Issuer = "https://authz.bench"
	cfg.Database = dbURL
	cfg.MasterKey = masterkey.Generate().String()
	cfg.Out = io.Discard
	cfg.RateLimitAddr, cfg.RateLimitClient, cfg.RateLimitKey = 0, 0, 0
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	// Run the background tasks (group commit, directory) without listeners.
	go srv.Directory.Run(ctx)
	go srv.Audit.Run(ctx)
	b.Cleanup(func() {
		cancel()
		srv.Close()
	})
	now := time.Now()
	tn := store.Tenant{ID: store.NewID(store.PrefixTenant), Name: "bench", Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}
	p := store.Principal{ID: store.NewID(store.PrefixPrincipal), TenantID: tn.ID, Kind: store.KindService, DisplayName: "svc", Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}
	r := store.Role{ID: store.NewID(store.PrefixRole), TenantID: tn.ID, Name: "orders", Permissions: []string{"orders:read"}, CreatedAt: now, UpdatedAt: now}
	secret, s := srv.Secrets.New(now)
	c := store.Client{ID: store.NewID(store.PrefixClient), TenantID: tn.ID, OwnerID: p.ID, AuthMethod: store.AuthSecretBasic,
		Secrets: []store.ClientSecret{s}, GrantTypes: []string{store.GrantClientCredentials}, Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}
	st := srv.Store
	for _, err := range []error{
		st.CreateTenant(ctx, tn), st.CreatePrincipal(ctx, p), st.CreateRole(ctx, r),
		st.CreateBinding(ctx, store.Binding{PrincipalID: p.ID, RoleID: r.ID, TenantID: tn.ID, CreatedAt: now}),
		st.CreateClient(ctx, c),
	} {
		if err != nil {
			b.Fatal(err)
		}
	}
	// Let the directory confirm its generation so reads are cached.
	time.Sleep(300 * time.Millisecond)
	return srv, c.ID, secret
}

// BenchmarkTokenEndpoint measures a whole client-credentials request
// through the public handler — form parsing, client authentication,
// policy, signing, the durable audit event — beside the raw ES256
// signature it contains, in the same run. 32 requests are in flight at a
// time (b.SetParallelism), as at the load generator's reference
// concurrency, so the audit log's group commit works as in production.
//
//	go test -run '^$' -bench 'TokenEndpoint|RawES256' -cpu 1 -benchmem ./oauth
func BenchmarkTokenEndpoint(b *testing.B) {
	for _, bk := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", storetest.SQLiteURL}, {"postgres", storetest.PostgresURL}} {
		b.Run(bk.name, func(b *testing.B) {
			srv, id, secret := benchServer(b, bk.url(b))
			h := srv.Handler()
			body := "grant_type=client_credentials&scope=orders%3Aread"
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

// BenchmarkRawES256 is the reference: one ECDSA P-256 signature over a
// token-sized signing input, nothing else.
func BenchmarkRawES256(b *testing.B) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	input := []byte(strings.Repeat("x", 420))
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		d := sha256.Sum256(input)
		if _, err := ecdsa.SignASN1(rand.Reader, key, d[:]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
}

// cpuTime is the process's user+system CPU time in nanoseconds. The token
// endpoint waits for the audit log's commit (an fsync), so its wall time
// per request measures the disk; its CPU time per request is its cost.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
