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
// by external id) into PostgreSQL the way `authz key import` does: the
// file is parsed and sent to Import in batches of 5,000 rows. It also
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
	const owners = 10_000
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
		h := benchHarness(b, st, owners)
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
		if sum.Imported != keys || sum.Orphans != 0 || len(sum.Rejected) != 0 {
			b.Fatalf("import summary: %d imported, %d orphans, %d rejected", sum.Imported, sum.Orphans, len(sum.Rejected))
		}

		// The reference: the same rows (ids, hashes, owners), already
		// built, straight into the store in the same batch size.
		ref := open(b)
		hashed := make([]store.LegacyKey, 0, batch)
		now := time.Now().UTC().Truncate(time.Microsecond)
		var refTime time.Duration
		for i := 0; i < keys; i += batch {
			hashed = hashed[:0]
			for j := i; j < min(i+batch, keys); j++ {
				hash := h.hasher.Hash(fmt.Sprintf("sk_live_%016x%08d", uint64(j)*0x9e3779b97f4a7c15, j))
				hashed = append(hashed, store.LegacyKey{ID: legacykeys.ImportedID(hash), Hash: hash, TenantID: "ten_bench",
					OwnerID: fmt.Sprintf("prn_%05d", j%owners), OwnerRef: fmt.Sprintf("ext-%05d", j%owners), Scopes: []string{"orders:read"},
					Environment: "prod", Source: store.SourceImported, CreatedAt: now, Status: store.StatusActive, UpdatedAt: now})
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
		b.ReportMetric(importTime.Seconds(), "s/import")
		b.ReportMetric(float64(importCPU.Microseconds())/float64(keys), "cpu-µs/key")
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
