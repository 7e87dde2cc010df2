// Package jwks owns authz's token-signing keys: their generation, their
// encryption at rest under the master key, their life (next → current →
// retired → removed) shared by every replica through the store, the JWKS
// document that publishes them, and the signer that fosite issues access
// tokens with.
//
// Two promises of SPEC §6 are kept here: a key is published at least one
// JWKS cache lifetime (plus clock skew) before it signs, and a retired key
// stays published until every token it signed has expired. Verification
// looks keys up by kid across all published keys with an explicit algorithm
// allow-list, so a rotation never breaks tokens already issued.
package jwks
