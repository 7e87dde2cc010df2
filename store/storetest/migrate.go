package storetest

import (
	"database/sql"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/pressly/goose/v3"

	"github.com/authz/authz/store/sqlstore"
)

// RunMigrations checks sqlstore.Migrate, the runner every backend's Open
// uses, on an empty database of the backend: running twice is a no-op, a
// failing migration leaves the database at the version before it, and a
// schema newer than the migrations known is refused.
func RunMigrations(t *testing.T, db *sql.DB, dialect goose.Dialect) {
	ctx := ctxOf(t)
	v1 := &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLE m_one (x INTEGER);\n-- +goose Down\nDROP TABLE m_one;\n")}
	// The second migration's first statement succeeds and its second fails:
	// nothing of it may remain.
	v2bad := &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLE m_two (x INTEGER);\nINSERT INTO m_missing VALUES (1);\n")}
	v2 := &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLE m_two (x INTEGER);\nINSERT INTO m_two VALUES (1);\n")}

	version := func() int64 {
		t.Helper()
		var v sql.NullInt64
		must(t, db.QueryRowContext(ctx, `SELECT MAX(version_id) FROM goose_db_version`).Scan(&v))
		return v.Int64
	}
	exists := func(table string) bool {
		_, err := db.ExecContext(ctx, `SELECT 1 FROM `+table)
		return err == nil
	}

	must(t, sqlstore.Migrate(ctx, db, dialect, fstest.MapFS{"00001_one.sql": v1}, nil))
	must(t, sqlstore.Migrate(ctx, db, dialect, fstest.MapFS{"00001_one.sql": v1}, nil))
	var rows int
	must(t, db.QueryRowContext(ctx, `SELECT COUNT(*) FROM goose_db_version WHERE version_id = 1`).Scan(&rows))
	if rows != 1 || version() != 1 {
		t.Fatalf("after migrating twice: %d rows for version 1, version %d", rows, version())
	}

	err := sqlstore.Migrate(ctx, db, dialect, fstest.MapFS{"00001_one.sql": v1, "00002_two.sql": v2bad}, nil)
	if err == nil {
		t.Fatal("a failing migration reported success")
	}
	if !strings.Contains(err.Error(), "00002_two.sql") || !strings.Contains(err.Error(), "stays at schema version 1") {
		t.Fatalf("failed migration error %q does not name the file and the version kept", err)
	}
	if v := version(); v != 1 || exists("m_two") || !exists("m_one") {
		t.Fatalf("after a failed migration: version %d, m_two exists %v: half-migrated", v, exists("m_two"))
	}

	must(t, sqlstore.Migrate(ctx, db, dialect, fstest.MapFS{"00001_one.sql": v1, "00002_two.sql": v2}, nil))
	if v := version(); v != 2 || !exists("m_two") {
		t.Fatalf("after the fixed migration: version %d", v)
	}

	err = sqlstore.Migrate(ctx, db, dialect, fstest.MapFS{"00001_one.sql": v1}, nil)
	if !errors.Is(err, sqlstore.ErrSchemaTooNew) || !strings.Contains(err.Error(), "schema version 2") {
		t.Fatalf("an older binary on a newer schema: %v", err)
	}
}
