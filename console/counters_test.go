package console

import (
	"reflect"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRefusalCounters(t *testing.T) {
	type inc struct {
		grant, outcome, code string
		n                    int
	}
	for _, tc := range []struct {
		name string
		incs []inc
		want []refusalCount
	}{
		{"none", nil, []refusalCount{}},
		{"issued only", []inc{{"client_credentials", "issued", "", 4}}, []refusalCount{}},
		{
			"summed over grants, issued left out, by count then code",
			[]inc{
				{"client_credentials", "refused", "client_invalid", 2},
				{"token_exchange", "refused", "client_invalid", 3},
				{"token_exchange", "refused", "key_unknown", 5},
				{"", "refused", "invalid_request", 1},
				{"", "refused", "unsupported_grant_type", 1},
				{"client_credentials", "issued", "", 7},
			},
			[]refusalCount{{"client_invalid", 5}, {"key_unknown", 5}, {"invalid_request", 1}, {"unsupported_grant_type", 1}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			// The same labels as package oauth's counter, and another
			// metric with an outcome label that must not be counted.
			req := prometheus.NewCounterVec(prometheus.CounterOpts{Name: tokenRequestsMetric, Help: "h"}, []string{"grant", "outcome", "error_code"})
			other := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "authz_other_total", Help: "h"}, []string{"outcome", "error_code"})
			reg.MustRegister(req, other)
			other.WithLabelValues("refused", "client_invalid").Add(100)
			for _, i := range tc.incs {
				req.WithLabelValues(i.grant, i.outcome, i.code).Add(float64(i.n))
			}
			got, err := refusalCounters(reg)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
