// Package sqlite is authz's embedded storage backend: one database file on
// modernc.org/sqlite (pure Go, no cgo), in WAL mode.
//
// Every write goes through a single writer connection whose transactions
// begin IMMEDIATE, so writes are serial and a read-then-write can never
// deadlock; reads use a small pool of query-only connections alongside.
// Open creates the file (owner-only permissions) and applies the embedded
// migrations. The SQL itself lives in store/sqlstore.
package sqlite
