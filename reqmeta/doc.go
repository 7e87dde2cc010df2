// Package reqmeta carries per-request metadata (request id, client address,
// authenticated actor) through a context, from the HTTP edge to the audit
// log and structured logs, so that one id ties a response, its log lines and
// its audit event together.
package reqmeta
