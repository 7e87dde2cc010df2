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

// Open opens and migrates the store that databaseURL names (see Parse). A
// nil logger discards.
func Open(ctx context.Context, databaseURL string, logger *slog.Logger) (store.Store, error) {
	backend, target, err := Parse(databaseURL)
	if err != nil {
		return nil, err
	}
	if backend == SQLite {
		return sqlite.Open(ctx, target, sqlite.WithLogger(logger))
	}
	return postgres.Open(ctx, target, postgres.WithLogger(logger))
}
