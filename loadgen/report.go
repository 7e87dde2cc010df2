package loadgen

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"text/tabwriter"
	"time"
)

// Summary is a Result as `authz bench -o json` prints it: one object,
// latencies in milliseconds, errors counted by error_code.
type Summary struct {
	Mode              Mode             `json:"mode"`
	Concurrency       int              `json:"concurrency"`
	Requests          int64            `json:"requests"`
	Failed            int64            `json:"failed"`
	ElapsedSeconds    float64          `json:"elapsed_seconds"`
	RequestsPerSecond float64          `json:"requests_per_second"`
	P50ms             float64          `json:"p50_ms"`
	P95ms             float64          `json:"p95_ms"`
	P99ms             float64          `json:"p99_ms"`
	MaxMs             float64          `json:"max_ms"`
	Errors            map[string]int64 `json:"errors"`
}

// Summary returns the figures of r.
func (r *Result) Summary() Summary {
	errs := r.Errors
	if errs == nil {
		errs = map[string]int64{}
	}
	return Summary{
		Mode: r.Mode, Concurrency: r.Concurrency, Requests: r.Requests, Failed: r.Failed,
		ElapsedSeconds:    r.Elapsed.Seconds(),
		RequestsPerSecond: r.RequestsPerSecond(),
		P50ms:             ms(r.Latency.Quantile(0.50)),
		P95ms:             ms(r.Latency.Quantile(0.95)),
		P99ms:             ms(r.Latency.Quantile(0.99)),
		MaxMs:             ms(r.Latency.Max()),
		Errors:            errs,
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// WriteJSON writes r's Summary as one JSON object.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r.Summary())
}

// WriteText writes r for people.
func (r *Result) WriteText(w io.Writer) error {
	s := r.Summary()
	t := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(t, "mode\t%s\n", s.Mode)
	fmt.Fprintf(t, "concurrency\t%d\n", s.Concurrency)
	fmt.Fprintf(t, "requests\t%d (%d failed) in %.2f s\n", s.Requests, s.Failed, s.ElapsedSeconds)
	fmt.Fprintf(t, "throughput\t%.0f requests/s\n", s.RequestsPerSecond)
	fmt.Fprintf(t, "latency\tp50 %.2f ms  p95 %.2f ms  p99 %.2f ms  max %.2f ms\n", s.P50ms, s.P95ms, s.P99ms, s.MaxMs)
	if len(s.Errors) == 0 {
		fmt.Fprintf(t, "errors\tnone\n")
	} else {
		codes := slices.Sorted(maps.Keys(s.Errors))
		slices.SortStableFunc(codes, func(a, b string) int { return cmp.Compare(s.Errors[b], s.Errors[a]) })
		for i, c := range codes {
			label := ""
			if i == 0 {
				label = "errors"
			}
			fmt.Fprintf(t, "%s\t%s: %d\n", label, c, s.Errors[c])
		}
	}
	return t.Flush()
}
