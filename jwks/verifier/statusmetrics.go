package verifier

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// statusMetrics are the status list check's collectors; a nil
// *statusMetrics records nothing.
type statusMetrics struct {
	fetches  *prometheus.CounterVec
	refusals *prometheus.CounterVec
	// byStatus holds the refusal counters resolved once, so that counting
	// a refusal on the warm path allocates nothing.
	byStatus map[string]prometheus.Counter
	// lists is what the age gauge reads. With several verifiers on one
	// registry, the first one's lists are reported.
	lists atomic.Pointer[statusLists]
}

// statusRefusals are the label values of authz_verifier_status_refusals_total.
var statusRefusals = []string{"suspended", "invalid", "other", "out_of_range", "issuer", "foreign_uri", "unavailable"}

func newStatusMetrics(reg prometheus.Registerer) (*statusMetrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &statusMetrics{}
	fetches := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authz_verifier_status_list_fetches_total",
		Help: "Token Status List fetches, by outcome: success, not_modified (304), error (unreachable, HTTP status) or invalid (signature, typ, claims, size).",
	}, []string{"outcome"})
	refusals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authz_verifier_status_refusals_total",
		Help: "Tokens refused by the status check, by status: suspended, invalid, other (another non-VALID value), out_of_range, issuer (list of another issuer), foreign_uri (list not on the issuer's origin), unavailable (no usable list).",
	}, []string{"status"})
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "authz_verifier_status_list_age_seconds",
		Help: "Seconds since the oldest cached Token Status List was fetched or revalidated (0 when none is cached).",
	}, func() float64 {
		if s := m.lists.Load(); s != nil {
			return s.oldestAge()
		}
		return 0
	})
	var err error
	m.fetches = register(reg, fetches, &err)
	m.refusals = register(reg, refusals, &err)
	register(reg, prometheus.Collector(age), &err)
	if err != nil {
		return nil, err
	}
	m.byStatus = make(map[string]prometheus.Counter, len(statusRefusals))
	for _, st := range statusRefusals {
		m.byStatus[st] = m.refusals.WithLabelValues(st)
	}
	return m, nil
}

func (m *statusMetrics) watch(s *statusLists) {
	if m != nil {
		m.lists.CompareAndSwap(nil, s)
	}
}

func (m *statusMetrics) fetch(outcome string) {
	if m != nil {
		m.fetches.WithLabelValues(outcome).Inc()
	}
}

func (m *statusMetrics) refusal(status string) {
	if m != nil {
		m.byStatus[status].Inc()
	}
}
