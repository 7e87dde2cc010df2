// Package policy owns RBAC: which permissions a principal's roles grant,
// the effective scope of a token (SPEC §3: requested ∩ role permissions ∩
// the client's or key's allowed scopes), the audience a token may carry, and
// the roles claim.
//
// It is pure: callers load roles and pass them in, so the same decision runs
// for client credentials, legacy key exchange and tests. CheckAudiences is
// the one place that reads (through an AudienceRegistry the caller gives):
// whether a tenant may name registered audiences (SPEC §2 "Audience").
package policy
