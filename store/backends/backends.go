package backends

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/postgres"
	"github.com/authz/authz/store/sqlite"
)

// Backend names, as store.Store.Backend reports them.
const (
	SQLite   = "sqlite"
	Postgres = "postgres"
)

// Parse tells which backend databaseURL names and what to hand it: the
// file path for SQLite, the whole URL for PostgreSQL. Accepted forms:
// sqlite:PATH, sqlite://PATH, file:PATH, postgres://... and
// postgresql://... . The error names only the scheme, never the rest,
// which may hold a password.
func Parse(databaseURL string) (backend, target string, err error) {
	scheme, rest, found := strings.Cut(databaseURL, ":")
	if found {
		switch strings.ToLower(scheme) {
		case "sqlite", "file":
			path := strings.TrimPrefix(rest, "//")
			if path == "" {
				return "", "", fmt.Errorf("--database %q names no file: use sqlite:PATH, for example sqlite:authz.db", scheme+":")
			}
			return SQLite, path, nil
		case "postgres", "postgresql":
			if strings.HasPrefix(rest, "//") {
				return Postgres, databaseURL, nil
			}
		}
	}
	return "", "", fmt.Errorf("unknown --database %q: use sqlite:PATH (for example sqlite:authz.db) or postgres://USER@HOST:PORT/DB", scheme)
}

// Options are what Open needs besides the URL. The zero value is a direct
// connection and a discarding logger.
type Options struct {
	Logger *slog.Logger
	// ListenURL (PostgreSQL only) is a direct connection to the database
	// for change notifications and migrations, when the URL goes through a
	// pooler in transaction mode. Giving one implies Pooler "transaction".
	ListenURL string
	// Pooler (PostgreSQL only) is what sits between authz and PostgreSQL:
	// "" or "none" (a direct connection, or a pooler in session mode,
	// which is the same to authz), or "transaction".
	Pooler string
}

// Poolers are the values Options.Pooler accepts.
var Poolers = []string{"none", "session", "transaction"}

// Open opens and migrates the store that databaseURL names (see Parse). A
// nil logger discards.
func Open(ctx context.Context, databaseURL string, logger *slog.Logger) (store.Store, error) {
	return OpenWith(ctx, databaseURL, Options{Logger: logger})
}

// OpenWith is Open with Options. Bad options are refused before anything
// connects.
func OpenWith(ctx context.Context, databaseURL string, o Options) (store.Store, error) {
	backend, target, err := Parse(databaseURL)
	if err != nil {
		return nil, err
	}
	pooled, err := checkOptions(backend, o)
	if err != nil {
		return nil, err
	}
	if backend == SQLite {
		return sqlite.Open(ctx, target, sqlite.WithLogger(o.Logger))
	}
	opts := []postgres.Option{postgres.WithLogger(o.Logger)}
	if o.ListenURL != "" {
		opts = append(opts, postgres.WithListenURL(o.ListenURL))
	}
	if pooled {
		opts = append(opts, postgres.WithTransactionPooler())
	}
	return postgres.Open(ctx, target, opts...)
}

// checkOptions refuses options that do not fit the backend and reports
// whether a transaction pooler is in between.
func checkOptions(backend string, o Options) (pooled bool, err error) {
	switch o.Pooler {
	case "", "none", "session":
	case "transaction":
		pooled = true
	default:
		return false, fmt.Errorf("--database-pooler %q: use none (direct, or PgBouncer pool_mode=session) or transaction (PgBouncer pool_mode=transaction); statement pooling cannot run authz's transactions", o.Pooler)
	}
	if backend != Postgres && (o.ListenURL != "" || pooled) {
		return false, fmt.Errorf("--database-listen-url and --database-pooler apply to PostgreSQL only; --database names %s", backend)
	}
	if o.ListenURL != "" {
		if b, _, err := Parse(o.ListenURL); err != nil || b != Postgres {
			return false, fmt.Errorf("--database-listen-url must be a postgres:// URL of a direct connection (not through the pooler) to the database --database names")
		}
		if o.Pooler == "none" || o.Pooler == "session" {
			return false, fmt.Errorf("--database-listen-url is for a --database that goes through a transaction pooler; with --database-pooler %s, drop it (LISTEN runs on --database)", o.Pooler)
		}
		pooled = true
	}
	return pooled, nil
}
