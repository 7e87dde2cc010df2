// Package conformance is a black-box protocol suite for OAuth 2.0
// authorization servers that issue tokens by client credentials: RFC 8414
// metadata, the RFC 6749 token endpoint and its errors, the RFC 7517 JWKS,
// RFC 9068 JWT access tokens, RFC 7523 private_key_jwt, RFC 7662
// introspection, RFC 7009 revocation and RFC 8693 token exchange.
//
// It speaks HTTP to an issuer URL and nothing else — no authz package is
// imported — so it can hold any server to the same standard. It reads the
// server's metadata and skips, with the reason, what the server does not
// advertise or what it was given no credential for. Every check names the
// RFC section it enforces; the check list is one table (Checks), from which
// both the report and the tests are made.
package conformance
