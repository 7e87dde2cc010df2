package loadgen

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Level is one concurrency level of a sweep: the client's summary and,
// when the server's metrics were given, what the server did meanwhile.
type Level struct {
	Summary
	Server *ServerDelta `json:"server,omitempty"`
}

// ParseLevels parses a comma-separated list of concurrency levels
// ("1,8,32,128").
func ParseLevels(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 100000 {
			return nil, fmt.Errorf("concurrency %q: give positive whole numbers separated by commas, for example 1,8,32,128", s)
		}
		out = append(out, n)
	}
	return out, nil
}

// Sweep runs cfg once per level, one after the other, with Concurrency set
// to the level, and returns a Level per run. If metricsURL is set, the
// server's Prometheus endpoint is read before and after each level.
func Sweep(ctx context.Context, cfg Config, levels []int, metricsURL string) ([]Level, error) {
	mc := &http.Client{Timeout: 10 * time.Second}
	out := make([]Level, 0, len(levels))
	for _, c := range levels {
		cfg.Concurrency = c
		cfg.HTTPClient = nil // an idle connection per worker of this level
		var before ServerSample
		var err error
		if metricsURL != "" {
			if before, err = ScrapeServer(ctx, mc, metricsURL); err != nil {
				return out, err
			}
		}
		res, err := Run(ctx, cfg)
		if err != nil {
			return out, fmt.Errorf("concurrency %d: %w", c, err)
		}
		l := Level{Summary: res.Summary()}
		if metricsURL != "" {
			after, err := ScrapeServer(ctx, mc, metricsURL)
			if err != nil {
				return out, err
			}
			d := Delta(before, after, res.Requests, res.Elapsed.Seconds())
			l.Server = &d
		}
		out = append(out, l)
	}
	return out, nil
}

// WriteLevelsJSON writes a sweep as a JSON array of level objects.
func WriteLevelsJSON(w io.Writer, levels []Level) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(levels)
}

// WriteLevelsText writes a sweep as a table, one row per level.
func WriteLevelsText(w io.Writer, levels []Level) error {
	t := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	server := len(levels) > 0 && levels[0].Server != nil
	fmt.Fprint(t, "concurrency\trequests\tfailed\trequests/s\tp50 ms\tp99 ms\t")
	if server {
		fmt.Fprint(t, "commits/s\tevents/commit\tcommit ms\tserver CPU µs/req\tRSS MiB\t")
	}
	fmt.Fprintln(t)
	for _, l := range levels {
		fmt.Fprintf(t, "%d\t%d\t%d\t%.0f\t%.2f\t%.2f\t", l.Concurrency, l.Requests, l.Failed, l.RequestsPerSecond, l.P50ms, l.P99ms)
		if l.Server != nil {
			s := l.Server
			fmt.Fprintf(t, "%.0f\t%.1f\t%.2f\t%.0f\t%.0f\t", s.CommitsPerSec, s.EventsPerCommit, s.CommitMs, s.CPUMicrosPerRequest, s.RSSMiB)
		}
		fmt.Fprintln(t)
	}
	if err := t.Flush(); err != nil {
		return err
	}
	for _, l := range levels {
		if len(l.Errors) > 0 {
			fmt.Fprintf(w, "concurrency %d errors: %v\n", l.Concurrency, l.Errors)
		}
	}
	return nil
}
