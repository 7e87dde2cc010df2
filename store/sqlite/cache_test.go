package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/sqlite"
)

// TestWriterCacheGivenBack: the writer's page cache is raised for a bulk
// insert's transaction only and back at the normal ceiling once it has
// committed or rolled back, so that a serving process does not keep a
// bulk import's 128 MiB (issue 13: RSS after a million tokens); with a
// release delay, it stays raised between the batches of an import. Each
// case starts from a fresh store.
func TestWriterCacheGivenBack(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	key := func(id string) store.LegacyKey {
		return store.LegacyKey{
			ID: id, Hash: []byte("hash-of-" + id), TenantID: "ten_a", OwnerID: "prn_1", Scopes: []string{},
			Label: "label " + id, Environment: "prod", Source: store.SourceIssued, CreatedAt: t0,
			Status: store.StatusActive, UpdatedAt: t0, AddedAt: t0,
		}
	}
	errRollback := errors.New("roll back")
	bulk := func(ctx context.Context, s *sqlite.Store) error {
		_, err := s.CreateLegacyKeys(ctx, []store.LegacyKey{key("key_1"), key("key_2")})
		return err
	}
	tests := []struct {
		name    string
		after   time.Duration // sqlite.WithReleaseCacheAfter
		do      func(ctx context.Context, s *sqlite.Store) error
		wantErr error
		want    int64
	}{
		{"after open", 0, func(context.Context, *sqlite.Store) error { return nil }, nil, sqlite.WriterCacheKiB},
		{"after a bulk insert", 0, bulk, nil, sqlite.WriterCacheKiB},
		{"after a bulk insert, release pending", time.Hour, bulk, nil, sqlite.BulkCacheKiB},
		{"after two bulk inserts, release pending", time.Hour, func(ctx context.Context, s *sqlite.Store) error {
			if err := bulk(ctx, s); err != nil {
				return err
			}
			_, err := s.CreateLegacyKeys(ctx, []store.LegacyKey{key("key_3")})
			return err
		}, nil, sqlite.BulkCacheKiB},
		{"after a bulk insert rolled back", 0, func(ctx context.Context, s *sqlite.Store) error {
			return s.Tx(ctx, func(tx store.Tx) error {
				if _, err := tx.CreateLegacyKeys(ctx, []store.LegacyKey{key("key_1")}); err != nil {
					return err
				}
				return errRollback
			})
		}, errRollback, sqlite.WriterCacheKiB},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"), sqlite.WithReleaseCacheAfter(tc.after))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if err := s.CreateTenant(ctx, store.Tenant{ID: "ten_a", Name: "a", Status: store.StatusActive,
				StatusChangedAt: t0, StatusChangedBy: "cli", CreatedAt: t0, UpdatedAt: t0}); err != nil {
				t.Fatal(err)
			}
			if err := s.CreatePrincipal(ctx, store.Principal{ID: "prn_1", TenantID: "ten_a", Kind: store.KindService,
				DisplayName: "P", Status: store.StatusActive, StatusChangedAt: t0, StatusChangedBy: "cli",
				CreatedAt: t0, UpdatedAt: t0}); err != nil {
				t.Fatal(err)
			}
			if err := tc.do(ctx, s); !errors.Is(err, tc.wantErr) {
				t.Fatalf("got error %v, want %v", err, tc.wantErr)
			}
			got, err := sqlite.WriterCacheSize(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("writer cache_size = %d, want %d (normal %d, bulk %d)", got, tc.want, sqlite.WriterCacheKiB, sqlite.BulkCacheKiB)
			}
		})
	}
}
