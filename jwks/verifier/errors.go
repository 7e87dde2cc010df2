package verifier

import "errors"

// Reason names the check a token failed. Reasons are stable: they appear
// in metrics labels and in gateway responses.
type Reason string

// Refusals of the token itself: a gateway answers them with 401
// invalid_token (RFC 6750 §3.1).
const (
	ReasonMalformed   Reason = "malformed"     // not a compact JWS, bad base64 or JSON, crit header
	ReasonTooLarge    Reason = "too_large"     // longer than Config.MaxTokenSize
	ReasonType        Reason = "type"          // typ is not at+jwt (an ID token, a client assertion, ...)
	ReasonAlgorithm   Reason = "algorithm"     // alg not allowed, or not the alg of the key named by kid
	ReasonUnknownKey  Reason = "unknown_key"   // no kid, or a kid the issuer does not publish
	ReasonSignature   Reason = "signature"     // the signature does not verify
	ReasonIssuer      Reason = "issuer"        // iss is not the configured issuer
	ReasonAudience    Reason = "audience"      // aud names none of the configured audiences
	ReasonExpired     Reason = "expired"       // exp has passed (beyond the leeway)
	ReasonNotYetValid Reason = "not_yet_valid" // nbf or iat lies in the future (beyond the leeway)
	ReasonClaims      Reason = "claims"        // an RFC 9068 claim is missing or has the wrong type
	ReasonStatus      Reason = "status"        // its status list entry is not VALID (suspended, revoked), or Config.StatusChecker refused it
)

// Refusals of a valid token that lacks what the resource needs: a gateway
// answers them with 403 insufficient_scope (RFC 6750 §3.1).
const (
	ReasonScope  Reason = "insufficient_scope" // a required scope is missing
	ReasonRole   Reason = "role"               // none of the required roles is present
	ReasonTenant Reason = "tenant"             // the token belongs to another tenant
)

// ReasonUnavailable means the verifier could not decide: it holds no usable
// key set (the JWKS endpoint has been unreachable for longer than
// Config.MaxStale), or no usable status list for a token that refers to
// one (StatusListConfig.MaxStale, the list's exp). A gateway answers 503,
// not 401: the token may be fine.
const ReasonUnavailable Reason = "unavailable"

// Error is a refusal with its reason. Detail is safe to show to the caller
// (it never contains the token, a key or a claim value the caller did not
// send); Err is the underlying cause, for logs.
type Error struct {
	Reason Reason
	Detail string
	Err    error
}

func (e *Error) Error() string {
	msg := "verifier: " + string(e.Reason)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, verifier.ErrExpired) match on the reason alone.
func (e *Error) Is(target error) bool {
	var t *Error
	if errors.As(target, &t) {
		return t.Reason == e.Reason
	}
	return false
}

// Forbidden reports whether the token was valid but insufficient for the
// resource (403 rather than 401).
func (e *Error) Forbidden() bool {
	switch e.Reason {
	case ReasonScope, ReasonRole, ReasonTenant:
		return true
	}
	return false
}

// Description is a caller-safe sentence saying what failed and what to do.
func (e *Error) Description() string {
	if e.Detail != "" {
		return e.Detail
	}
	switch e.Reason {
	case ReasonMalformed:
		return "The access token is not a well-formed JWT."
	case ReasonTooLarge:
		return "The access token is too large."
	case ReasonType:
		return "The token is not an access token (typ must be at+jwt)."
	case ReasonAlgorithm:
		return "The access token is signed with an algorithm this resource does not accept."
	case ReasonUnknownKey:
		return "The access token is signed with a key the issuer does not publish."
	case ReasonSignature:
		return "The access token signature is invalid."
	case ReasonIssuer:
		return "The access token was issued by another issuer."
	case ReasonAudience:
		return "The access token is not meant for this resource (aud)."
	case ReasonExpired:
		return "The access token has expired; obtain a new one."
	case ReasonNotYetValid:
		return "The access token is not valid yet; check the clocks."
	case ReasonClaims:
		return "The access token lacks a required claim."
	case ReasonStatus:
		return "The access token has been revoked; obtain a new one."
	case ReasonScope:
		return "The access token lacks a scope this resource requires."
	case ReasonRole:
		return "The access token's subject lacks a role this resource requires."
	case ReasonTenant:
		return "The access token belongs to another tenant."
	case ReasonUnavailable:
		return "The issuer's keys cannot be fetched; retry shortly."
	}
	return "The access token is invalid."
}

// Sentinels for errors.Is.
var (
	ErrMalformed   = &Error{Reason: ReasonMalformed}
	ErrTooLarge    = &Error{Reason: ReasonTooLarge}
	ErrType        = &Error{Reason: ReasonType}
	ErrAlgorithm   = &Error{Reason: ReasonAlgorithm}
	ErrUnknownKey  = &Error{Reason: ReasonUnknownKey}
	ErrSignature   = &Error{Reason: ReasonSignature}
	ErrIssuer      = &Error{Reason: ReasonIssuer}
	ErrAudience    = &Error{Reason: ReasonAudience}
	ErrExpired     = &Error{Reason: ReasonExpired}
	ErrNotYetValid = &Error{Reason: ReasonNotYetValid}
	ErrClaims      = &Error{Reason: ReasonClaims}
	ErrStatus      = &Error{Reason: ReasonStatus}
	ErrScope       = &Error{Reason: ReasonScope}
	ErrRole        = &Error{Reason: ReasonRole}
	ErrTenant      = &Error{Reason: ReasonTenant}
	ErrUnavailable = &Error{Reason: ReasonUnavailable}
)

// ReasonOf returns the reason carried by err, or "" if err is nil or
// carries none.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func refuse(r Reason, detail string, cause error) *Error {
	return &Error{Reason: r, Detail: detail, Err: cause}
}
