package legacykeys_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// BenchmarkImportMillion imports a million keys for 10,000 owners (matched
// by external id, 200 of them present: 98 % of the keys are orphans, the
// shape of issue 19) the way `authz key import` does: the file is parsed
// and sent to Import in batches of 5,000 rows (AUTHZ_BENCH_BATCH). It also
// inserts the same million keys with bare CreateLegacyKeys calls (no
// parsing, no owner matching, no audit), in the same run and on the same
// server, as the reference the import is reported against. Run it by hand:
//
//	go test ./legacykeys -run '^$' -bench ImportMillion -benchtime 1x -timeout 30m
//
// The goal is an import under a minute (s/import below 60).
func BenchmarkImportMillion(b *testing.B) {
	for _, be := range []struct {
		name string
		open func(testing.TB) store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}} {
		b.Run(be.name, func(b *testing.B) { benchImport(b, be.open) })
	}
}

// benchKeys is how many keys the million-key benchmarks use:
// AUTHZ_BENCH_KEYS overrides it, for a quicker profile.
func benchKeys(b *testing.B) int {
	if s := os.Getenv("AUTHZ_BENCH_KEYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("AUTHZ_BENCH_KEYS=%q: want a positive number", s)
		}
		return n
	}
	return 1_000_000
}

func benchImport(b *testing.B, open func(testing.TB) store.Store) {
	const owners, present = 10_000, 200
	keys := benchKeys(b)
	batch := 5_000
	if s := os.Getenv("AUTHZ_BENCH_BATCH"); s != "" {
		batch, _ = strconv.Atoi(s)
	}
	var csv bytes.Buffer
	csv.Grow(keys * 64)
	csv.WriteString("key,owner_external_id,tenant,scopes,environment\n")
	for i := range keys {
		fmt.Fprintf(&csv, "sk_live_%016x%08d,ext-%05d,ten_bench,orders:read,prod\n", uint64(i)*0x9e3779b97f4a7c15, i, i%owners)
	}
	file := csv.Bytes()

	for range b.N {
		b.StopTimer()
		st := open(b)
		h := benchHarness(b, st, present)
		b.StartTimer()
		start, cpu0 := time.Now(), processCPU()
		var rows []legacykeys.ImportRow
		var sum legacykeys.ImportSummary
		flush := func() error {
			s, err := h.svc.Import(h.ctx, rows, false)
			if err != nil {
				return err
			}
			sum.Imported += s.Imported
			sum.Orphans += s.Orphans
			sum.Rejected = append(sum.Rejected, s.Rejected...)
			rows = rows[:0]
			return nil
		}
		err := legacykeys.ParseImport(bytes.NewReader(file), "csv", func(r legacykeys.ImportRow) error {
			rows = append(rows, r)
			if len(rows) == batch {
				return flush()
			}
			return nil
		})
		if err == nil && len(rows) > 0 {
			err = flush()
		}
		if err != nil {
			b.Fatal(err)
		}
		importTime, importCPU := time.Since(start), processCPU()-cpu0
		b.StopTimer()
		if wantOrphans := keys - keys*present/owners; sum.Imported != keys || sum.Orphans != wantOrphans || len(sum.Rejected) != 0 {
			b.Fatalf("import summary: %d imported, %d orphans, %d rejected", sum.Imported, sum.Orphans, len(sum.Rejected))
		}

		b.ReportMetric(importTime.Seconds(), "s/import")
		b.ReportMetric(float64(importCPU.Microseconds())/float64(keys), "cpu-µs/key")
		if os.Getenv("AUTHZ_BENCH_NO_REFERENCE") != "" {
			b.StartTimer()
			continue // profiling the import alone
		}
		// The reference: the same rows (ids, hashes, owners), already
		// built, straight into the store in the same batch size.
		ref := open(b)
		hashed := make([]store.LegacyKey, 0, batch)
		now := time.Now().UTC().Truncate(time.Microsecond)
		var refTime time.Duration
		nextID := legacykeys.ImportedIDs(now)
		for i := 0; i < keys; i += batch {
			hashed = hashed[:0]
			for j := i; j < min(i+batch, keys); j++ {
				hash := h.hasher.Hash(fmt.Sprintf("sk_live_%016x%08d", uint64(j)*0x9e3779b97f4a7c15, j))
				k := store.LegacyKey{ID: nextID(), Hash: hash, TenantID: "ten_bench",
					OwnerRef: fmt.Sprintf("ext-%05d", j%owners), Scopes: []string{"orders:read"},
					Environment: "prod", Source: store.SourceImported, CreatedAt: now, Status: store.StatusActive, UpdatedAt: now}
				if j%owners < present {
					k.OwnerID = fmt.Sprintf("prn_%05d", j%owners)
				}
				hashed = append(hashed, k)
			}
			t := time.Now()
			if err := ref.Tx(context.Background(), func(tx store.Tx) error {
				_, err := tx.CreateLegacyKeys(context.Background(), hashed)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			refTime += time.Since(t)
		}
		b.ReportMetric(refTime.Seconds(), "s/raw-insert")
		b.ReportMetric(importTime.Seconds()/refTime.Seconds(), "import/raw")
		b.StartTimer()
	}
}

// benchHarness is newHarness for a benchmark: a tenant with n principals
// whose external ids are ext-00000...
func benchHarness(b *testing.B, st store.Store, n int) *harness {
	h := newHarnessTB(b, st)
	ctx := context.Background()
	now := t0
	if err := st.CreateTenant(ctx, store.Tenant{ID: "ten_bench", Name: "bench", Status: store.StatusActive, StatusChangedAt: now, CreatedAt: now, UpdatedAt: now}); err != nil {
		b.Fatal(err)
	}
	err := st.Tx(ctx, func(tx store.Tx) error {
		for i := range n {
			if err := tx.CreatePrincipal(ctx, store.Principal{ID: fmt.Sprintf("prn_%05d", i), TenantID: "ten_bench", Kind: store.KindService,
				DisplayName: strings.Repeat("p", 8), ExternalID: fmt.Sprintf("ext-%05d", i), Status: store.StatusActive,
				StatusChangedAt: now, CreatedAt: now, UpdatedAt: now}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// processCPU is the user and system CPU time this process has used: on a
// shared machine it moves far less with the load than wall time does.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkReportsMillion measures the reports at a million keys on both
// backends: 10,000 owners of which 200 exist (the keys of the other 9,800
// are orphans, 98 %), one key in 50 used within the last 30 days, one in
// 100 expiring within 30 days. The keys are generated in the benchmark
// (a few minutes per backend). Run it by hand:
//
//	go test ./legacykeys -run '^$' -bench ReportsMillion -benchtime 5x -timeout 60m
//
// The goal is every report, or its first page, under a second.
func BenchmarkReportsMillion(b *testing.B) {
	for _, be := range []struct {
		name string
		open func(testing.TB) store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}} {
		b.Run(be.name, func(b *testing.B) { benchReports(b, be.open(b)) })
	}
}

func benchReports(b *testing.B, st store.Store) {
	const owners, present = 10_000, 200
	keys := benchKeys(b)
	h := benchHarness(b, st, present)
	ctx := context.Background()
	now := h.clock.Now()
	start := time.Now()
	nextID := legacykeys.ImportedIDs(now)
	middle := "" // the id of the key in the middle: a cursor half way through
	batch := make([]store.LegacyKey, 0, 10_000)
	for i := 0; i < keys; i += cap(batch) {
		batch = batch[:0]
		for j := i; j < min(i+cap(batch), keys); j++ {
			o := j % owners
			hash := h.hasher.Hash(fmt.Sprintf("sk_live_%016x%08d", uint64(j)*0x9e3779b97f4a7c15, j))
			k := store.LegacyKey{ID: nextID(), Hash: hash, TenantID: "ten_bench",
				OwnerRef: fmt.Sprintf("ext-%05d", o), Scopes: []string{"orders:read"}, Environment: "prod",
				Source: store.SourceImported, CreatedAt: now.Add(-90 * day), AddedAt: now.Add(-60 * day),
				Status: store.StatusActive, UpdatedAt: now}
			if o < present {
				k.OwnerID = fmt.Sprintf("prn_%05d", o)
			}
			if j%50 == 0 {
				k.LastUsedAt, k.UseCount = ptr(now.Add(-time.Duration(j%29+1)*day)), 1
			}
			if j%100 == 1 {
				k.ExpiresAt = ptr(now.Add(time.Duration(j%29+1) * day))
			}
			if j == keys/2 {
				middle = k.ID
			}
			batch = append(batch, k)
		}
		if err := st.Tx(ctx, func(tx store.Tx) error { _, err := tx.CreateLegacyKeys(ctx, batch); return err }); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("%d keys generated in %v", keys, time.Since(start).Round(time.Second))
	for _, c := range []struct {
		name string
		run  func() (int, error)
	}{
		{"migration", func() (int, error) {
			rep, err := h.svc.MigrationReport(ctx, "")
			return len(rep.Holders), err
		}},
		{"migration_tenant", func() (int, error) {
			rep, err := h.svc.MigrationReport(ctx, "ten_bench")
			return len(rep.Holders), err
		}},
		{"orphans_first_page", func() (int, error) {
			os, _, err := h.svc.OrphansPage(ctx, "", store.Page{Limit: 100})
			return len(os), err
		}},
		{"orphans_page_1000", func() (int, error) {
			os, _, err := h.svc.OrphansPage(ctx, "ten_bench", store.Page{Limit: 1000, After: middle})
			return len(os), err
		}},
		{"expiring_first_page", func() (int, error) {
			ks, _, err := h.svc.ExpiringPage(ctx, "", 30*day, store.Page{Limit: 100})
			return len(ks), err
		}},
		{"expiring_7d_all", func() (int, error) {
			ks, err := h.svc.Expiring(ctx, "ten_bench", 7*day)
			return len(ks), err
		}},
	} {
		b.Run(c.name, func(b *testing.B) {
			n := 0
			for b.Loop() {
				var err error
				if n, err = c.run(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "rows")
		})
	}
}
