package oauth

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authz/authz/errcode"
)

type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	exchanges *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_token_requests_total",
			Help: "Token endpoint requests by grant, outcome (issued, refused) and error_code.",
		}, []string{"grant", "outcome", "error_code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authz_token_request_duration_seconds",
			Help:    "Time to issue a token, by grant.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"grant"}),
		exchanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_legacy_exchanges_total",
			Help: "Legacy key exchanges by tenant and outcome (issued or the error_code): who still has to move.",
		}, []string{"tenant", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.exchanges)
	}
	return m
}

// observe counts one token request; code is "" for an issued token.
func (m *metrics) observe(st *requestState, code errcode.Code, took time.Duration) {
	outcome := "issued"
	if code != "" {
		outcome = "refused"
	}
	m.requests.WithLabelValues(st.grant, outcome, string(code)).Inc()
	if code == "" {
		m.latency.WithLabelValues(st.grant).Observe(took.Seconds())
	}
	if st.grant == "token_exchange" && st.tenantID != "" {
		o := "issued"
		if code != "" {
			o = string(code)
		}
		m.exchanges.WithLabelValues(st.tenantID, o).Inc()
	}
}
