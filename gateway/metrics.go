package gateway

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the proxy's collectors; a nil *metrics records nothing.
type metrics struct {
	requests     *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	exchanges    *prometheus.CounterVec
	exchangeTime prometheus.Histogram
	cacheResults *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_gateway_requests_total",
			Help: "Requests through the gateway, by mode (proxy, decision, grpc), route, credential kind (token, legacy_key, none) and outcome.",
		}, []string{"mode", "route", "credential", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authz_gateway_request_duration_seconds",
			Help:    "Time from request to response through the gateway, upstream included in proxy mode, by mode and credential kind.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"mode", "credential"}),
		exchanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_gateway_exchanges_total",
			Help: "Legacy key exchanges at the token endpoint, by outcome (issued, refused, error) and error_code.",
		}, []string{"outcome", "error_code"}),
		exchangeTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authz_gateway_exchange_duration_seconds",
			Help:    "Round trip of legacy key exchanges to the token endpoint.",
			Buckets: prometheus.DefBuckets,
		}),
		cacheResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_gateway_token_cache_total",
			Help: "Legacy key token cache lookups, by result (hit, negative_hit, miss, coalesced).",
		}, []string{"result"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.exchanges, m.exchangeTime, m.cacheResults} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				return nil, errors.New("gateway: metrics already registered: one proxy per registry")
			}
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) request(mode, route, credential, outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(mode, route, credential, outcome).Inc()
	m.duration.WithLabelValues(mode, credential).Observe(d.Seconds())
}

func (m *metrics) exchange(outcome, code string) {
	if m == nil {
		return
	}
	m.exchanges.WithLabelValues(outcome, code).Inc()
}

func (m *metrics) exchangeDuration(d time.Duration) {
	if m == nil {
		return
	}
	m.exchangeTime.Observe(d.Seconds())
}

func (m *metrics) cache(result string) {
	if m == nil {
		return
	}
	m.cacheResults.WithLabelValues(result).Inc()
}

func (m *metrics) cacheResult(res *exchangeResult) {
	if res.ref != nil {
		m.cache("negative_hit")
	} else {
		m.cache("hit")
	}
}
