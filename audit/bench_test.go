package audit

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// BenchmarkRecord measures what group commit buys on the token path: b.N
// audit events written by 64 concurrent requests, each waiting for its event
// to be durable, through Recorder.Record, against the reference measured in
// the same run on an identical fresh store: one transaction per event
// (Append in its own Tx). It reports both per-event costs, their ratio and
// the events per commit.
//
//	go test ./audit -run '^$' -bench BenchmarkRecord -benchtime 3000x
func BenchmarkRecord(b *testing.B) {
	for _, be := range []struct {
		name string
		open func(testing.TB) store.Store
	}{
		{"sqlite", storetest.OpenSQLite},
		{"postgres", storetest.OpenPostgres},
	} {
		b.Run(be.name, func(b *testing.B) {
			ctx := context.Background()
			ref, grp := be.open(b), be.open(b)
			r := NewRecorder(grp, RecorderConfig{})
			done := make(chan error, 1)
			go func() { done <- r.Run(ctx) }()
			defer func() {
				_ = r.Close(ctx)
				<-done
			}()

			b.ResetTimer()
			tRef := concurrently(b, b.N, func() error {
				return ref.Tx(ctx, func(tx store.Tx) error { return Append(ctx, tx, event("token.issue")) })
			})
			tGrp := concurrently(b, b.N, func() error { return r.Record(ctx, event("token.issue")) })
			b.StopTimer()

			n := float64(b.N)
			b.ReportMetric(float64(tGrp.Nanoseconds())/n, "group-ns/event")
			b.ReportMetric(float64(tRef.Nanoseconds())/n, "tx-per-event-ns/event")
			b.ReportMetric(float64(tRef)/float64(tGrp), "tx-per-event/group")
			b.ReportMetric(n/float64(max(commits(b, r), 1)), "events/commit")
		})
	}
}

// concurrently runs n calls of fn spread over 64 goroutines and returns the
// elapsed time.
func concurrently(b *testing.B, n int, fn func() error) time.Duration {
	const callers = 64
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range callers {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				if err := fn(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkVerify measures Verify over a 100,000-event log against the
// reference measured in the same run: recomputing the same chain from
// events already in memory (the pure hashing cost). The ratio is what
// reading the log from the store adds.
//
//	go test ./audit -run '^$' -bench BenchmarkVerify -benchtime 3x
func BenchmarkVerify(b *testing.B) {
	const events = 100_000
	st := storetest.OpenSQLite(b)
	ctx := context.Background()
	batch := make([]store.AuditEvent, 0, 1000)
	for range events {
		batch = append(batch, event("token.issue"))
		if len(batch) == cap(batch) {
			if err := st.Tx(ctx, func(tx store.Tx) error { return Append(ctx, tx, batch...) }); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	all, _, err := st.ListAudit(ctx, store.AuditFilter{}, store.Page{Limit: store.MaxLimit})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var tVerify, tHash time.Duration
	for range b.N {
		start := time.Now()
		rep, err := Verify(ctx, st)
		tVerify += time.Since(start)
		if err != nil || !rep.OK || rep.Events != events {
			b.Fatalf("Verify = %+v, %v", rep, err)
		}
		// The reference hashes the first page's events over and over, as
		// many times as the log has events.
		start = time.Now()
		var prev []byte
		for i := range events {
			ev := all[i%len(all)]
			prev = Hash(prev, ev)
		}
		tHash += time.Since(start)
	}
	n := float64(b.N) * events
	b.ReportMetric(float64(tVerify.Nanoseconds())/n, "verify-ns/event")
	b.ReportMetric(float64(tHash.Nanoseconds())/n, "hash-ns/event")
	b.ReportMetric(float64(tVerify)/float64(tHash), "verify/hash")
}
