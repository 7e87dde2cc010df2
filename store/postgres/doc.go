// Package postgres is authz's PostgreSQL backend, on pgx/v5: a pgxpool
// pool, exposed to store/sqlstore through database/sql, and a LISTEN
// connection on "authz_changes" that tells every replica of a change
// within moments of its commit.
//
// Open applies the embedded migrations under a session advisory lock, so
// replicas starting together migrate once. Cross-replica serialisation
// (signing-key rotation, status-list allocation) uses transaction-scoped
// advisory locks; read-modify-writes use SELECT ... FOR UPDATE.
package postgres
