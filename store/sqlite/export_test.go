package sqlite

import (
	"context"
	"time"
)

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

// WithReleaseCacheAfter sets how long after a bulk insert the writer's
// page cache is given back (default 10 s).
func WithReleaseCacheAfter(d time.Duration) Option {
	return func(o *options) { o.releaseCacheAfter = d }
}
