package errcode

import (
	"errors"
	"fmt"
)

// Code is a stable, machine-readable refusal reason (SPEC §3 "Errors").
// Codes appear in token-endpoint and admin-API responses, audit events,
// metric labels and `authz key diagnose`; renaming one is a breaking change.
type Code string

// Legacy-key refusals, in the order legacykeys.Decide checks them.
const (
	KeyMalformed Code = "key_malformed"
	KeyUnknown   Code = "key_unknown"
	// KeyConflict: more than one tenant imported the same key; it is
	// refused until an authz:admin resolves which claim stands.
	KeyConflict     Code = "key_conflict"
	KeyRevoked      Code = "key_revoked"
	KeyExpired      Code = "key_expired"
	OwnerDeleted    Code = "owner_deleted"
	OwnerNotFound   Code = "owner_not_found"
	OwnerSuspended  Code = "owner_suspended"
	TenantSuspended Code = "tenant_suspended"
	TenantMismatch  Code = "tenant_mismatch"
	KeySunset       Code = "key_sunset"
)

// Refusals shared by every grant.
const (
	ScopeNotGranted    Code = "scope_not_granted"
	AudienceNotGranted Code = "audience_not_granted"
	ClientInvalid      Code = "client_invalid"
	ClientSuspended    Code = "client_suspended"
	GrantNotAllowed    Code = "grant_not_allowed"
	GrantUnsupported   Code = "grant_unsupported"
	TokenTypeInvalid   Code = "token_type_unsupported"
	RequestInvalid     Code = "request_invalid"
	RequestTooLarge    Code = "request_too_large"
	MethodNotAllowed   Code = "method_not_allowed"
	TokenNotOwned      Code = "token_not_owned"
	RateLimited        Code = "rate_limited"
	Unavailable        Code = "unavailable"
	Internal           Code = "internal"
)

// ClientAuthMethod: the right secret, sent with a token-endpoint auth method
// other than the one the client is registered with (RFC 7591
// token_endpoint_auth_method; issue 18 §7).
const ClientAuthMethod Code = "client_auth_method"

// Codes of the admin API and of bearer-protected resources.
const (
	TokenInvalid Code = "token_invalid"
	Forbidden    Code = "forbidden"
	NotFound     Code = "not_found"
	Conflict     Code = "conflict"
)

// Meta is how a code is presented over HTTP.
type Meta struct {
	// Status is the HTTP status code.
	Status int
	// OAuth is the RFC 6749 §5.2 (or RFC 6750 / RFC 8693) "error" value.
	OAuth string
	// Remedy is the default error_description: what the caller should do next.
	Remedy string
}

// table is the single place where a code meets HTTP. It mirrors SPEC §3.
var table = map[Code]Meta{
	KeyMalformed:    {400, "invalid_request", "The API key is not syntactically valid (empty, wrong format or bad checksum); check that it was copied whole."},
	KeyUnknown:      {400, "invalid_request", "No such API key exists; check that you use the key you were given, or ask for a new one."},
	KeyConflict:     {400, "invalid_request", "The API key is claimed by more than one tenant and is refused until an administrator resolves the conflict; contact your administrator."},
	KeyRevoked:      {400, "invalid_request", "The API key was revoked; ask its administrator for a new key or move to client credentials."},
	KeyExpired:      {400, "invalid_request", "The API key has expired; ask its administrator to rotate it or move to client credentials."},
	OwnerDeleted:    {400, "invalid_request", "The API key's owner was deleted; an administrator must reassign the key to an active principal."},
	OwnerNotFound:   {400, "invalid_request", "The API key points at an owner that does not exist; an administrator must remap or reassign the key."},
	OwnerSuspended:  {400, "invalid_request", "The API key's owner is suspended; an administrator must resume the owner or reassign the key."},
	TenantSuspended: {400, "invalid_request", "The API key's tenant is suspended; contact the tenant's administrator."},
	TenantMismatch:  {400, "invalid_request", "The request names a different tenant than the API key belongs to; drop the tenant parameter or use the right key."},
	KeySunset:       {400, "invalid_request", "The tenant's legacy key exchange deadline has passed; move to client credentials."},

	ScopeNotGranted:    {400, "invalid_scope", "The requested scope exceeds what the subject's roles and the client's or key's allowed scopes grant; ask for less."},
	AudienceNotGranted: {400, "invalid_target", "The requested audience is not allowed for this client or key."},
	ClientInvalid:      {401, "invalid_client", "Client authentication failed: unknown client or bad credentials."},
	ClientSuspended:    {401, "invalid_client", "The client, its owner or its tenant is not active; contact an administrator."},
	ClientAuthMethod:   {401, "invalid_client", "The client must authenticate with the token_endpoint_auth_method it is registered with (client_secret_basic: HTTP Basic; client_secret_post: client_id and client_secret in the body)."},
	GrantNotAllowed:    {400, "unauthorized_client", "This client is not allowed to use the requested grant type."},
	GrantUnsupported:   {400, "unsupported_grant_type", "Use grant_type=client_credentials or urn:ietf:params:oauth:grant-type:token-exchange."},
	TokenTypeInvalid:   {400, "invalid_request", "Unsupported subject_token_type; use urn:authz:token-type:api-key."},
	RequestInvalid:     {400, "invalid_request", "The request is malformed."},
	RequestTooLarge:    {413, "invalid_request", "The request body is too large."},
	MethodNotAllowed:   {405, "invalid_request", "This endpoint accepts POST with an application/x-www-form-urlencoded body."},
	TokenNotOwned:      {400, "unauthorized_client", "The token was issued to another client; only that client or an administrator may revoke it."},
	RateLimited:        {429, "slow_down", "Too many requests; retry after the number of seconds in Retry-After."},
	Unavailable:        {503, "temporarily_unavailable", "The authorization server cannot reach its storage; retry shortly."},
	Internal:           {500, "server_error", "Internal error; the request id identifies it in the server's log."},

	TokenInvalid: {401, "invalid_token", "The bearer token is missing, malformed, expired or revoked; obtain a new one."},
	Forbidden:    {403, "insufficient_scope", "The token does not carry the permission this operation needs."},
	NotFound:     {404, "not_found", "No such object."},
	Conflict:     {409, "conflict", "The object already exists or was changed concurrently."},
}

// Lookup returns how code is presented over HTTP. Unknown codes present as
// Internal so that a programming error never leaks as a 200 or a 400.
func Lookup(c Code) Meta {
	if m, ok := table[c]; ok {
		return m
	}
	return table[Internal]
}

// Known reports whether c is one of the codes above.
func Known(c Code) bool {
	_, ok := table[c]
	return ok
}

// All returns every code, for documentation and tests.
func All() []Code {
	out := make([]Code, 0, len(table))
	for c := range table {
		out = append(out, c)
	}
	return out
}

// Error is a refusal with its code. Description, when set, replaces the
// code's default remedy text; it must be safe to show to the caller.
// Cause is for logs only and never reaches the caller.
type Error struct {
	Code        Code
	Description string
	Cause       error
	// RetryAfter, for RateLimited, is the number of seconds to wait.
	RetryAfter int
}

func (e *Error) Error() string {
	msg := string(e.Code)
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.Cause != nil {
		msg += ": " + e.Cause.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Cause }

// Is makes errors.Is(err, errcode.New(code, "")) match on the code alone.
func (e *Error) Is(target error) bool {
	var t *Error
	if errors.As(target, &t) {
		return t.Code == e.Code
	}
	return false
}

// Text returns the description shown to the caller.
func (e *Error) Text() string {
	if e.Description != "" {
		return e.Description
	}
	return Lookup(e.Code).Remedy
}

// New returns an *Error with the given code and caller-safe description.
func New(c Code, description string) *Error {
	return &Error{Code: c, Description: description}
}

// Newf is New with formatting.
func Newf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Description: fmt.Sprintf(format, args...)}
}

// Wrap returns an *Error with the given code whose cause is err (for logs).
func Wrap(c Code, err error, description string) *Error {
	return &Error{Code: c, Description: description, Cause: err}
}

// Of returns the code carried by err, or Internal if it carries none.
// A nil error has no code.
func Of(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// As returns the *Error inside err, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
