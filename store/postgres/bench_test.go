package postgres_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// importBatch is how many keys one CreateLegacyKeys call takes, as an
// import streaming a large file would hand them over.
const importBatch = 10_000

// referenceKeys is how many keys the row-by-row reference inserts.
const referenceKeys = 20_000

func benchKeys(prefix string, n int) []store.LegacyKey {
	now := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	ks := make([]store.LegacyKey, n)
	for i := range ks {
		id := fmt.Sprintf("key_%s%010d", prefix, i)
		h := sha256.Sum256([]byte(id))
		ks[i] = store.LegacyKey{
			ID: id, Hash: h[:], TenantID: "ten_bench", OwnerRef: fmt.Sprintf("emp-%d", i%5000),
			Scopes: []string{"orders:read"}, Label: "imported", Environment: "prod", Source: store.SourceImported,
			CreatedAt: now, Status: store.StatusActive, UpdatedAt: now,
		}
	}
	return ks
}

// BenchmarkCreateLegacyKeys measures the bulk import path, one op per key,
// against a reference measured in the same run on the same server: the
// same keys inserted one INSERT each (in transactions of importBatch).
// Reported: ns/op (per key), s/1M-keys, and speedup = reference ns per key
// divided by bulk ns per key. Run with -benchtime=1000000x to import a
// million keys.
func BenchmarkCreateLegacyKeys(b *testing.B) {
	ctx := context.Background()
	s := storetest.OpenPostgres(b)

	ref := benchKeys("r", referenceKeys)
	start := time.Now()
	for chunk := range slices.Chunk(ref, importBatch) {
		if err := s.Tx(ctx, func(tx store.Tx) error {
			for _, k := range chunk {
				if err := tx.CreateLegacyKey(ctx, k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	refPerKey := float64(time.Since(start).Nanoseconds()) / float64(len(ref))

	keys := benchKeys("b", b.N)
	b.ResetTimer()
	inserted := 0
	for chunk := range slices.Chunk(keys, importBatch) {
		ids, err := s.CreateLegacyKeys(ctx, chunk)
		if err != nil {
			b.Fatal(err)
		}
		inserted += len(ids)
	}
	b.StopTimer()
	if inserted != b.N {
		b.Fatalf("inserted %d of %d keys", inserted, b.N)
	}
	perKey := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perKey*1e6/1e9, "s/1M-keys")
	b.ReportMetric(refPerKey/perKey, "speedup")
}
