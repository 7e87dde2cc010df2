// Package verifier is what a gateway uses to trust an authz access token
// without calling authz: it discovers the issuer's jwks_uri (RFC 8414),
// keeps the issuer's public keys in a cache that honours Cache-Control and
// refreshes itself, and verifies RFC 9068 access tokens strictly — an
// explicit algorithm allow-list, typ "at+jwt", iss, aud, exp/nbf/iat with a
// small leeway — returning typed errors that say which check failed.
//
// It also checks a token's status in the IETF Token Status List its status
// claim refers to (status.go): lists come from the issuer's origin only,
// verify against the same key set, are cached for their ttl and refreshed
// in the background, and a status that cannot be known refuses the token
// as unavailable rather than passing it.
//
// It is deliberately separate from package jwks (the issuer's signing keys):
// a gateway is another deployment and must not link the server side.
package verifier
