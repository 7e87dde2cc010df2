package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
)

// ErrSchemaTooNew is returned by Migrate when the database was migrated by
// a newer authz than this one.
var ErrSchemaTooNew = errors.New("database schema is newer than this authz binary")

// Migrate brings the database up to the newest migration in fsys, using
// goose's Provider. Each migration runs in its own transaction, so a
// failing one leaves the database at the version before it. opts carries
// the backend's choices, such as a session locker that keeps two processes
// from migrating at once.
func Migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, fsys fs.FS, log *slog.Logger, opts ...goose.ProviderOption) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts = append([]goose.ProviderOption{goose.WithDisableGlobalRegistry(true),
		// Migrate reports what it applied itself; goose's own lines would repeat it.
		goose.WithSlog(slog.New(slog.DiscardHandler))}, opts...)
	p, err := goose.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		return fmt.Errorf("load migrations: %w", err)
	}
	sources := p.ListSources()
	known := sources[len(sources)-1].Version // NewProvider refuses an empty set
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if current > known {
		return fmt.Errorf("%w: the database is at schema version %d, this binary knows up to %d; run the newer authz (or restore a backup taken before the upgrade)",
			ErrSchemaTooNew, current, known)
	}
	results, err := p.Up(ctx)
	if err != nil {
		var partial *goose.PartialError
		if errors.As(err, &partial) {
			return fmt.Errorf("migration %s failed, the database stays at schema version %d: %v",
				partial.Failed.Source.Path, versionBefore(current, partial), partial.Err)
		}
		return fmt.Errorf("migrate schema: %w", err)
	}
	for _, r := range results {
		log.InfoContext(ctx, "applied migration", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration)
	}
	return nil
}

// versionBefore is the version a partly failed Up left the database at.
func versionBefore(start int64, e *goose.PartialError) int64 {
	if n := len(e.Applied); n > 0 {
		return e.Applied[n-1].Source.Version
	}
	return start
}
