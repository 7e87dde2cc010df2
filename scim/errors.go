package scim

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// SCIM error types (RFC 7644 §3.12, Table 9).
const (
	typeInvalidFilter = "invalidFilter"
	typeUniqueness    = "uniqueness"
	typeInvalidSyntax = "invalidSyntax"
	typeInvalidPath   = "invalidPath"
	typeNoTarget      = "noTarget"
	typeInvalidValue  = "invalidValue"
	typeMutability    = "mutability"
	typeTooMany       = "tooMany"
)

const schemaError = "urn:ietf:params:scim:api:messages:2.0:Error"

// Error is a SCIM error: an HTTP status, the scimType where RFC 7644 has
// one, and a detail that says what to fix.
type Error struct {
	Status int
	Type   string
	Detail string
}

func (e *Error) Error() string { return fmt.Sprintf("scim: %d %s: %s", e.Status, e.Type, e.Detail) }

func badRequest(typ, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: typ, Detail: fmt.Sprintf(format, args...)}
}

func notFound(resource, id string) *Error {
	return &Error{Status: http.StatusNotFound, Detail: fmt.Sprintf("no %s %q", resource, id)}
}

func conflict(format string, args ...any) *Error {
	return &Error{Status: http.StatusConflict, Type: typeUniqueness, Detail: fmt.Sprintf(format, args...)}
}

// errorBody is the JSON of RFC 7644 §3.12. status is a string there.
type errorBody struct {
	Schemas  []string `json:"schemas"`
	Status   string   `json:"status"`
	ScimType string   `json:"scimType,omitempty"`
	Detail   string   `json:"detail,omitempty"`
}

// toError turns any error into the SCIM error to answer: a *Error as it
// is; an errcode refusal with its status; a storage conflict as 409
// uniqueness; the database unreachable as 503; anything else as 500,
// logged (a bug, never the caller's input).
func toError(log *slog.Logger, r *http.Request, err error) *Error {
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	if errors.Is(err, store.ErrConflict) {
		return conflict("the object changed or exists already; read it again and retry")
	}
	e := errcode.Normalize(err)
	status := errcode.Lookup(e.Code).Status
	out := &Error{Status: status, Detail: e.Text()}
	switch {
	case e.Code == errcode.Internal:
		log.ErrorContext(r.Context(), "scim request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case status == http.StatusConflict:
		out.Type = typeMutability
	}
	return out
}

// writeError answers err as RFC 7644 §3.12 JSON.
func writeError(w http.ResponseWriter, log *slog.Logger, r *http.Request, err error) *Error {
	e := toError(log, r, err)
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-store")
	switch e.Status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="authz-scim"`)
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	}
	w.WriteHeader(e.Status)
	_ = json.NewEncoder(w).Encode(errorBody{Schemas: []string{schemaError}, Status: strconv.Itoa(e.Status), ScimType: e.Type, Detail: e.Detail})
	return e
}
