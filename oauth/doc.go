// Package oauth is authz's OAuth 2.0 edge, built on ory/fosite:
//
//   - POST /oauth2/token: client credentials (RFC 6749 §4.4) and the
//     exchange of legacy API keys (RFC 8693), issuing RFC 9068 JWTs;
//   - client authentication: client_secret_basic, client_secret_post and
//     private_key_jwt (RFC 7523) with assertion replay protection; each
//     client only with the method it is registered with (RFC 7591
//     token_endpoint_auth_method); a private_key_jwt client's jwks_uri is
//     fetched through package outbound (SSRF rules);
//   - POST /oauth2/introspect (RFC 7662) and POST /oauth2/revoke (RFC 7009):
//     a client revokes the tokens issued to it; another's only when the
//     client itself may be granted authz:tenant-admin (its tenant) or
//     authz:admin (system tenant), whatever its owner's roles hold;
//   - RFC 8414 discovery at both well-known paths.
//
// fosite parses the request, dispatches client authentication and the
// grant, and mints the token through its JWT strategy with our signer. What
// fosite v0.49.0 lacks or gets wrong for us (see docs/architecture.md and
// the fosite notes) is ours: the grant handlers, the client authentication
// strategy, introspection and revocation (which must reflect a suspended
// owner at once, not just a stored row), and the error writer, which maps
// every failure to RFC 6749 JSON with its errcode in one place.
package oauth
