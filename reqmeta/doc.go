// Package reqmeta carries per-request metadata (request id, client address,
// authenticated actor) through a context, from the HTTP edge to the audit
// log and structured logs, so that one id ties a response, its log lines and
// its audit event together.
//
// The client address is the TCP peer's unless the peer is one of the
// operator's trusted proxies (TrustedProxies, the --trusted-proxy flag of
// `authz serve` and `authz gateway`): only then is X-Forwarded-For read,
// from the right, up to the first address that is not a trusted proxy.
// Rate limits and lockouts count by this address, so it must never be
// something a caller can choose.
package reqmeta
