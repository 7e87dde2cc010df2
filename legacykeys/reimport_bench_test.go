package legacykeys_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/store/storetest"
)

// BenchmarkReimport imports 50,000 keys into PostgreSQL in batches of
// 5,000, then imports the same rows again: every row is then already
// present, and each skipped row is checked for a key held by another
// tenant (the conflict detection of issue 22 §1: one indexed lookup by
// hash per skipped row). The reference is the first import, in the same
// run on the same server. Run it by hand:
//
//	go test ./legacykeys -run '^$' -bench Reimport -benchtime 1x
func BenchmarkReimport(b *testing.B) {
	const (
		keys   = 50_000
		owners = 1_000
		batch  = 5_000
	)
	rows := make([]legacykeys.ImportRow, keys)
	for i := range rows {
		rows[i] = legacykeys.ImportRow{Line: i + 2, Key: fmt.Sprintf("sk_live_%016x%08d", uint64(i)*0x9e3779b97f4a7c15, i),
			OwnerExternalID: fmt.Sprintf("ext-%05d", i%owners), Tenant: "ten_bench"}
	}
	run := func(h *harness, want func(legacykeys.ImportSummary) bool) time.Duration {
		start := time.Now()
		for i := 0; i < keys; i += batch {
			s, err := h.svc.Import(h.ctx, rows[i:min(i+batch, keys)], false)
			if err != nil {
				b.Fatal(err)
			}
			if !want(s) {
				b.Fatalf("summary %+v", s)
			}
		}
		return time.Since(start)
	}
	for range b.N {
		b.StopTimer()
		h := benchHarness(b, storetest.OpenPostgres(b), owners)
		b.StartTimer()
		first := run(h, func(s legacykeys.ImportSummary) bool { return s.Imported == batch })
		again := run(h, func(s legacykeys.ImportSummary) bool { return s.AlreadyPresent == batch })
		b.ReportMetric(first.Seconds(), "s/import")
		b.ReportMetric(again.Seconds(), "s/reimport")
		b.ReportMetric(again.Seconds()/first.Seconds(), "reimport/import")
	}
}
