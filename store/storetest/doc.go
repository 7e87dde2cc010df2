// Package storetest is the conformance suite every storage backend passes
// (Run), and the helpers other packages use to test against real stores:
// Each runs a test on SQLite and on PostgreSQL, OpenSQLite and OpenPostgres
// give a fresh migrated store, SQLiteURL and PostgresURL a --database value
// for tests that start the binary.
//
// PostgreSQL tests use AUTHZ_TEST_POSTGRES (default DefaultPostgres), each
// in a schema of its own that is dropped when the test ends. When the
// server cannot be reached they are skipped, except with CI=true, where
// that is a failure: CI must never pass by skipping PostgreSQL.
package storetest
