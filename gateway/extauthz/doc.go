// Package extauthz answers Envoy's external authorization over gRPC
// (envoy.service.auth.v3.Authorization/Check) with the gateway's decision
// function, gateway.Decider: the same decisions, identity headers and
// refusals as the reverse proxy and the HTTP decision endpoint, the
// legacy-key bridge included (the key header is removed upstream and
// Authorization: Bearer carries the exchanged token).
package extauthz
