package sqlite

import "context"

// WriterCacheSize is the write connection's page cache ceiling as SQLite
// reports it (negative: KiB).
func WriterCacheSize(ctx context.Context, s *Store) (int64, error) {
	var n int64
	err := s.writer.QueryRowContext(ctx, "PRAGMA cache_size").Scan(&n)
	return n, err
}

// Cache ceilings, for tests.
const (
	WriterCacheKiB = writerCacheKiB
	BulkCacheKiB   = bulkCacheKiB
)
