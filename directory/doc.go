// Package directory is the hot path's read cache over the store: tenants,
// principals, clients, legacy keys by hash, roles by principal, audiences and
// SCIM connector tokens by hash.
//
// It exists so that issuing a token does not cost four database reads, and
// it is built around SPEC §6's promise that a suspension, deletion or
// revocation is refused on every replica within one second: the cache is
// dropped whole whenever store.Generation moves (pushed by PostgreSQL
// LISTEN/NOTIFY where available, polled otherwise), and it is bypassed
// entirely when the generation could not be confirmed recently, so a replica
// that lost its database never answers from memory.
package directory
