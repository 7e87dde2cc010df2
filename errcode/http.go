package errcode

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
)

// Body is the JSON error object of RFC 6749 §5.2 with authz's machine code.
type Body struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Code        Code   `json:"error_code"`
}

// Unavailabler is implemented by errors that mean "storage unreachable";
// store.ErrUnavailable is recognised through it without this package
// importing store.
type Unavailabler interface{ Unavailable() bool }

// Normalize returns the *Error err carries. Errors that carry none become
// Unavailable when they say so, and Internal otherwise.
func Normalize(err error) *Error {
	if e, ok := As(err); ok {
		return e
	}
	var u Unavailabler
	if errors.As(err, &u) && u.Unavailable() {
		return Wrap(Unavailable, err, "")
	}
	return Wrap(Internal, err, "")
}

// Write sends err as RFC 6749 JSON with Cache-Control: no-store, the code's
// status, WWW-Authenticate on 401 (Basic for invalid_client, Bearer
// otherwise) and Retry-After on 429/503. Internal errors are logged with
// their cause; the caller only ever sees the caller-safe description.
func Write(w http.ResponseWriter, log *slog.Logger, err error) {
	e := Normalize(err)
	meta := Lookup(e.Code)
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	switch meta.Status {
	case http.StatusUnauthorized:
		if meta.OAuth == "invalid_client" {
			h.Set("WWW-Authenticate", `Basic realm="authz"`)
		} else {
			h.Set("WWW-Authenticate", `Bearer realm="authz", error="`+meta.OAuth+`"`)
		}
	case http.StatusForbidden:
		h.Set("WWW-Authenticate", `Bearer realm="authz", error="`+meta.OAuth+`"`)
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		retry := e.RetryAfter
		if retry <= 0 {
			retry = 1
		}
		h.Set("Retry-After", strconv.Itoa(retry))
	}
	if e.Code == Internal && log != nil {
		log.Error("internal error", "err", err)
	}
	w.WriteHeader(meta.Status)
	_ = json.NewEncoder(w).Encode(Body{Error: meta.OAuth, Description: e.Text(), Code: e.Code})
}
