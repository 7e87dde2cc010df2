package alerts_test

import (
	"fmt"
	"testing"

	"github.com/authz/authz/alerts"
	"github.com/authz/authz/store/storetest"
)

// BenchmarkObserve is the detectors' own cost per token decision, the
// figure set against the token endpoint's in docs/benchmarks.md:
// "issued" is a success from a known network (the common case),
// "refused" a refusal counted for a key and its tenant.
//
//	go test -run '^$' -bench Observe -cpu 1,2 ./alerts
func BenchmarkObserve(b *testing.B) {
	st := storetest.OpenSQLite(b)
	c := &clock{now: t0}
	d, err := alerts.New(alerts.Config{Store: st, Now: c.Now, SpikeMinCount: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	creds := make([]string, 1000)
	for i := range creds {
		creds[i] = fmt.Sprintf("client:cli_%d", i)
		d.Observe(alerts.Observation{Credential: creds[i], TenantID: "ten_a", ClientAddr: "192.0.2.7"})
	}
	d.Drain(b.Context())
	for _, tt := range []struct {
		name string
		code string
	}{{"issued", ""}, {"refused", "owner_suspended"}} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					i++
					d.Observe(alerts.Observation{Credential: creds[i%len(creds)], TenantID: "ten_a", ErrorCode: tt.code, ClientAddr: "192.0.2.7"})
				}
			})
		})
	}
}
