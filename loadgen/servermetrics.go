package loadgen

import (
	"context"
	"fmt"
	"io"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ServerSample is what a run reads from the server's Prometheus endpoint
// before and after a level: the audit group commit's counters and the
// process's CPU time, so that a sweep shows commits per second, events per
// commit, time per commit and server CPU per request beside the client's
// figures. Every field is a running total since the server started.
type ServerSample struct {
	Commits       float64 // authz_audit_batch_size_count
	Events        float64 // authz_audit_batch_size_sum
	CommitSeconds float64 // authz_audit_flush_seconds_sum
	CPUSeconds    float64 // process_cpu_seconds_total
	RSSBytes      float64 // process_resident_memory_bytes (a level, not a total)
}

// ScrapeServer reads a ServerSample from a Prometheus text endpoint (the
// server's --metrics-addr, path /metrics). It uses only loopback-local
// figures the server exports anyway; nothing is changed.
func ScrapeServer(ctx context.Context, c *http.Client, url string) (ServerSample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return ServerSample{}, fmt.Errorf("metrics %s: %w", url, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return ServerSample{}, fmt.Errorf("metrics %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ServerSample{}, fmt.Errorf("metrics %s: HTTP %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return ServerSample{}, fmt.Errorf("metrics %s: %w", url, err)
	}
	var s ServerSample
	if h := first(fams["authz_audit_batch_size"]); h != nil && h.Histogram != nil {
		s.Commits, s.Events = float64(h.Histogram.GetSampleCount()), h.Histogram.GetSampleSum()
	}
	if h := first(fams["authz_audit_flush_seconds"]); h != nil && h.Histogram != nil {
		s.CommitSeconds = h.Histogram.GetSampleSum()
	}
	if m := first(fams["process_cpu_seconds_total"]); m != nil && m.Counter != nil {
		s.CPUSeconds = m.Counter.GetValue()
	}
	if m := first(fams["process_resident_memory_bytes"]); m != nil && m.Gauge != nil {
		s.RSSBytes = m.Gauge.GetValue()
	}
	return s, nil
}

func first(f *dto.MetricFamily) *dto.Metric {
	if f == nil || len(f.Metric) == 0 {
		return nil
	}
	return f.Metric[0]
}

// ServerDelta is what the server did during one level.
type ServerDelta struct {
	Commits         float64 `json:"commits"`
	CommitsPerSec   float64 `json:"commits_per_second"`
	EventsPerCommit float64 `json:"events_per_commit"`
	// CommitMs is the mean time of one group commit (begin to durable
	// commit: the fsync on SQLite, the round trips on PostgreSQL).
	CommitMs float64 `json:"commit_ms"`
	// CPUMicrosPerRequest is the server process's CPU time (user+system)
	// over the level, per completed request.
	CPUMicrosPerRequest float64 `json:"server_cpu_us_per_request"`
	RSSMiB              float64 `json:"server_rss_mib"`
}

// Delta returns what happened between before and after, over a level of
// requests requests that lasted seconds.
func Delta(before, after ServerSample, requests int64, seconds float64) ServerDelta {
	d := ServerDelta{Commits: after.Commits - before.Commits, RSSMiB: after.RSSBytes / (1 << 20)}
	if seconds > 0 {
		d.CommitsPerSec = d.Commits / seconds
	}
	if d.Commits > 0 {
		d.EventsPerCommit = (after.Events - before.Events) / d.Commits
		d.CommitMs = 1000 * (after.CommitSeconds - before.CommitSeconds) / d.Commits
	}
	if requests > 0 {
		d.CPUMicrosPerRequest = 1e6 * (after.CPUSeconds - before.CPUSeconds) / float64(requests)
	}
	return d
}
