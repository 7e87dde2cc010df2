package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authz/authz/store"
)

// Config is what a backend hands to New.
type Config struct {
	Dialect Dialect
	// Writer runs every transaction and every write.
	Writer *sql.DB
	// Reader runs reads made outside a transaction; nil means Writer.
	// SQLite gives a separate pool here so that reads never queue behind
	// its single writer connection.
	Reader *sql.DB
	Logger *slog.Logger
	// Changes implements store.Store.Changes; nil means the backend cannot
	// push changes and Changes returns nil.
	Changes func(ctx context.Context) <-chan struct{}
	// PoolStats overrides the statistics of the database/sql pools, for
	// backends whose real pool lives underneath (pgxpool).
	PoolStats func() store.PoolStats
	// OnClose runs after both pools are closed.
	OnClose func() error
	// PrepareReads runs the reads made outside a transaction through
	// statements prepared once and kept (preparedPool), for drivers that
	// do not cache them themselves.
	PrepareReads bool
	// ReleaseCacheAfter is how long after the last bulk insert's
	// transaction Dialect.ReleaseCache runs (0: as that transaction
	// ends). An import is a series of batches, each its own transaction,
	// and the pages one batch cached are what the next reads.
	ReleaseCacheAfter time.Duration
}

// Store implements store.Store over database/sql.
type Store struct {
	queries // reads outside transactions, on the reader pool

	cfg    Config
	writer *sql.DB
	reader *sql.DB
	log    *slog.Logger
	// local counts this process's committed changes (LocalChanges).
	local atomic.Uint64
	// keysSinceAnalyze counts legacy keys bulk-inserted by this process
	// since it last refreshed the planner's statistics (afterBulkInsert).
	keysSinceAnalyze atomic.Int64
	// txStmts holds the writer's prepared statements
	// (Dialect.PrepareStatements, prepared_tx.go).
	txStmts preparedSet
	// readStmts is the reader pool's statement cache (Config.PrepareReads,
	// prepared_reads.go), or nil.
	readStmts *preparedPool
	// cache: the pending release of a bulk insert's page cache
	// (releaseLater); closed stops new ones.
	cache struct {
		sync.Mutex
		timer  *time.Timer
		closed bool
	}
}

var (
	_ store.Store = (*Store)(nil)
	_ store.Tx    = (*txn)(nil)
)

// New returns a Store over the given pools. The schema must already be
// migrated (see Migrate).
func New(cfg Config) *Store {
	reader := cfg.Reader
	if reader == nil {
		reader = cfg.Writer
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{cfg: cfg, writer: cfg.Writer, reader: reader, log: log}
	s.queries = queries{d: &s.cfg.Dialect, c: reader}
	if cfg.PrepareReads {
		s.readStmts = newPreparedPool(reader)
		s.queries.c = s.readStmts
	}
	return s
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// queries implements store.Queries on a pool or inside a transaction.
type queries struct {
	d  *Dialect
	c  querier
	tx *txState // nil outside a transaction
}

// txState is what a transaction remembers between its statements.
type txState struct {
	// changed: a statement touched something Generation covers; the
	// counter moves (and replicas are notified) at commit.
	changed bool
	// failed: a statement failed in the database; see errTxAborted.
	failed bool
	// keysAdded counts the legacy keys CreateLegacyKeys inserted (see
	// Store.afterBulkInsert).
	keysAdded int64
	// bulkCache: the transaction raised the connection's page cache
	// (Dialect.BulkCache); it is given back when the transaction ends.
	bulkCache bool
}

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// describe names an operation for an error message.
func describe(op, id string) string {
	if id == "" {
		return op
	}
	return op + " " + strconv.Quote(id)
}

// fail translates err and, inside a transaction, marks it aborted unless
// the error was merely "no rows".
func (q *queries) fail(ctx context.Context, err error, op, id string) error {
	if q.tx != nil && !errors.Is(err, sql.ErrNoRows) {
		q.tx.failed = true
	}
	return q.d.translate(ctx, describe(op, id), err)
}

// check refuses to run a statement in an aborted transaction.
func (q *queries) check(op, id string) error {
	if q.tx != nil && q.tx.failed {
		return fmt.Errorf("%s: %s: %w", q.d.Name, describe(op, id), errTxAborted)
	}
	return nil
}

func (q *queries) exec(ctx context.Context, op, id, query string, args ...any) (sql.Result, error) {
	if err := q.check(op, id); err != nil {
		return nil, err
	}
	res, err := q.c.ExecContext(ctx, query, args...)
	if err != nil {
		return nil, q.fail(ctx, err, op, id)
	}
	return res, nil
}

// execN runs a statement and returns how many rows it affected.
func (q *queries) execN(ctx context.Context, op, id, query string, args ...any) (int64, error) {
	res, err := q.exec(ctx, op, id, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, q.fail(ctx, err, op, id)
	}
	return n, nil
}

// row runs a query expected to return one row and scans it with scan.
// No row is store.ErrNotFound.
func (q *queries) row(ctx context.Context, op, id string, scan func(scanner) error, query string, args ...any) error {
	if err := q.check(op, id); err != nil {
		return err
	}
	if err := scan(q.c.QueryRowContext(ctx, query, args...)); err != nil {
		return q.fail(ctx, err, op, id)
	}
	return nil
}

// rows runs a query and calls each for every row.
func (q *queries) rows(ctx context.Context, op, id string, each func(scanner) error, query string, args ...any) error {
	if err := q.check(op, id); err != nil {
		return err
	}
	rs, err := q.c.QueryContext(ctx, query, args...)
	if err != nil {
		return q.fail(ctx, err, op, id)
	}
	defer rs.Close()
	for rs.Next() {
		if err := each(rs); err != nil {
			return q.fail(ctx, err, op, id)
		}
	}
	if err := rs.Err(); err != nil {
		return q.fail(ctx, err, op, id)
	}
	return nil
}

// markChanged records that the transaction changed something Generation
// covers.
func (q *queries) markChanged() { q.tx.changed = true }

// txn implements store.Tx: the same queries, on the transaction.
type txn struct {
	queries
}

// Tx runs fn in one transaction on the writer pool. On SQLite the
// transaction begins IMMEDIATE and so holds the write lock from the start;
// on PostgreSQL it is READ COMMITTED, and read-modify-writes take row locks.
//
// fn must use the Tx it is given, never the Store: on SQLite the Store's
// writes wait for the one writer connection that fn's transaction holds.
func (s *Store) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	return s.inTx(ctx, func(t *txn) error { return fn(t) })
}

func (s *Store) inTx(ctx context.Context, fn func(t *txn) error) (err error) {
	if s.d.PrepareStatements {
		s.txStmts.prepare(ctx, s.writer)
	}
	var t *txn
	// Registered first so that it runs last, once the writer connection
	// is back in the pool: releasing the cache takes it.
	defer func() {
		if t != nil && t.queries.tx.bulkCache {
			s.releaseLater(ctx)
		}
	}()
	var sqlTx *sql.Tx
	// releaseConn gives the writer connection back (once): after the
	// rollback, or right after the commit, before anything after it needs
	// the writer again.
	releaseConn := func() {}
	defer func() { releaseConn() }()
	if s.d.UncancelledStatements {
		// The wait for the writer honours ctx; what runs on it then
		// does not watch it (Dialect.UncancelledStatements).
		conn, err := s.writer.Conn(ctx)
		if err != nil {
			return s.d.translate(ctx, "begin transaction", err)
		}
		releaseConn = func() { conn.Close(); releaseConn = func() {} }
		sqlTx, err = conn.BeginTx(context.WithoutCancel(ctx), nil)
		if err != nil {
			return s.d.translate(ctx, "begin transaction", err)
		}
	} else if sqlTx, err = s.writer.BeginTx(ctx, nil); err != nil {
		return s.d.translate(ctx, "begin transaction", err)
	}
	var c querier = sqlTx
	if s.d.PrepareStatements {
		c = preparedQuerier{tx: sqlTx, set: &s.txStmts}
	}
	if s.d.UncancelledStatements {
		c = uncancelled{c}
	}
	t = &txn{queries: queries{d: s.d, c: c, tx: &txState{}}}
	committed := false
	defer func() {
		if committed {
			return
		}
		// Rollback also runs when fn panics; the panic then goes on.
		if rbErr := sqlTx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			s.log.WarnContext(ctx, "rollback failed", "backend", s.d.Name, "err", rbErr)
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	if t.queries.tx.failed {
		// fn swallowed a database error; PostgreSQL would refuse to
		// commit, so nothing commits anywhere.
		return fmt.Errorf("%s: commit: %w", s.d.Name, errTxAborted)
	}
	if t.queries.tx.changed {
		if _, err := t.exec(ctx, "record change", "", `UPDATE generation SET value = value + 1 WHERE id = 1`); err != nil {
			return err
		}
		if s.d.Notify != "" {
			if _, err := t.exec(ctx, "notify change", "", s.d.Notify); err != nil {
				return err
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return s.d.translate(ctx, "commit", err)
	}
	if err := sqlTx.Commit(); err != nil {
		return s.d.translate(ctx, "commit", err)
	}
	committed = true
	releaseConn()
	if t.queries.tx.changed {
		s.local.Add(1)
	}
	if t.queries.tx.keysAdded > 0 {
		s.afterBulkInsert(ctx, t.queries.tx.keysAdded)
	}
	return nil
}

// releaseLater runs releaseCache ReleaseCacheAfter from now, or at once,
// postponing a release already pending: the next batch of an import finds
// its pages still cached.
func (s *Store) releaseLater(ctx context.Context) {
	if s.cfg.ReleaseCacheAfter <= 0 {
		s.releaseCache(ctx)
		return
	}
	s.cache.Lock()
	defer s.cache.Unlock()
	switch {
	case s.cache.closed:
	case s.cache.timer == nil:
		s.cache.timer = time.AfterFunc(s.cfg.ReleaseCacheAfter, func() { s.releaseCache(context.WithoutCancel(ctx)) })
	default:
		s.cache.timer.Reset(s.cfg.ReleaseCacheAfter)
	}
}

// releaseCache gives back the page cache a bulk transaction raised
// (Dialect.BulkCache), once that transaction has committed or rolled back:
// on SQLite the writer is one connection, so this runs on the connection
// that held it.
func (s *Store) releaseCache(ctx context.Context) {
	for _, q := range s.d.ReleaseCache {
		if _, err := s.writer.ExecContext(context.WithoutCancel(ctx), q); err != nil {
			s.log.WarnContext(ctx, "release bulk page cache", "backend", s.d.Name, "err", err)
			return
		}
	}
}

// analyzeEvery is how many bulk-inserted legacy keys, at least, make the
// store refresh the planner's statistics of legacy_keys.
const analyzeEvery = 50_000

// afterBulkInsert refreshes the planner's statistics of legacy_keys
// (Dialect.AnalyzeKeys) once the keys bulk-inserted since the last refresh
// are at least analyzeEvery and as many as the table held then: during a
// million-key import, at about 50,000, 100,000, 200,000... keys, a handful
// of ANALYZEs of a 30,000-row sample each. Without it PostgreSQL plans the
// reports right after a bulk import with no statistics, and chose a
// parallel scan of every key and JIT compilation for the holders of the
// migration report (1.4 s at a million keys, against 0.2 s after ANALYZE;
// autovacuum gets there only minutes later). The import has committed: a
// failure is logged, never returned.
func (s *Store) afterBulkInsert(ctx context.Context, n int64) {
	if s.d.AnalyzeKeys == "" {
		return
	}
	since := s.keysSinceAnalyze.Add(n)
	if since < analyzeEvery {
		return
	}
	var est float64
	if err := s.writer.QueryRowContext(ctx, s.d.KeysEstimate).Scan(&est); err != nil {
		s.log.WarnContext(ctx, "legacy key statistics: estimate", "backend", s.d.Name, "err", err)
		return
	}
	if float64(since) < est || !s.keysSinceAnalyze.CompareAndSwap(since, 0) {
		return // not grown enough yet, or another batch refreshes them
	}
	if _, err := s.writer.ExecContext(ctx, s.d.AnalyzeKeys); err != nil {
		s.log.WarnContext(ctx, "legacy key statistics: analyze", "backend", s.d.Name, "err", err)
	}
}

// LocalChanges implements store.Store.
func (s *Store) LocalChanges() uint64 { return s.local.Load() }

// Changes implements store.Store.
func (s *Store) Changes(ctx context.Context) <-chan struct{} {
	if s.cfg.Changes == nil {
		return nil
	}
	return s.cfg.Changes(ctx)
}

// PoolStats implements store.Store.
func (s *Store) PoolStats() store.PoolStats {
	if s.cfg.PoolStats != nil {
		return s.cfg.PoolStats()
	}
	st := statsOf(s.writer.Stats())
	if s.reader != s.writer {
		r := statsOf(s.reader.Stats())
		st.MaxOpen += r.MaxOpen
		st.Open += r.Open
		st.InUse += r.InUse
		st.Idle += r.Idle
		st.WaitCount += r.WaitCount
		st.WaitDuration += r.WaitDuration
	}
	return st
}

func statsOf(s sql.DBStats) store.PoolStats {
	return store.PoolStats{
		MaxOpen:      s.MaxOpenConnections,
		Open:         s.OpenConnections,
		InUse:        s.InUse,
		Idle:         s.Idle,
		WaitCount:    s.WaitCount,
		WaitDuration: s.WaitDuration,
	}
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.writer.PingContext(ctx); err != nil {
		return s.d.translate(ctx, "ping", err)
	}
	return nil
}

// Backend implements store.Store.
func (s *Store) Backend() string { return s.d.Name }

// Close closes both pools and then runs the backend's OnClose.
func (s *Store) Close() error {
	var errs []error
	s.cache.Lock()
	s.cache.closed = true
	if s.cache.timer != nil {
		s.cache.timer.Stop()
	}
	s.cache.Unlock()
	s.txStmts.close()
	if s.readStmts != nil {
		errs = append(errs, s.readStmts.close())
	}
	if s.reader != s.writer {
		errs = append(errs, s.reader.Close())
	}
	errs = append(errs, s.writer.Close())
	if s.cfg.OnClose != nil {
		errs = append(errs, s.cfg.OnClose())
	}
	return errors.Join(errs...)
}

// Generation implements store.Queries.
func (q *queries) Generation(ctx context.Context) (int64, error) {
	var g int64
	err := q.row(ctx, "read generation", "", func(r scanner) error { return r.Scan(&g) },
		`SELECT value FROM generation WHERE id = 1`)
	return g, err
}
