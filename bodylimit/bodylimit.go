package bodylimit

import (
	"log/slog"
	"net/http"

	"github.com/authz/authz/errcode"
)

// Handler serves h, except for requests that declare a body longer than
// limit bytes: those get 413 request_too_large without their body being
// read.
func Handler(limit int64, log *slog.Logger, h http.Handler) http.Handler {
	return HandlerFunc(func(*http.Request) int64 { return limit }, log, h)
}

// HandlerFunc is Handler with a limit chosen per request (per route).
func HandlerFunc(limitOf func(*http.Request) int64, log *slog.Logger, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if limit := limitOf(r); r.ContentLength > limit {
			Refuse(w, r, limit, log)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Refuse answers a request whose declared body is over limit: 413 with
// the errcode JSON, and the connection closed after the answer.
func Refuse(w http.ResponseWriter, r *http.Request, limit int64, log *slog.Logger) {
	// Unread, the body is closed by net/http after the answer is flushed:
	// it half-closes the connection and waits a moment before closing it
	// fully, so the client reads the 413 before any reset that its unsent
	// bytes provoke.
	w.Header().Set("Connection", "close")
	errcode.Write(w, log, errcode.Newf(errcode.RequestTooLarge,
		"The request declares a body of %d bytes; this endpoint accepts at most %d.", r.ContentLength, limit))
}
