// Package legacykeys owns legacy API keys, the credentials authz exists to
// retire: their format and keyed hashing, the one ordered validity decision
// that names the exact reason a key is refused (SPEC §3), their lifecycle
// (issue, revoke, rotate with overlap, reassign, expiry notices), bulk
// import and owner remapping after a migration, `key diagnose`, and the
// migration, orphan and expiry reports with the holder states and their
// daily history (docs/reports.md).
//
// The token-exchange handler (oauth) calls Resolve on every exchange; the
// admin API calls Service. The package never imports net/http: refusals are
// *errcode.Error values and the edges present them.
package legacykeys
