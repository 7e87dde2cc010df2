package publisher

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	builds, scans                       *prometheus.CounterVec
	duration                            prometheus.Histogram
	entries                             *prometheus.GaugeVec
	size                                prometheus.Gauge
	claimHits, claimMisses, allocations prometheus.Counter
	purged, ended                       prometheus.Counter
	allocBatch                          prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) *metrics {
	claims := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "authz_statuslist_claims_total",
		Help: "Status claims given to tokens: hit (cached index), miss (read from the store), allocated (a credential's first index).",
	}, []string{"result"})
	m := &metrics{
		builds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_statuslist_builds_total",
			Help: "Status list builds by outcome: published (re-signed), unchanged (the served token kept), failed.",
		}, []string{"outcome"}),
		scans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_statuslist_scans_total",
			Help: "Status list builds that read the store, by what they read: full (every entry) or exceptions (the entries that may not be VALID).",
		}, []string{"kind"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authz_statuslist_build_duration_seconds",
			Help:    "Time to read the entries, build, compress and sign the status list.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		entries: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "authz_statuslist_entries",
			Help: "Allocated status list indices by published status (VALID, INVALID, SUSPENDED).",
		}, []string{"status"}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authz_statuslist_token_bytes",
			Help: "Size of the published Status List Token.",
		}),
		claimHits:   claims.WithLabelValues("hit"),
		claimMisses: claims.WithLabelValues("miss"),
		allocations: claims.WithLabelValues("allocated"),
		purged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authz_statuslist_purged_total",
			Help: "Status list indices freed for reuse.",
		}),
		allocBatch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authz_statuslist_allocation_batch_size",
			Help:    "Credentials given their first index per allocation commit (first uses arriving together share one).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 … 512
		}),
		ended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authz_statuslist_epochs_ended_total",
			Help: "Epochs of credentials that can never issue again (deleted, revoked, expired, owner deleted or missing) ended by builds, so that their indices are reclaimed.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.builds, m.scans, m.duration, m.entries, m.size, claims, m.purged, m.ended, m.allocBatch)
	}
	return m
}
