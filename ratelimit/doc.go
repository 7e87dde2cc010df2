// Package ratelimit sheds abusive load before it costs anything: token
// buckets per client address, client id and legacy key (Limiter), and brief
// lockouts of a client id or key id after repeated failed authentication
// (Lockout).
//
// State is per replica and in memory, bounded in size: limits protect this
// process, and a lockout that lasts minutes needs no coordination. A
// lockout is made visible to operators through the audit log.
package ratelimit
