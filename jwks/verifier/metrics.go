package verifier

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the verifier's collectors. A nil *metrics records nothing,
// so a verifier without a Registerer pays nothing for them.
type metrics struct {
	verifications *prometheus.CounterVec
	valid         prometheus.Counter
	fetchOK       prometheus.Counter
	fetchFailed   prometheus.Counter
	keyCount      prometheus.Gauge
	lastSuccess   prometheus.Gauge
	cacheHit      prometheus.Counter
	cacheMiss     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	verifications := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authz_verifier_verifications_total",
		Help: "Access tokens verified, by result: valid or the refusal reason.",
	}, []string{"result"})
	fetches := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authz_verifier_jwks_fetches_total",
		Help: "JWKS fetches, by outcome (success or error).",
	}, []string{"outcome"})
	keyCount := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "authz_verifier_jwks_keys",
		Help: "Usable keys in the cached JWKS.",
	})
	lastSuccess := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "authz_verifier_jwks_last_success_timestamp_seconds",
		Help: "Unix time of the last successful JWKS fetch.",
	})
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authz_verifier_token_cache_total",
		Help: "Lookups in the cache of verified tokens, by result (hit or miss).",
	}, []string{"result"})
	var err error
	verifications = register(reg, verifications, &err)
	cache = register(reg, cache, &err)
	fetches = register(reg, fetches, &err)
	keyCount = register(reg, keyCount, &err)
	lastSuccess = register(reg, lastSuccess, &err)
	if err != nil {
		return nil, err
	}
	return &metrics{
		verifications: verifications,
		valid:         verifications.WithLabelValues("valid"),
		fetchOK:       fetches.WithLabelValues("success"),
		fetchFailed:   fetches.WithLabelValues("error"),
		keyCount:      keyCount,
		lastSuccess:   lastSuccess,
		cacheHit:      cache.WithLabelValues("hit"),
		cacheMiss:     cache.WithLabelValues("miss"),
	}, nil
}

// register registers c, or reuses the collector already registered under
// the same description (two verifiers in one process share counters).
func register[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	if *errp != nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		*errp = err
	}
	return c
}

func (m *metrics) result(err error) {
	if m == nil {
		return
	}
	if err == nil {
		m.valid.Inc()
		return
	}
	r := ReasonOf(err)
	if r == "" {
		r = "error"
	}
	m.verifications.WithLabelValues(string(r)).Inc()
}

func (m *metrics) fetch(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.fetchOK.Inc()
	} else {
		m.fetchFailed.Inc()
	}
}

func (m *metrics) keys(n int, at time.Time) {
	if m == nil {
		return
	}
	m.keyCount.Set(float64(n))
	m.lastSuccess.Set(float64(at.Unix()))
}

func (m *metrics) cacheLookup(hit bool) {
	if m == nil {
		return
	}
	if hit {
		m.cacheHit.Inc()
	} else {
		m.cacheMiss.Inc()
	}
}
