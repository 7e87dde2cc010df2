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
	// lockouts and guessing: ratelimit.Lockout's outcomes.
	lockouts *prometheus.CounterVec
	guessing *prometheus.CounterVec
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
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_auth_lockouts_total",
			Help: "Lockouts after repeated failed authentication, by credential kind (client, key) and scope (address, prefix: a source locked out of one credential; credential: a weak credential locked for everyone).",
		}, []string{"kind", "scope"}),
		guessing: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_auth_guessing_alerts_total",
			Help: "Credentials whose failed authentications from all sources reached --lockout-alert-threshold within the window: distributed guessing. Alert on any increase.",
		}, []string{"kind"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.latency, m.exchanges, m.lockouts, m.guessing)
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
