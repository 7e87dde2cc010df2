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

// Open opens and migrates the store that databaseURL names. Accepted forms:
// sqlite:PATH, sqlite://PATH, file:PATH, postgres://... and
// postgresql://... . A nil logger discards.
func Open(ctx context.Context, databaseURL string, logger *slog.Logger) (store.Store, error) {
	scheme, rest, _ := strings.Cut(databaseURL, ":")
	switch strings.ToLower(scheme) {
	case "sqlite", "file":
		path := strings.TrimPrefix(rest, "//")
		return sqlite.Open(ctx, path, sqlite.WithLogger(logger))
	case "postgres", "postgresql":
		return postgres.Open(ctx, databaseURL, postgres.WithLogger(logger))
	}
	return nil, fmt.Errorf("unknown --database %q: use sqlite:PATH (for example sqlite:authz.db) or postgres://USER@HOST:PORT/DB", scheme)
}
