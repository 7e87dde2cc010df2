// Package servertest runs a real authz — the server package with both
// listeners and every background task — on SQLite or PostgreSQL for
// end-to-end tests, with a settable clock and helpers that create fixtures
// through the store or, as an operator would, through the admin API.
package servertest
