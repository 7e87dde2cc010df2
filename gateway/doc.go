// Package gateway protects HTTP resources with authz access tokens. It
// provides RFC 6750 middleware for Go services (401 invalid_token, 403
// insufficient_scope, the verified claims in the request context) and a
// verifying reverse proxy for everything else, with a migration bridge
// that exchanges a caller's legacy API key for a token (RFC 8693) so that
// upstreams only ever see bearer tokens.
//
// One decision function, Decider, makes every decision: the proxy calls it
// and forwards; the decision endpoint (DecisionHandler, `authz gateway
// --mode decision`) answers it to the proxy a company already runs (NGINX
// auth_request, Traefik and Caddy forward_auth, Envoy HTTP ext_authz), and
// package extauthz answers it to Envoy over gRPC. All share the bridge's
// caches and the metrics, labelled by mode.
//
// Like jwks/verifier, it talks to authz over HTTP only and links nothing
// of the server side.
package gateway
