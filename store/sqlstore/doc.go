// Package sqlstore is the one SQL implementation of store.Store, shared by
// the SQLite and PostgreSQL backends over database/sql.
//
// Queries are written once with $1, $2 placeholders, which both drivers bind
// positionally. A Dialect value carries the few things that differ: how a
// time is stored, how driver errors translate into the store sentinels, row
// and advisory locks, and change notification. The backends own opening the
// database, their migrations and their pools; this package owns every
// statement.
package sqlstore
