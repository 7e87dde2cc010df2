// Package verifiertest is a fake authz issuer for tests of code that
// verifies authz access tokens: RFC 8414 metadata, a JWKS whose keys and
// Cache-Control the test controls and whose hits it counts, a Token Status
// List served as a signed Status List Token (statuses, ttl, exp,
// Cache-Control, failures and forgeries under the test's control; hits
// counted, ETags honoured), a token signer for every supported algorithm,
// and a settable clock. It signs with
// the standard library only, so tests can forge exactly the header and
// payload they need (alg none, wrong typ, HS256 with the public key...).
package verifiertest
