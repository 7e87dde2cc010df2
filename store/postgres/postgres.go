package postgres

import (
	"context"
	"database/sql"
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
	logger    *slog.Logger
	listenURL string
	pooled    bool
	// tracer, if set, sees every query of the pool (benchmarks count
	// round trips with it).
	tracer pgx.QueryTracer
}

// Option tunes Open.
type Option func(*options)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithListenURL names a direct connection to the same database (not
// through a pooler) for the LISTEN that pushes changes to this replica and
// for the migration's session lock. Giving one says that the main DSN goes
// through a transaction-pooling pooler (WithTransactionPooler).
func WithListenURL(dsn string) Option { return func(o *options) { o.listenURL = dsn } }

// WithTransactionPooler says that the DSN reaches PostgreSQL through a
// pooler in transaction mode (PgBouncer pool_mode=transaction): consecutive
// transactions of one client connection may run on different server
// connections, so nothing may rely on session state. Open then:
//   - runs queries in pgx's QueryExecModeCacheDescribe (unnamed prepared
//     statements, descriptions cached in the client) unless the DSN sets
//     default_query_exec_mode itself;
//   - serialises migrations with goose's lock table instead of a session
//     advisory lock, unless WithListenURL gives a direct connection;
//   - listens for changes only on WithListenURL's connection; without
//     one, replicas learn of changes by polling store.Generation.
func WithTransactionPooler() Option { return func(o *options) { o.pooled = true } }

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
		// One round trip per audit group commit instead of five.
		AppendInOneStatement: true,
		AnalyzeKeys:          "ANALYZE legacy_keys",
		KeysEstimate:         "SELECT reltuples::float8 FROM pg_class WHERE oid = 'legacy_keys'::regclass",
	}
}

// Open connects to PostgreSQL, migrates the schema and returns the Store.
// dsn is a postgres:// URL or a keyword/value string; pool_max_conns and
// the other pgxpool parameters in it are honoured, and search_path selects
// the schema. A URL may list several hosts (postgres://h1:5432,h2:5432/db),
// tried in order on every new connection; without target_session_attrs,
// such a list gets target_session_attrs=read-write, since authz writes on
// every token and only the primary accepts writes.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.listenURL != "" {
		o.pooled = true
	}
	cfg, err := parsePoolConfig(dsn, flagDatabase)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(dsn, "pool_max_conns") {
		// Enough for the admin API, the background tasks and the audit
		// recorder; the token hot path reads from caches.
		cfg.MaxConns = int32(max(8, 4*runtime.GOMAXPROCS(0)))
	}
	cfg.MaxConnIdleTime = 5 * time.Minute
	if o.pooled && !strings.Contains(dsn, "default_query_exec_mode") {
		// pgx's default names a prepared statement per query on the server
		// connection, which a transaction pooler hands to other clients
		// between transactions. CacheDescribe uses the unnamed statement
		// and keeps only the parameter and result types in the client:
		// one round trip per query once described (docs/scaling.md).
		cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	where := hostList(cfg.ConnConfig)
	what := "PostgreSQL"
	if o.pooled {
		what = "the pooler"
	}

	var listenCfg *pgx.ConnConfig
	switch {
	case o.listenURL != "":
		lc, err := parsePoolConfig(o.listenURL, flagListen)
		if err != nil {
			return nil, err
		}
		listenCfg = lc.ConnConfig
	case !o.pooled:
		listenCfg = cfg.ConnConfig.Copy()
	}

	if o.tracer != nil {
		cfg.ConnConfig.Tracer = o.tracer
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, reachError(what, where, flagDatabase, cfg.ConnConfig.Password, err)
	}
	fail := func(err error) (*Store, error) {
		pool.Close()
		return nil, err
	}
	var schema *string
	var database string
	if err := pool.QueryRow(ctx, "SELECT current_schema(), current_database()").Scan(&schema, &database); err != nil {
		if o.pooled && !errors.As(err, new(*pgconn.PgError)) && dials(ctx, cfg.ConnConfig) {
			// PgBouncer keeps a client waiting while it cannot reach the
			// server: what times out is PostgreSQL, not the pooler.
			return fail(&unavailableError{fmt.Sprintf("the pooler at %s answers, but no PostgreSQL answered through it (%s); check that PostgreSQL behind it is up and that the pooler's [databases] entry names it",
				where, redact(innermost(err), cfg.ConnConfig.Password))})
		}
		return fail(reachError(what, where, flagDatabase, cfg.ConnConfig.Password, err))
	}
	if schema == nil {
		return fail(fmt.Errorf("postgres: no schema of the search_path exists in the database at %s; create it, or fix search_path in --database / AUTHZ_DATABASE", where))
	}
	if o.listenURL != "" {
		if err := sameDatabase(ctx, listenCfg, database, *schema); err != nil {
			return fail(err)
		}
	}

	db := stdlib.OpenDBFromPool(pool)
	provider, closeMigrationDB, err := migrationTarget(db, listenCfg, o, *schema)
	if err != nil {
		db.Close()
		return fail(err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		closeMigrationDB()
		db.Close()
		return fail(fmt.Errorf("postgres: embedded migrations: %w", err))
	}
	err = sqlstore.Migrate(ctx, provider.db, goose.DialectPostgres, sub, o.logger, provider.lock)
	closeMigrationDB()
	if err != nil {
		db.Close()
		return fail(fmt.Errorf("postgres: schema %q at %s: %w", *schema, where, err))
	}

	stop, stopFeed := context.WithCancel(context.Background())
	s := &Store{pool: pool, connCfg: listenCfg, log: o.logger, stop: stop, stopFeed: stopFeed}
	changes := s.changes
	if listenCfg == nil {
		changes = nil
		o.logger.InfoContext(ctx, "no change notifications behind a transaction pooler without --database-listen-url; replicas poll the generation instead (docs/scaling.md)")
	}
	s.Store = sqlstore.New(sqlstore.Config{
		Dialect:   Dialect(),
		Writer:    db,
		Logger:    o.logger,
		Changes:   changes,
		PoolStats: s.poolStats,
		OnClose: func() error {
			stopFeed()
			pool.Close()
			return nil
		},
	})
	// The audit partitions of the days ahead are made by the server as
	// it starts and hourly (PrepareAudit), not here: opening a store for
	// a command stays cheap, and appends meanwhile land in the default
	// partition.
	return s, nil
}

// The settings an operator fixes when a DSN is wrong.
const (
	flagDatabase = "--database / AUTHZ_DATABASE"
	flagListen   = "--database-listen-url / AUTHZ_DATABASE_LISTEN_URL"
)

// parsePoolConfig checks dsn (CheckURL), parses it and applies authz's
// connection defaults.
func parsePoolConfig(dsn, setting string) (*pgxpool.Config, error) {
	if err := CheckURL(dsn); err != nil {
		return nil, fmt.Errorf("postgres: invalid %s: %w", setting, err)
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: invalid %s: %s", setting, oneLine(redact(err.Error(), "")))
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	if len(distinctHosts(cfg.ConnConfig)) > 1 && !strings.Contains(dsn, "target_session_attrs") {
		cfg.ConnConfig.ValidateConnect = pgconn.ValidateConnectTargetSessionAttrsReadWrite
	}
	return cfg, nil
}

// migrationDB is where and under which lock the schema is migrated.
type migrationDB struct {
	db   *sql.DB
	lock goose.ProviderOption
}

// migrationTarget chooses the connection and the lock for migrations. Two
// processes starting at once on one schema must not both migrate. On a
// direct connection a session advisory lock, keyed by the schema,
// serialises them. Behind a transaction pooler a session lock would stay
// on whichever server connection took it (and its unlock could land on
// another), so the lock is taken on the direct listen connection when
// there is one, and otherwise in goose's lock table, one row per schema.
func migrationTarget(pooled *sql.DB, listenCfg *pgx.ConnConfig, o options, schema string) (migrationDB, func(), error) {
	id := migrationLockID(schema)
	if !o.pooled || listenCfg != nil {
		db := pooled
		closeDB := func() {}
		if o.pooled {
			db = stdlib.OpenDB(*listenCfg.Copy())
			closeDB = func() { db.Close() }
		}
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(id), lock.WithLockTimeout(1, 300))
		if err != nil {
			closeDB()
			return migrationDB{}, nil, fmt.Errorf("postgres: migration lock: %w", err)
		}
		return migrationDB{db: db, lock: goose.WithSessionLocker(locker)}, closeDB, nil
	}
	locker, err := lock.NewPostgresTableLocker(lock.WithTableLockID(max(id, 1)), lock.WithTableLockTimeout(time.Second, 300))
	if err != nil {
		return migrationDB{}, nil, fmt.Errorf("postgres: migration lock: %w", err)
	}
	return migrationDB{db: pooled, lock: goose.WithLocker(locker)}, func() {}, nil
}

// sameDatabase checks that the listen connection reaches the database and
// schema that --database does: notifications on another database would
// never arrive, and the replica would serve a stale cache for want of them.
func sameDatabase(ctx context.Context, cfg *pgx.ConnConfig, database, schema string) error {
	where := hostList(cfg)
	ctx, cancel := context.WithTimeout(ctx, 2*cfg.ConnectTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return reachError("PostgreSQL", where, flagListen, cfg.Password, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var ldb string
	var lschema *string
	if err := conn.QueryRow(ctx, "SELECT current_database(), current_schema()").Scan(&ldb, &lschema); err != nil {
		return reachError("PostgreSQL", where, flagListen, cfg.Password, err)
	}
	if ldb != database || lschema == nil || *lschema != schema {
		got := ldb + "/" + "(no schema)"
		if lschema != nil {
			got = ldb + "/" + *lschema
		}
		return fmt.Errorf("postgres: %s reaches database/schema %s at %s, but --database reaches %s/%s; both must name the same database and search_path",
			flagListen, got, where, database, schema)
	}
	return nil
}

// dials reports whether a TCP connection to the first host succeeds.
func dials(ctx context.Context, c *pgx.ConnConfig) bool {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port))))
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// hostList is "h1:p1,h2:p2": every host the config may connect to, in
// order, for messages. It never holds the password.
func hostList(c *pgx.ConnConfig) string {
	return strings.Join(distinctHosts(c), ",")
}

func distinctHosts(c *pgx.ConnConfig) []string {
	hosts := []string{net.JoinHostPort(c.Host, strconv.Itoa(int(c.Port)))}
	for _, fb := range c.Fallbacks {
		// sslmode=prefer adds a plain-text fallback for each host: the
		// same place twice.
		if h := net.JoinHostPort(fb.Host, strconv.Itoa(int(fb.Port))); !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	return hosts
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
			pe.Code == "53300", // too_many_connections
			// read_only_sql_transaction: a standby (being promoted, or
			// reached through a host list without target_session_attrs).
			// Retrying reaches the primary once there is one again.
			pe.Code == "25006":
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
// used: what (PostgreSQL, or the pooler in front of it), where, why, and
// which setting to check. It never holds the password.
func reachError(what, where, setting, password string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return &unavailableError{fmt.Sprintf("%s at %s refused the connection: %s (SQLSTATE %s); check %s",
			what, where, redact(pe.Message, password), pe.Code, setting)}
	}
	return &unavailableError{fmt.Sprintf("cannot reach %s at %s: %s; check %s",
		what, where, redact(innermost(err), password), setting)}
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
