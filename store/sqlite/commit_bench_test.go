package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/sqlstore"
)

// BenchmarkAuditCommit measures one audit group commit of k events (begin,
// lock the chain head, insert, move the head, commit with its fsync) with
// the statements prepared once and one-row inserts (this backend's
// dialect) against the reference in the same run: the previous behaviour,
// every statement parsed again and the events in one multi-row INSERT.
// "append" is the commit as the recorder makes it while it knows the head
// (Store.AppendAudit: no read of the head, the head moved first),
// reported against the first. The stores are driven in turn, commit by
// commit, so that all see the same machine; process CPU per commit is the
// load-independent figure (wall includes the fsync).
//
//	go test ./store/sqlite -run '^$' -bench AuditCommit -benchtime 2000x
func BenchmarkAuditCommit(b *testing.B) {
	for _, k := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("events=%d", k), func(b *testing.B) {
			ctx := context.Background()
			cur := openBench(b, nil)
			ref := openBench(b, func(d *sqlstore.Dialect) { d.PrepareStatements, d.RowByRowInserts = false, false })
			evs := make([]store.AuditEvent, k)
			for i := range evs {
				evs[i] = store.AuditEvent{Action: "token.issue", Actor: "cli_bench", Target: "client:cli_bench",
					TenantID: "ten_bench", Outcome: audit.OutcomeSuccess, Details: []byte(`{"scope":"orders:read","jti":"0123456789"}`)}
			}
			app := openBench(b, nil)
			var head store.AuditHead // app is fresh: the head is at 0
			commit := func(st store.Store) (wall, cpu time.Duration) {
				c0, t0 := cpuTime(), time.Now()
				if err := st.Tx(ctx, func(tx store.Tx) error { return audit.Append(ctx, tx, evs...) }); err != nil {
					b.Fatal(err)
				}
				return time.Since(t0), cpuTime() - c0
			}
			appendAfter := func() (wall, cpu time.Duration) {
				c0, t0 := cpuTime(), time.Now()
				chained := make([]store.AuditEvent, len(evs))
				prev := head
				for i, e := range evs {
					e.ID, e.Time = store.NewID(store.PrefixEvent), time.Now().UTC().Truncate(time.Microsecond)
					e.Seq, e.PrevHash = prev.Seq+1, prev.Hash
					e.Hash = audit.Hash(prev.Hash, e)
					chained[i], prev = e, store.AuditHead{Seq: e.Seq, Hash: e.Hash}
				}
				if err := app.AppendAudit(ctx, chained); err != nil {
					b.Fatal(err)
				}
				head = prev
				return time.Since(t0), cpuTime() - c0
			}
			var wCur, cCur, wRef, cRef, wApp, cApp time.Duration
			b.ResetTimer()
			for range b.N {
				w, c := commit(cur)
				wCur, cCur = wCur+w, cCur+c
				w, c = commit(ref)
				wRef, cRef = wRef+w, cRef+c
				w, c = appendAfter()
				wApp, cApp = wApp+w, cApp+c
			}
			n := float64(b.N)
			b.ReportMetric(float64(cCur)/n, "cpu-ns/commit")
			b.ReportMetric(float64(cRef)/n, "ref-cpu-ns/commit")
			b.ReportMetric(float64(cCur)/float64(cRef), "cpu/ref")
			b.ReportMetric(float64(wCur)/n, "wall-ns/commit")
			b.ReportMetric(float64(wRef)/n, "ref-wall-ns/commit")
			b.ReportMetric(float64(cApp)/n, "append-cpu-ns/commit")
			b.ReportMetric(float64(cApp)/float64(cCur), "append-cpu/cpu")
			b.ReportMetric(float64(wApp)/float64(wCur), "append-wall/wall")
		})
	}
}

func openBench(b *testing.B, dialect func(*sqlstore.Dialect)) *Store {
	b.Helper()
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "authz.db"), func(o *options) { o.dialect = dialect })
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// cpuTime is the process's user+system CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
