package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite backend.
type Store struct {
	*sqlstore.Store
	path string
	// writer is the one write connection's pool (its page cache is
	// checked by tests).
	writer *sql.DB
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

type options struct {
	logger      *slog.Logger
	busyTimeout time.Duration
	readers     int
	// dialect, if set, adjusts the dialect (in-package benchmarks measure
	// a change against the previous behaviour with it).
	dialect func(*sqlstore.Dialect)
	// releaseCacheAfter: see sqlstore.Config.ReleaseCacheAfter.
	releaseCacheAfter time.Duration
}

// Option tunes Open.
type Option func(*options)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithBusyTimeout sets how long a statement waits for another process's
// lock on the file before failing (default 5s).
func WithBusyTimeout(d time.Duration) Option { return func(o *options) { o.busyTimeout = d } }

// WithReaders sets the size of the read pool (default 4).
func WithReaders(n int) Option { return func(o *options) { o.readers = n } }

// Dialect is sqlstore's view of SQLite.
func Dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:       "sqlite",
		EncodeTime: sqlstore.UnixMicro,
		Classify:   classify,
		// ForUpdate, SkipLocked, the locks and Notify stay empty: every
		// write transaction begins IMMEDIATE on the one writer
		// connection, so writes are already serial, and there is no other
		// replica to tell.
		MaxParams:             sqlite3.SQLITE_MAX_VARIABLE_NUMBER,
		BulkPlaceholder:       "?",
		RowByRowInserts:       true,
		TallyInserts:          true,
		PrepareStatements:     true,
		UncancelledStatements: true,
		// A bulk import's batch holds what it dirties in the page cache
		// until it commits. At a 2 MiB cache it spills half-written index
		// pages to the WAL and reads them back (issue 19: 100,000
		// imported keys 12.8 s with 128 MiB against 20.7 s with the
		// default, same batches). temp_store=MEMORY, tried for the
		// statement journal, made imports slower (see RowByRowInserts).
		// The ceiling is raised for that transaction and lowered after
		// it, shrink_memory freeing the pages above the normal ceiling,
		// so that one import does not leave a serving process 128 MiB
		// larger.
		BulkCache:    "PRAGMA cache_size(" + strconv.Itoa(bulkCacheKiB) + ")",
		ReleaseCache: []string{"PRAGMA cache_size(" + strconv.Itoa(writerCacheKiB) + ")", "PRAGMA shrink_memory"},
	}
}

// The writer's page cache ceilings, in SQLite's negative-KiB form: in
// normal operation and during a bulk insert's transaction.
const (
	writerCacheKiB = -2048
	bulkCacheKiB   = -131072
)

// Open opens (creating if needed) the SQLite database at path and migrates
// it to the current schema.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	// A bulk import's batches keep the raised page cache between them
	// when they come within 10 s of each other (the next batch reads the
	// index pages the last one cached); 10 s after the last, it is given
	// back.
	o := options{busyTimeout: 5 * time.Second, readers: 4, releaseCacheAfter: 10 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if err := prepareFile(path); err != nil {
		return nil, err
	}

	common := url.Values{}
	common.Add("_pragma", "busy_timeout("+strconv.FormatInt(o.busyTimeout.Milliseconds(), 10)+")")
	common.Add("_pragma", "foreign_keys(1)")
	writerQ := cloneValues(common)
	// WAL lets readers go on while the writer writes. synchronous=FULL makes
	// each commit durable before it returns: an audit event is on disk
	// before the response that depends on it is sent (the audit recorder's
	// group commit amortises the fsync). IMMEDIATE transactions take the
	// write lock at BEGIN, so a read-then-write transaction can never fail
	// to upgrade its lock.
	writerQ.Add("_pragma", "journal_mode(WAL)")
	writerQ.Add("_pragma", "synchronous(FULL)")
	writerQ.Set("_txlock", "immediate")
	// The writer's page cache. SQLite keeps every page it has read or
	// written in it up to this ceiling, and with modernc's allocator that
	// memory is outside Go's heap: at the 128 MiB ceiling bulk imports
	// want, a server issuing tokens grew by about 1.3 KiB of RSS per token
	// (every audit page appended stays cached) to 290 MiB after 200,000
	// tokens with 6 MiB of Go heap (issue 13, docs/benchmarks.md "RSS after
	// a million tokens"). The audit group commit touches the few pages at
	// the right edge of its B-trees, so SQLite's default of 2 MiB is ample
	// (8 MiB held pages of the audit log nobody reads again, which the
	// garbage collector's headroom uses better: gcpolicy); a bulk insert
	// raises the ceiling for its own transaction only (Dialect.BulkCache).
	writerQ.Add("_pragma", "cache_size("+strconv.Itoa(writerCacheKiB)+")")
	// A checkpoint copies every page the WAL holds to the database file
	// and syncs it. At SQLite's default (every 1,000 pages) a bulk import
	// checkpointed after every batch, copying the same hot index pages
	// again each time; at 40,000 pages (160 MB of WAL) it copies each
	// once per several batches (issue 19: a million keys in 90 s against
	// 191 s, the same CPU, batches of 20,000). journal_size_limit gives
	// the disk back after the WAL restarts.
	writerQ.Add("_pragma", "wal_autocheckpoint(40000)")
	writerQ.Add("_pragma", "journal_size_limit(67108864)")
	readerQ := cloneValues(common)
	readerQ.Add("_pragma", "query_only(1)")

	writer, err := sql.Open("sqlite", path+"?"+writerQ.Encode())
	if err != nil {
		return nil, openError(path, err)
	}
	// One writer connection: SQLite has one write lock per file, and
	// queueing in database/sql is cheaper and fairer than spinning on
	// SQLITE_BUSY.
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, openError(path, err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: embedded migrations: %w", err)
	}
	if err := sqlstore.Migrate(ctx, writer, goose.DialectSQLite3, sub, o.logger); err != nil {
		writer.Close()
		return nil, openError(path, err)
	}

	reader, err := sql.Open("sqlite", path+"?"+readerQ.Encode())
	if err != nil {
		writer.Close()
		return nil, openError(path, err)
	}
	reader.SetMaxOpenConns(max(o.readers, 1))
	reader.SetMaxIdleConns(max(o.readers, 1))
	if err := reader.PingContext(ctx); err != nil {
		reader.Close()
		writer.Close()
		return nil, openError(path, err)
	}

	d := Dialect()
	if o.dialect != nil {
		o.dialect(&d)
	}
	s := sqlstore.New(sqlstore.Config{
		Dialect: d,
		Writer:  writer,
		Reader:  reader,
		Logger:  o.logger,
		// modernc parses each call's SQL text anew; PostgreSQL's pgx
		// caches prepared statements itself.
		PrepareReads:      true,
		ReleaseCacheAfter: o.releaseCacheAfter,
	})
	return &Store{Store: s, path: path, writer: writer}, nil
}

// prepareFile creates the directory and, with owner-only permissions, the
// file: the database holds key hashes and sealed signing keys, and SQLite
// gives its -wal and -shm files the database file's permissions.
func prepareFile(path string) error {
	switch {
	case path == "" || path == ":memory:" || strings.HasPrefix(path, "file::memory:"):
		return fmt.Errorf("sqlite: a database file path is required (an in-memory database cannot be shared by the server's connections); use --database sqlite:PATH, for example sqlite:authz.db")
	case strings.ContainsRune(path, '?'):
		return fmt.Errorf("sqlite: database path %q contains '?'; choose a path without it", path)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sqlite: cannot create directory %s for database %s: %v; choose a writable location with --database sqlite:PATH",
			dir, path, unwrapPath(err))
	}
	fi, err := os.Stat(path)
	switch {
	case err == nil && fi.IsDir():
		return fmt.Errorf("sqlite: %s is a directory, not a database file; name a file inside it, for example --database sqlite:%s",
			path, filepath.Join(path, "authz.db"))
	case err == nil:
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("sqlite: cannot use database file %s: %v", path, unwrapPath(err))
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil // another process created it first
	}
	if err != nil {
		return fmt.Errorf("sqlite: cannot create database file %s: %v; choose a writable location with --database sqlite:PATH",
			path, unwrapPath(err))
	}
	return f.Close()
}

// unwrapPath drops the path from an *fs.PathError: the message names it
// already.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// openError turns a failure to open or migrate the file into one line that
// names the file and what to do about it.
func openError(path string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_NOTADB:
			return fmt.Errorf("sqlite: %s is not an SQLite database (%s); point --database at an authz database file, or at a new path to create one", path, se.Error())
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return &unavailableError{fmt.Sprintf("sqlite: %s is locked by another process (%s); stop the other process, or use PostgreSQL to run several authz replicas",
				path, se.Error())}
		case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY:
			return fmt.Errorf("sqlite: cannot open %s for writing (%s); check the file's permissions or choose another path with --database sqlite:PATH", path, se.Error())
		case sqlite3.SQLITE_CORRUPT:
			return fmt.Errorf("sqlite: %s is corrupt (%s); restore it from a backup", path, se.Error())
		}
	}
	if errors.Is(err, sqlstore.ErrSchemaTooNew) {
		return fmt.Errorf("sqlite: %s: %w", path, err)
	}
	return fmt.Errorf("sqlite: cannot open %s: %v", path, err)
}

// unavailableError reads as one line and is store.ErrUnavailable to
// errors.Is: a lock held by another process may go away.
type unavailableError struct{ msg string }

func (e *unavailableError) Error() string { return e.msg }
func (e *unavailableError) Unwrap() error { return store.ErrUnavailable }

// classify maps SQLite result codes to the store sentinels.
func classify(err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return nil
	}
	switch se.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return store.ErrConflict
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return fmt.Errorf("a referenced object does not exist: %w", store.ErrNotFound)
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL:
		return store.ErrUnavailable
	}
	return nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
