package postgres_test

import (
	"database/sql"
	"io/fs"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/authz/authz/store/postgres"
	"github.com/authz/authz/store/storetest"
)

func TestAudienceMigration(t *testing.T) {
	dsn := storetest.PostgresURL(t)
	s, err := postgres.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sub, err := fs.Sub(postgres.Migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	storetest.RunAudienceMigration(t, s, db, goose.DialectPostgres, sub)
}
