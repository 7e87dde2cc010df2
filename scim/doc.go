// Package scim is authz's SCIM 2.0 service provider (RFC 7643, RFC 7644):
// /scim/v2/Users, /Groups, /ServiceProviderConfig, /ResourceTypes and
// /Schemas on the public listener, through which a company's identity
// provider (Okta, Microsoft Entra ID, ...) creates, updates, deactivates
// and deletes the principals of one tenant.
//
// A SCIM User is a principal of kind user whose id is the principal id;
// active=false suspends it, active=true resumes it, DELETE deletes it
// (a tombstone). Those status changes are the admin API's own
// (admin.Lifecycle, through the Lifecycle interface): the same audit
// events, webhooks and change feed, so a deactivation is refused on every
// replica within the second, like any other suspension. A push whose
// externalId or userName equals the external_id of an existing principal
// links to it instead of creating one; the link is recorded
// (store.SCIMUser) and shown by `authz principal show` and `key diagnose`.
// A later change of the externalId reaches the principal's external_id
// when that came from the IdP (never onto another principal's: 409).
// A Group binds its members to the roles an operator mapped to its display
// name (`authz scim map-group`, undone with `unmap-group`); unmapped groups
// bind nothing.
//
// Each tenant has its own bearer tokens (`authz scim token create`): a
// token reaches only its tenant, and every request it makes is audited as
// actor scim:<token id> with the request's source address. Tokens are
// verified through the directory cache (a revocation moves the store's
// generation, so it reaches every replica within the second), so that a
// reconciliation of 100,000 users does not read the token 200,000 times.
//
// The input is what the IdPs really send, not just the RFC's examples:
// Okta's path-less PATCH {"op":"replace","value":{"active":false}}, Entra
// ID's {"op":"Replace","path":"active","value":"False"}, attribute names
// in any case, extension attributes authz does not keep (accepted and
// ignored, so that nothing blocks a deactivation). Filters are parsed by
// github.com/scim2/filter-parser/v2, except the plain `attr eq "value"`
// (joined with and) of an IdP's lookup, read directly because the library
// cost a tenth of a reconciliation's CPU (fuzzed to agree); authz answers the ones the IdPs use
// (eq on userName, externalId, id, displayName, joined with and) and
// refuses others with 400 invalidFilter. Every error is RFC 7644 §3.12
// JSON, and a request is applied entirely or not at all (one store
// transaction).
package scim
