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
// lock the chain head, insert, move the head, commit with its fsync), as
// the recorder makes it, with the statements prepared once and one-row
// inserts (this backend's dialect) against the reference in the same run:
// the previous behaviour, every statement parsed again and the events in
// one multi-row INSERT. The two stores are driven in turn, commit by
// commit, so that both see the same machine; process CPU per commit is the
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
			commit := func(st store.Store) (wall, cpu time.Duration) {
				c0, t0 := cpuTime(), time.Now()
				if err := st.Tx(ctx, func(tx store.Tx) error { return audit.Append(ctx, tx, evs...) }); err != nil {
					b.Fatal(err)
				}
				return time.Since(t0), cpuTime() - c0
			}
			var wCur, cCur, wRef, cRef time.Duration
			b.ResetTimer()
			for range b.N {
				w, c := commit(cur)
				wCur, cCur = wCur+w, cCur+c
				w, c = commit(ref)
				wRef, cRef = wRef+w, cRef+c
			}
			n := float64(b.N)
			b.ReportMetric(float64(cCur)/n, "cpu-ns/commit")
			b.ReportMetric(float64(cRef)/n, "ref-cpu-ns/commit")
			b.ReportMetric(float64(cCur)/float64(cRef), "cpu/ref")
			b.ReportMetric(float64(wCur)/n, "wall-ns/commit")
			b.ReportMetric(float64(wRef)/n, "ref-wall-ns/commit")
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
