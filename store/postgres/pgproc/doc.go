// Package pgproc starts real PostgreSQL servers, streaming standbys and
// PgBouncer as child processes of a test, each on a free port in a
// directory of its own, and stops them when the test ends. The failover
// and pooler tests use it: they need to stop a primary, promote a standby
// and pool connections in transaction mode, which the shared test server
// cannot do.
//
// The binaries are Debian's (/usr/lib/postgresql/*/bin, pgbouncer on
// PATH). PostgreSQL refuses to run as root, so when the test runs as root
// they run as the postgres OS user. Without them a test is skipped, or
// fails under CI=true.
package pgproc
