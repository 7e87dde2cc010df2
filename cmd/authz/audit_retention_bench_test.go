package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
	"github.com/authz/authz/audit"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/backends"
	"github.com/authz/authz/store/storetest"
)

// BenchmarkIssuanceDuringPrune measures the token endpoint of a real
// `authz serve` with and without a prune running, in one run: a backlog
// of old audit events is seeded (three days, before the server starts),
// tokens are requested by 8 concurrent clients for a baseline window,
// then while the admin API's prune (what `authz audit prune` calls)
// deletes the exported backlog, then for
// a second baseline window. It reports tokens/s of each and their ratio
// (pruning / mean baseline). Set AUTHZ_BENCH_EVENTS for the backlog size
// (default 300,000).
//
//	go test ./cmd/authz -run '^$' -bench IssuanceDuringPrune -benchtime 1x
func BenchmarkIssuanceDuringPrune(b *testing.B) {
	backlog := 300_000
	if v := os.Getenv("AUTHZ_BENCH_EVENTS"); v != "" {
		fmt.Sscan(v, &backlog)
	}
	for name, dbURL := range map[string]func(testing.TB) string{"sqlite": storetest.SQLiteURL, "postgres": storetest.PostgresURL} {
		b.Run(name, func(b *testing.B) {
			for range b.N {
				benchPrune(b, dbURL(b), backlog)
			}
		})
	}
}

func benchPrune(b *testing.B, db string, backlog int) {
	ctx := context.Background()
	now := time.Now().UTC()
	start := now.Add(-72 * time.Hour)
	st, err := backends.Open(ctx, db, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := st.PrepareAudit(ctx, start); err != nil { // PostgreSQL: the three days get partitions
		b.Fatal(err)
	}
	const batch = 5000
	step := 48 * time.Hour / time.Duration(backlog)
	for i := 0; i < backlog; i += batch {
		evs := make([]store.AuditEvent, 0, batch)
		for j := i; j < min(i+batch, backlog); j++ {
			evs = append(evs, store.AuditEvent{Time: start.Add(time.Duration(j) * step), Action: "token.issue",
				Actor: "client:cli_seed", Target: "client:cli_seed", TenantID: "ten_seed", Outcome: audit.OutcomeSuccess,
				Details: json.RawMessage(`{"scope":"orders:read","aud":["https://api.example"],"jti":"0123456789abcdef"}`)})
		}
		if err := st.Tx(ctx, func(tx store.Tx) error { return audit.Append(ctx, tx, evs...) }); err != nil {
			b.Fatal(err)
		}
	}
	st.Close()

	srv := startBenchServer(b, db)
	var tenant, principal apiv1.Tenant
	srv.json(&tenant, "tenant", "create", "bench")
	srv.json(&principal, "principal", "create", "--tenant", tenant.ID, "--name", "bench", "--kind", "service")
	var cl apiv1.Client
	srv.json(&cl, "client", "create", "--tenant", tenant.ID, "--owner", principal.ID)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 30 * time.Second}
	issue := func() bool {
		req, _ := http.NewRequest(http.MethodPost, srv.issuer+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(cl.ID), url.QueryEscape(cl.ClientSecret))
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if issue() {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		})
	}
	window := func(d time.Duration) float64 {
		n0, t0 := ok.Load(), time.Now()
		time.Sleep(d)
		return float64(ok.Load()-n0) / time.Since(t0).Seconds()
	}
	time.Sleep(2 * time.Second) // warm up
	base1 := window(5 * time.Second)

	until := now.Add(-time.Hour).Truncate(time.Second).Format(time.RFC3339)
	var seg struct {
		Events   int64  `json:"events"`
		LastHash string `json:"last_hash"`
	}
	srv.json(&seg, "audit", "export", "--until", until, "--out", filepath.Join(b.TempDir(), "backlog.jsonl"))
	// The prune through the admin API in process: no CLI process starts
	// inside the measured window.
	admin := adminclient.New(srv.adminURL, bootstrapID, bootstrapSecret, adminclient.WithIssuer(srv.issuer))
	untilT, _ := time.Parse(time.RFC3339, until)
	if _, err := admin.VerifyAudit(ctx); err != nil { // takes the admin token before the window
		b.Fatal(err)
	}
	n0, t0 := ok.Load(), time.Now()
	pruned, err := admin.PruneAudit(ctx, untilT, seg.LastHash)
	took := time.Since(t0)
	if err != nil {
		b.Fatal(err)
	}
	during := float64(ok.Load()-n0) / took.Seconds()
	base2 := window(5 * time.Second)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		b.Fatalf("%d token requests failed", failed.Load())
	}
	base := (base1 + base2) / 2
	b.ReportMetric(base, "tokens/s_baseline")
	b.ReportMetric(during, "tokens/s_pruning")
	b.ReportMetric(during/base, "ratio")
	b.ReportMetric(took.Seconds(), "prune_s")
	b.Logf("%s: backlog %d events (exported %d), prune took %v (%d rows deleted, %d partitions dropped); tokens/s baseline %.0f and %.0f, during the prune %.0f: ratio %.2f",
		strings.SplitN(db, ":", 2)[0], backlog, seg.Events, took.Round(time.Millisecond), pruned.RowsDeleted, pruned.PartitionsDropped, base1, base2, during, during/base)
}

// benchServer is a running `authz serve` for a benchmark (the test
// helpers take a *testing.T).
type benchServer struct {
	b                *testing.B
	issuer, adminURL string
	home             string
}

func startBenchServer(b *testing.B, db string) *benchServer {
	addr := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	pub, adm := addr(), addr()
	s := &benchServer{b: b, issuer: "http://" + pub, adminURL: "http://" + adm, home: b.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, authzBin, "serve", "--rate-limit-client", "0", "--rate-limit-addr", "0", "--log-level", "warn")
	cmd.Env = append(baseEnv(s.home), "AUTHZ_DATABASE="+db, "AUTHZ_ADDR="+pub, "AUTHZ_ADMIN_ADDR="+adm, "AUTHZ_METRICS_ADDR=",
		"AUTHZ_CONSOLE_ADDR=", "AUTHZ_ISSUER="+s.issuer, "AUTHZ_MASTER_KEY="+masterkey.Generate().String(),
		"AUTHZ_BOOTSTRAP_CLIENT_ID="+bootstrapID, "AUTHZ_BOOTSTRAP_CLIENT_SECRET="+bootstrapSecret)
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 20 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		b.Fatal(err)
	}
	b.Cleanup(func() { cancel(); _ = cmd.Wait() })
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get(s.issuer + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("authz serve not ready:\n%s", logs.String())
		}
	}
}

func (s *benchServer) json(out any, args ...string) {
	cmd := exec.Command(authzBin, append(args, "-o", "json")...)
	cmd.Env = append(baseEnv(s.home), "AUTHZ_SERVER="+s.adminURL, "AUTHZ_ISSUER="+s.issuer,
		"AUTHZ_CLIENT_ID="+bootstrapID, "AUTHZ_CLIENT_SECRET="+bootstrapSecret)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		s.b.Fatalf("authz %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), out); err != nil {
		s.b.Fatalf("authz %s: %v\n%s", strings.Join(args, " "), err, stdout.String())
	}
}
