// Package errcode owns the stable refusal codes of SPEC §3 ("key_revoked",
// "client_suspended", ...) and the typed error that carries one.
//
// Domain packages return *Error values; the HTTP edges (oauth, admin) turn
// them into RFC 6749 JSON through Lookup, the one table that maps a code to
// its HTTP status and OAuth "error" value.
package errcode
