package console

import (
	"fmt"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
)

// tokenRequestsMetric is the token endpoint's counter (package oauth),
// whose refused series the refusals page shows as they are now.
const tokenRequestsMetric = "authz_token_requests_total"

// refusalCount is one error_code's refused token requests.
type refusalCount struct {
	Code  string
	Count uint64
}

// refusalCounters sums authz_token_requests_total{outcome="refused"} per
// error_code over the other labels (grant), as gathered from g: the same
// numbers /metrics serves, since this process started. Sorted by count,
// then code.
func refusalCounters(g prometheus.Gatherer) ([]refusalCount, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("console: gathering metrics: %w", err)
	}
	sums := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != tokenRequestsMetric {
			continue
		}
		for _, m := range mf.GetMetric() {
			var outcome, code string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "outcome":
					outcome = l.GetValue()
				case "error_code":
					code = l.GetValue()
				}
			}
			if outcome == "refused" && m.GetCounter() != nil {
				sums[code] += m.GetCounter().GetValue()
			}
		}
	}
	rows := make([]refusalCount, 0, len(sums))
	for code, v := range sums {
		// Counters count whole requests: the float is an integer.
		rows = append(rows, refusalCount{Code: code, Count: uint64(v)})
	}
	sort.Slice(rows, func(i, j int) bool {
		return rows[i].Count > rows[j].Count || (rows[i].Count == rows[j].Count && rows[i].Code < rows[j].Code)
	})
	return rows, nil
}
