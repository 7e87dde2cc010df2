package oauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authz/authz/loadgen"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/server"
	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// benchServer is a full server (store, audit group commit, directory,
// signer) whose public handler the benchmark calls in-process.
func benchServer(b *testing.B, dbURL string) (*server.Server, string, string) {
	b.Helper()
	return benchServerWith(b, dbURL, nil)
}

// benchServerWith is benchServer with a configuration tweak.
func benchServerWith(b *testing.B, dbURL string, tweak func(*server.Config)) (*server.Server, string, string) {
	b.Helper()
	cfg := server.Defaults()
	cfg.Addr, cfg.AdminAddr = "127.0.0.1:1", "127.0.0.1:2"
	cfg.Issuer = "https://authz.bench"
	cfg.Database = dbURL
	cfg.MasterKey = masterkey.Generate().String()
	cfg.Out = io.Discard
	cfg.RateLimitAddr, cfg.RateLimitClient, cfg.RateLimitKey = 0, 0, 0
	if tweak != nil {
		tweak(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	// Run the background tasks (group commit, directory) without listeners.
	go srv.Directory.Run(ctx)
	go srv.Audit.Run(ctx)
	if srv.Alerts != nil {
		go srv.Alerts.Run(ctx)
	}
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

// benchKeys populates the store with keys legacy keys ("bench-key-<i>")
// spread over owners principals bound to the bench role, in bulk.
func benchKeys(b *testing.B, srv *server.Server, tenantID, roleID string, keys, owners int) {
	b.Helper()
	ctx := context.Background()
	now := time.Now()
	ownerIDs := make([]string, owners)
	for i := range ownerIDs {
		p := store.Principal{ID: store.NewID(store.PrefixPrincipal), TenantID: tenantID, Kind: store.KindService, DisplayName: "holder", Status: store.StatusActive, CreatedAt: now, UpdatedAt: now}
		if err := srv.Store.CreatePrincipal(ctx, p); err != nil {
			b.Fatal(err)
		}
		if err := srv.Store.CreateBinding(ctx, store.Binding{PrincipalID: p.ID, RoleID: roleID, TenantID: tenantID, CreatedAt: now}); err != nil {
			b.Fatal(err)
		}
		ownerIDs[i] = p.ID
	}
	const batch = 5000
	for start := 0; start < keys; start += batch {
		var ks []store.LegacyKey
		for i := start; i < min(start+batch, keys); i++ {
			ks = append(ks, store.LegacyKey{
				ID: fmt.Sprintf("key_bench%011d", i), Hash: srv.KeyHasher.Hash(benchKey(i)), TenantID: tenantID,
				OwnerID: ownerIDs[i%owners], Source: store.SourceImported, Status: store.StatusActive, CreatedAt: now, UpdatedAt: now,
			})
		}
		if _, err := srv.Store.CreateLegacyKeys(ctx, ks); err != nil {
			b.Fatal(err)
		}
	}
}

func benchKey(i int) string { return fmt.Sprintf("bench-key-%012d", i) }

// drainAlerts does the work the requests so far queued for the alert
// detectors, which their worker would otherwise do later, in whatever
// is measured next, or drop once its queue is full.
func drainAlerts(srv *server.Server) {
	if srv.Alerts != nil {
		srv.Alerts.Drain(context.Background())
	}
}

// BenchmarkExchange measures a legacy key exchange beside a client
// credentials token in the same run, on a store holding AUTHZ_BENCH_KEYS
// keys (default 20,000; the figure in docs/benchmarks.md uses 1,000,000)
// of 10,000 owners. As in a migration, most keys are dormant: "exchange"
// spreads requests over one active key per owner (10,000 holders, their
// keys already seen once, as after a few minutes of traffic), and
// "exchange_cold" presents a key never seen before on every request (the
// cache can't help: every lookup goes to the database). The work each
// mode queues for the alert detectors is done before its CPU is read.
//
//	AUTHZ_BENCH_KEYS=1000000 go test -run '^$' -bench Exchange -cpu 1 -benchtime 20000x -timeout 30m ./oauth
func BenchmarkExchange(b *testing.B) {
	keys := 20_000
	if v, err := strconv.Atoi(os.Getenv("AUTHZ_BENCH_KEYS")); err == nil && v > 0 {
		keys = v
	}
	for _, bk := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", storetest.SQLiteURL}, {"postgres", storetest.PostgresURL}} {
		b.Run(bk.name, func(b *testing.B) {
			srv, id, secret := benchServer(b, bk.url(b))
			c, err := srv.Store.GetClient(context.Background(), id)
			if err != nil {
				b.Fatal(err)
			}
			roles, err := srv.Store.RolesOfPrincipal(context.Background(), c.OwnerID)
			if err != nil {
				b.Fatal(err)
			}
			owners := min(10_000, keys/2)
			benchKeys(b, srv, c.TenantID, roles[0].ID, keys, owners)
			time.Sleep(300 * time.Millisecond) // the directory confirms its generation
			h := srv.Handler()
			exchange := func(i int) *httptest.ResponseRecorder {
				body := url.Values{"grant_type": {store.GrantTokenExchange}, "subject_token_type": {servertest.APIKeyType},
					"subject_token": {benchKey(i)}}.Encode()
				req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec
			}
			for i := range owners { // the active keys: key i belongs to owner i
				if rec := exchange(i); rec.Code != http.StatusOK {
					b.Fatalf("warm-up: %d %s", rec.Code, rec.Body)
				}
			}
			drainAlerts(srv)
			var cold atomic.Int64
			cold.Store(int64(owners))
			for _, mode := range []string{"client_credentials", "exchange", "exchange_cold"} {
				b.Run(mode, func(b *testing.B) {
					var next atomic.Int64
					b.ReportAllocs()
					b.SetParallelism(32)
					commits0, events0 := auditCommits(b, srv.Registry)
					allocs0, allocated0 := histogram(b, srv.Registry, "authz_statuslist_allocation_batch_size")
					cpu := cpuTime()
					b.ResetTimer()
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							var rec *httptest.ResponseRecorder
							switch mode {
							case "exchange":
								rec = exchange(int(next.Add(1)) % owners)
							case "exchange_cold":
								i := int(cold.Add(1))
								if i >= keys {
									b.Fatalf("only %d dormant keys; raise AUTHZ_BENCH_KEYS", keys-owners)
								}
								rec = exchange(i)
							default:
								req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader("grant_type=client_credentials"))
								req.SetBasicAuth(id, secret)
								req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
								rec = httptest.NewRecorder()
								h.ServeHTTP(rec, req)
							}
							if rec.Code != http.StatusOK {
								b.Fatalf("%s: %d %s", mode, rec.Code, rec.Body)
							}
						}
					})
					// The alert detectors' work for these requests (a
					// new credential's network is a write) is theirs.
					drainAlerts(srv)
					b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
					// The group commits' sizes the CPU figure was measured at.
					commits, events := auditCommits(b, srv.Registry)
					b.ReportMetric((events-events0)/max(commits-commits0, 1), "events/commit")
					if allocs, allocated := histogram(b, srv.Registry, "authz_statuslist_allocation_batch_size"); allocs > allocs0 {
						b.ReportMetric((allocated-allocated0)/(allocs-allocs0), "allocs/commit")
					}
				})
			}
		})
	}
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
			commits0, events0 := auditCommits(b, srv.Registry)
			cpu := cpuTime()
			b.ResetTimer()
			defer func() {
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
				commits, events := auditCommits(b, srv.Registry)
				b.ReportMetric((events-events0)/max(commits-commits0, 1), "events/commit")
			}()
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

// BenchmarkDetectors is the token endpoint with the alert detectors off
// and on, in one run (docs/benchmarks.md, "Detectors"): client-credentials
// tokens from 256 client networks, one request in 20 refused (a wrong
// secret), so that both the new-network and the refusal-spike paths run.
//
//	go test -c -o /tmp/oauth.test ./oauth && cd oauth &&
//	taskset -c 0 /tmp/oauth.test -test.run '^$' -test.bench Detectors -test.cpu 2 -test.benchtime 4s
//
// The modes alternate (off, on, off, on, ...) so that a neighbour's load on
// a shared machine falls on both alike.
func BenchmarkDetectors(b *testing.B) {
	for i := range 6 {
		mode := []string{"off", "on"}[i%2]
		b.Run(mode, func(b *testing.B) {
			srv, id, secret := benchServerWith(b, storetest.SQLiteURL(b), func(cfg *server.Config) { cfg.DisableAlerts = mode == "off" })
			if (srv.Alerts != nil) != (mode == "on") {
				b.Fatal("detectors not as asked")
			}
			h := srv.Handler()
			body := "grant_type=client_credentials&scope=orders%3Aread"
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(32)
			commits0, events0 := auditCommits(b, srv.Registry)
			cpu := cpuTime()
			b.ResetTimer()
			defer func() {
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
				commits, events := auditCommits(b, srv.Registry)
				b.ReportMetric((events-events0)/max(commits-commits0, 1), "events/commit")
			}()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := n.Add(1)
					req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					req.RemoteAddr = fmt.Sprintf("10.%d.%d.7:5555", i%16, (i/16)%16)
					pw := secret
					if i%20 == 0 {
						pw = "wrong"
					}
					req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(pw))
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK && i%20 != 0 {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
				}
			})
		})
	}
}

// BenchmarkTokenLatency is issue 13's one-connection reference: the wall
// time of one client-credentials request through the public handler with
// ONE request in flight (form, client authentication, signing, and the
// audit event's durable group commit on SQLite, a commit of its own per
// request), beside one fsync on the same filesystem, in the same run: 50
// requests back to back, then 50 times a 4 KiB append + fsync to a file
// next to the database (SQLite's commit fsyncs its WAL with fsync, not
// fdatasync), and so on. Alternating them puts a neighbour's load on both
// alike; alternating blocks rather than single calls keeps the reference's
// fsync from queueing in the filesystem's journal just before a request's
// own commit (which made the request's p50 about 1.25× slower in two
// runs). A third block sends the same request over HTTP on one keep-alive
// loopback connection to the same handler, with the load generator's
// client: the goal's measured side in the same run, as a cross-check of
// `loadgen/sweep.sh sqlite 1` (which runs the real `authz serve` and
// `authz bench` on a core each).
//
// It reports the in-process request's p50/p99 (req-p50-ns, req-p99-ns),
// the fsync's (fsync-p50-ns, fsync-p99-ns), the goal's reference, "an
// in-process request plus one fsync", at each quantile (ref-p50-ns =
// req-p50-ns + fsync-p50-ns; ref-p99-ns likewise), the HTTP request's
// (http-p50-ns, http-p99-ns) and its ratio to the reference (http/ref-p50,
// http/ref-p99; the goal is ≤ 2). commit-ns is the mean audit commit
// (begin to durable commit, as `authz bench --metrics` reports it), ns/op
// one of each of the three together, and cpu-ns/op the process's CPU for
// them.
//
//	go test -run '^$' -bench TokenLatency -cpu 2 -benchtime 3000x ./oauth
func BenchmarkTokenLatency(b *testing.B) {
	dbURL := storetest.SQLiteURL(b)
	srv, id, secret := benchServer(b, dbURL)
	h := srv.Handler()
	body := "grant_type=client_credentials&scope=orders%3Aread"
	request := func() {
		req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
	ts := httptest.NewServer(h)
	defer ts.Close()
	client := loadgen.NewHTTPClient(1, time.Minute)
	overHTTP := func() {
		req, err := http.NewRequest(http.MethodPost, ts.URL+"/oauth2/token", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, err = io.Copy(io.Discard, resp.Body) // to the end, so the connection is kept
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("over HTTP: %d %v", resp.StatusCode, err)
		}
	}
	f, err := os.OpenFile(filepath.Join(filepath.Dir(strings.TrimPrefix(dbURL, "sqlite:")), "fsync-reference"),
		os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	fsync := func() {
		if _, err := f.Write(page); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	for range 100 { // caches, the signer's key, the WAL's first pages, the connection
		request()
		overHTTP()
		fsync()
	}
	reqs := make([]time.Duration, 0, b.N)
	https := make([]time.Duration, 0, b.N)
	syncs := make([]time.Duration, 0, b.N)
	timed := func(n int, into *[]time.Duration, f func()) {
		for range n {
			t := time.Now()
			f()
			*into = append(*into, time.Since(t))
		}
	}
	commits0, events0 := auditCommits(b, srv.Registry)
	flushN0, flushS0 := auditFlush(b, srv.Registry)
	cpu := cpuTime()
	const block = 50
	for b.Loop() {
		timed(1, &reqs, request)
		if len(reqs)%block == 0 {
			timed(block, &https, overHTTP)
			timed(block, &syncs, fsync)
		}
	}
	// As many of each as there were requests.
	timed(len(reqs)-len(https), &https, overHTTP)
	timed(len(reqs)-len(syncs), &syncs, fsync)
	commits, events := auditCommits(b, srv.Registry)
	b.ReportMetric((events-events0)/max(commits-commits0, 1), "events/commit")
	b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
	flushN, flushS := auditFlush(b, srv.Registry)
	b.ReportMetric((flushS-flushS0)/max(flushN-flushN0, 1)*1e9, "commit-ns")
	r50, r99 := quantile(reqs, 0.50), quantile(reqs, 0.99)
	f50, f99 := quantile(syncs, 0.50), quantile(syncs, 0.99)
	h50, h99 := quantile(https, 0.50), quantile(https, 0.99)
	b.ReportMetric(float64(r50), "req-p50-ns")
	b.ReportMetric(float64(r99), "req-p99-ns")
	b.ReportMetric(float64(f50), "fsync-p50-ns")
	b.ReportMetric(float64(f99), "fsync-p99-ns")
	b.ReportMetric(float64(r50+f50), "ref-p50-ns")
	b.ReportMetric(float64(r99+f99), "ref-p99-ns")
	b.ReportMetric(float64(h50), "http-p50-ns")
	b.ReportMetric(float64(h99), "http-p99-ns")
	b.ReportMetric(float64(h50)/float64(r50+f50), "http/ref-p50")
	b.ReportMetric(float64(h99)/float64(r99+f99), "http/ref-p99")
}

// quantile returns the q-quantile of ds (nearest rank); it sorts ds.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(math.Ceil(q*float64(len(ds))))-1)]
}

// auditFlush reads the audit group commit's count and total seconds so far
// (begin to durable commit), the figure `authz bench --metrics` prints as
// "commit ms", so that a request's latency can be set beside its commit's.
func auditFlush(b *testing.B, reg *prometheus.Registry) (n, sum float64) {
	b.Helper()
	fams, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "authz_audit_flush_seconds" && len(f.Metric) > 0 {
			h := f.Metric[0].GetHistogram()
			return float64(h.GetSampleCount()), h.GetSampleSum()
		}
	}
	return 0, 0
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

// auditCommits reads the audit group commit's count and events so far
// from the server's registry: the batch size a CPU figure was measured at.
func auditCommits(b *testing.B, reg *prometheus.Registry) (commits, events float64) {
	b.Helper()
	return histogram(b, reg, "authz_audit_batch_size")
}

// histogram reads the count and sum of the named histogram so far from
// the server's registry (zero if it has none).
func histogram(b *testing.B, reg *prometheus.Registry, name string) (count, sum float64) {
	b.Helper()
	fams, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name && len(f.Metric) > 0 {
			h := f.Metric[0].GetHistogram()
			return float64(h.GetSampleCount()), h.GetSampleSum()
		}
	}
	return 0, 0
}
