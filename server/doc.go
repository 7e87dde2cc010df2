// Package server assembles a running authz from a Config: it opens the
// store (migrating it), resolves and checks the master key, loads or
// creates the signing keys, bootstraps the admin client on first start,
// wires every component explicitly, and runs the two listeners and the
// background tasks until its context ends, then shuts down gracefully.
//
// cmd/authz turns flags into a Config; tests use New and Handler directly.
package server
