package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestParseLevels(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int
		ok   bool
	}{
		{"32", []int{32}, true},
		{"1,8,32,128", []int{1, 8, 32, 128}, true},
		{" 1, 2 ", []int{1, 2}, true},
		{"", nil, false},
		{"1,,2", nil, false},
		{"0", nil, false},
		{"-1", nil, false},
		{"8x", nil, false},
	} {
		got, err := ParseLevels(tc.in)
		if (err == nil) != tc.ok || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("ParseLevels(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

// A sweep runs each level in turn and reads the server's audit and process
// figures around each: the deltas, not the running totals, per level.
func TestSweepReadsServerMetrics(t *testing.T) {
	f := newFakeIssuer(t, issueToken)
	// A /metrics whose counters advance by a fixed step on every scrape:
	// each level sees one step (10 commits of 40 events in 0.02 s, 0.5 s
	// of CPU).
	var scrapes atomic.Int64
	met := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := float64(scrapes.Add(1))
		fmt.Fprintf(w, "# TYPE authz_audit_batch_size histogram\nauthz_audit_batch_size_bucket{le=\"+Inf\"} %g\nauthz_audit_batch_size_sum %g\nauthz_audit_batch_size_count %g\n", 10*n, 40*n, 10*n)
		fmt.Fprintf(w, "# TYPE authz_audit_flush_seconds histogram\nauthz_audit_flush_seconds_bucket{le=\"+Inf\"} %g\nauthz_audit_flush_seconds_sum %g\nauthz_audit_flush_seconds_count %g\n", 10*n, 0.02*n, 10*n)
		fmt.Fprintf(w, "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total %g\n", 0.5*n)
		fmt.Fprintf(w, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes %g\n", 32.0*(1<<20))
	}))
	t.Cleanup(met.Close)

	levels, err := Sweep(context.Background(), Config{Issuer: f.srv.URL, ClientID: "c", ClientSecret: "s",
		Mode: ClientCredentials, Requests: 50}, []int{1, 4}, met.URL)
	if err != nil {
		t.Fatal(err)
	}
	if len(levels) != 2 || levels[0].Concurrency != 1 || levels[1].Concurrency != 4 {
		t.Fatalf("levels = %+v", levels)
	}
	for _, l := range levels {
		if l.Requests != 50 || l.Server == nil {
			t.Fatalf("level %d: %d requests, server %v", l.Concurrency, l.Requests, l.Server)
		}
		s := l.Server
		near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6*b }
		if !near(s.Commits, 10) || !near(s.EventsPerCommit, 4) || !near(s.CommitMs, 2) || !near(s.CPUMicrosPerRequest, 1e4) || !near(s.RSSMiB, 32) {
			t.Errorf("level %d: server = %+v, want 10 commits, 4 events each, 2 ms, 10000 µs CPU per request, 32 MiB", l.Concurrency, *s)
		}
	}

	var js bytes.Buffer
	if err := WriteLevelsJSON(&js, levels); err != nil {
		t.Fatal(err)
	}
	var arr []map[string]any
	if err := json.Unmarshal(js.Bytes(), &arr); err != nil || len(arr) != 2 || arr[1]["server"] == nil {
		t.Fatalf("JSON = %s (%v)", js.String(), err)
	}
	var txt bytes.Buffer
	if err := WriteLevelsText(&txt, levels); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(txt.String()), "\n"); len(lines) != 3 || !strings.Contains(lines[0], "events/commit") {
		t.Errorf("table:\n%s", txt.String())
	}

	// A metrics URL that does not answer with metrics fails the sweep
	// rather than printing figures it could not read.
	for name, url := range map[string]string{"404": f.srv.URL + "/metrics", "not metrics": f.srv.URL + "/jwks"} {
		if _, err := Sweep(context.Background(), Config{Issuer: f.srv.URL, ClientID: "c", ClientSecret: "s",
			Mode: ClientCredentials, Requests: 5}, []int{1}, url); err == nil {
			t.Errorf("%s: a metrics URL that gives no metrics was accepted", name)
		}
	}
}
