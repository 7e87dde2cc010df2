package jwks

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/authz/authz/store"
)

var (
	descKeyAge = prometheus.NewDesc("authz_signing_key_age_seconds",
		"Seconds since the current signing key started signing.", nil, nil)
	descRotationDue = prometheus.NewDesc("authz_signing_key_rotation_due_seconds",
		"Seconds until the next automatic signing-key rotation (negative when overdue); absent when automatic rotation is off.", nil, nil)
	descKeys = prometheus.NewDesc("authz_signing_keys",
		"Published signing keys by state.", []string{"state"}, nil)
)

// collector reports the loaded snapshot at scrape time, so the signing path
// never touches a metric.
type collector struct{ m *Manager }

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descKeyAge
	ch <- descRotationDue
	ch <- descKeys
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.m.snap.Load()
	counts := map[store.SigningKeyState]int{store.SigningNext: 0, store.SigningCurrent: 0, store.SigningRetired: 0}
	if s != nil {
		for _, r := range s.rows {
			counts[r.State]++
		}
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(descKeys, prometheus.GaugeValue, float64(n), string(state))
	}
	if s == nil || s.current == nil {
		return
	}
	now := c.m.cfg.Now()
	ch <- prometheus.MustNewConstMetric(descKeyAge, prometheus.GaugeValue, now.Sub(activated(s.curRow)).Seconds())
	if at, ok := c.m.rotationAt(s.curRow, s.nextRow); ok {
		ch <- prometheus.MustNewConstMetric(descRotationDue, prometheus.GaugeValue, at.Sub(now).Seconds())
	}
}
