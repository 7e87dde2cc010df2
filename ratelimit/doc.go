// Package ratelimit sheds abusive load before it costs anything: token
// buckets per client address, client id and legacy key (Limiter), and
// lockouts after repeated failed authentication (Lockout).
//
// A lockout never locks a credential because of someone else's failures:
// failures are counted per credential and source — the address, then its
// IPv4 /24 or IPv6 /64 — and lock only that source out of that
// credential. Failures of one credential from all sources raise a
// distributed-guessing alarm, and lock the credential for everyone only
// when it is weak (imported legacy keys) and the operator chose so.
// Limiter state is per replica and in memory, bounded in size; lockout
// counters live in the store when Shared is set, so that replicas share
// one lockout (docs/security.md).
package ratelimit
