package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ChangesChannel is the LISTEN/NOTIFY channel on which every transaction
// that moves Generation announces itself.
const ChangesChannel = "authz_changes"

// Advisory lock keys (pg_advisory_xact_lock), database-wide constants.
const (
	lockSigningKeys = 0x617574687a_01 // "authz" 01
	lockStatusIndex = 0x617574687a_02
)

// Store is the PostgreSQL backend.
type Store struct {
	*sqlstore.Store
	pool     *pgxpool.Pool
	connCfg  *pgx.ConnConfig
	log      *slog.Logger
	stop     context.Context // done when the Store closes: ends change feeds
	stopFeed context.CancelFunc
}

type options struct {
	logger *slog.Logger
}

// Option tunes Open.
type Option func(*options)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// Dialect is sqlstore's view of PostgreSQL.
func Dialect() sqlstore.Dialect {
	return sqlstore.Dialect{
		Name:            "postgres",
		Classify:        classify,
		ForUpdate:       " FOR UPDATE",
		SkipLocked:      " FOR UPDATE SKIP LOCKED",
		LockSigningKeys: "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(lockSigningKeys, 10) + ")",
		LockStatusIndex: "SELECT pg_advisory_xact_lock(" + strconv.FormatInt(lockStatusIndex, 10) + ")",
		Notify:          "SELECT pg_notify('" + ChangesChannel + "', '')",
		InSet:           "%s = ANY(ARRAY(%s))",
		MaxParams:       65535, // the protocol's 16-bit parameter count
		ArrayInserts:    true,
		AnalyzeKeys:     "ANALYZE legacy_keys",
		KeysEstimate:    "SELECT reltuples::float8 FROM pg_class WHERE oid = 'legacy_keys'::regclass",
	}
}

// Open connects to PostgreSQL, migrates the schema and returns the Store.
// dsn is a postgres:// URL or a keyword/value string; pool_max_conns and
// the other pgxpool parameters in it are honoured, and search_path selects
// the schema.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: invalid --database: %s", oneLine(redact(err.Error(), "")))
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// Enough for the admin API, the background tasks and the audit
		// recorder; the token hot path reads from caches.
		cfg.MaxConns = int32(max(8, 4*runtime.GOMAXPROCS(0)))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	where := net.JoinHostPort(cfg.ConnConfig.Host, strconv.Itoa(int(cfg.ConnConfig.Port)))

	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, reachError(where, cfg.ConnConfig.Password, err)
	}
	fail := func(err error) (*Store, error) {
		pool.Close()
		return nil, err
	}
	var schema *string
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return fail(reachError(where, cfg.ConnConfig.Password, err))
	}
	if schema == nil {
		return fail(fmt.Errorf("postgres: no schema of the search_path exists in the database at %s; create it, or fix search_path in --database / AUTHZ_DATABASE", where))
	}

	db := stdlib.OpenDBFromPool(pool)
	// Two processes starting at once on one schema must not both migrate:
	// a session advisory lock, keyed by the schema, serialises them.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID(*schema)), lock.WithLockTimeout(1, 300))
	if err != nil {
		db.Close()
		return fail(fmt.Errorf("postgres: migration lock: %w", err))
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		db.Close()
		return fail(fmt.Errorf("postgres: embedded migrations: %w", err))
	}
	if err := sqlstore.Migrate(ctx, db, goose.DialectPostgres, sub, o.logger, goose.WithSessionLocker(locker)); err != nil {
		db.Close()
		return fail(fmt.Errorf("postgres: schema %q at %s: %w", *schema, where, err))
	}

	stop, stopFeed := context.WithCancel(context.Background())
	s := &Store{pool: pool, connCfg: cfg.ConnConfig.Copy(), log: o.logger, stop: stop, stopFeed: stopFeed}
	s.Store = sqlstore.New(sqlstore.Config{
		Dialect:   Dialect(),
		Writer:    db,
		Logger:    o.logger,
		Changes:   s.changes,
		PoolStats: s.poolStats,
		OnClose: func() error {
			stopFeed()
			pool.Close()
			return nil
		},
	})
	return s, nil
}

func (s *Store) poolStats() store.PoolStats {
	st := s.pool.Stat()
	return store.PoolStats{
		MaxOpen:      int(st.MaxConns()),
		Open:         int(st.TotalConns()),
		InUse:        int(st.AcquiredConns()),
		Idle:         int(st.IdleConns()),
		WaitCount:    st.EmptyAcquireCount(),
		WaitDuration: st.EmptyAcquireWaitTime(),
	}
}

// migrationLockID derives the migration lock from the schema, so that
// databases sharing a server (or tests sharing a database) migrate in
// parallel while two processes on one schema take turns.
func migrationLockID(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("authz-migrate:" + schema))
	return int64(h.Sum64() &^ (1 << 63))
}

// classify maps PostgreSQL and pgx errors to the store sentinels.
func classify(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "23505": // unique_violation
			return store.ErrConflict
		case pe.Code == "23503": // foreign_key_violation
			return fmt.Errorf("a referenced object does not exist: %w", store.ErrNotFound)
		case strings.HasPrefix(pe.Code, "08"), // connection_exception
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, cannot connect now
			pe.Code == "53300": // too_many_connections
			return store.ErrUnavailable
		}
		return nil
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return store.ErrUnavailable
	}
	if strings.Contains(err.Error(), "closed pool") {
		return store.ErrUnavailable
	}
	return nil
}

// reachError is the one line an operator sees when the server cannot be
// used: where, why, and which setting to check. It never holds the
// password.
func reachError(where, password string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return &unavailableError{fmt.Sprintf("PostgreSQL at %s refused the connection: %s (SQLSTATE %s); check --database / AUTHZ_DATABASE",
			where, redact(pe.Message, password), pe.Code)}
	}
	return &unavailableError{fmt.Sprintf("cannot reach PostgreSQL at %s: %s; check --database / AUTHZ_DATABASE",
		where, redact(innermost(err), password))}
}

// unavailableError is an Open failure that reads as one line and is
// store.ErrUnavailable to errors.Is: the server may retry.
type unavailableError struct{ msg string }

func (e *unavailableError) Error() string { return e.msg }
func (e *unavailableError) Unwrap() error { return store.ErrUnavailable }

// innermost is the text of the deepest errors in err's tree: "connection
// refused" rather than pgx's account of each attempt (with sslmode=prefer
// it tries twice and joins both failures).
func innermost(err error) string {
	var leaves []string
	var walk func(error)
	walk = func(e error) {
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				walk(c)
			}
			return
		case interface{ Unwrap() error }:
			if c := u.Unwrap(); c != nil {
				walk(c)
				return
			}
		}
		if msg := oneLine(e.Error()); !slices.Contains(leaves, msg) {
			leaves = append(leaves, msg)
		}
	}
	walk(err)
	return strings.Join(leaves, "; ")
}

func redact(s, password string) string {
	if password != "" {
		s = strings.ReplaceAll(s, password, "xxxxx")
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
