package server

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/reqmeta"
)

// middleware wraps every handler of both listeners: a request id in the
// context and the X-Request-Id header, recovery from panics (answered as a
// 500 JSON error, logged with the stack, never a dropped connection), and
// one structured log line per request. Logged fields never include bodies,
// query strings or headers, where secrets travel.
func (s *Server) middleware(h http.Handler) http.Handler {
	return reqmeta.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(r.Context(), "panic serving request", "panic", p, "stack", string(debug.Stack()),
					"request_id", reqmeta.From(r.Context()).RequestID)
				if !rec.wrote {
					errcode.Write(rec, nil, errcode.New(errcode.Internal, ""))
				}
			}
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", rec.status),
				slog.Duration("took", time.Since(start)), slog.String("request_id", reqmeta.From(r.Context()).RequestID))
		}()
		h.ServeHTTP(rec, r)
	}))
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
