package sqlite_test

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/authz/authz/store/sqlite"
	"github.com/authz/authz/store/storetest"
)

func TestAudienceMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	s, err := open(t, path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	sub, err := fs.Sub(sqlite.Migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunAudienceMigration(t, s, db, goose.DialectSQLite3, sub)
}
