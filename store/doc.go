// Package store defines authz's persistence: the domain types of SPEC §2,
// the one Store interface every backend implements, and its sentinel errors.
//
// Backends live in subpackages (sqlite, the embedded default; postgres, on
// pgx/v5) and share their SQL through store/sqlstore. store/storetest is the
// conformance suite they all pass; a new backend is done when it passes it.
package store
