package server

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/reqmeta"
)

// middleware wraps every handler of both listeners: a request id in the
// context and the X-Request-Id header, recovery from panics (answered as a
// 500 JSON error, logged with the stack, never a dropped connection), and
// one structured log line per request. Logged fields never include bodies,
// query strings or headers, where secrets travel.
func (s *Server) middleware(listener string, h http.Handler) http.Handler {
	return s.trusted.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
			route := r.Pattern // set by the ServeMux that matched: a bounded label, never the raw path
			if route == "" || route == "/" {
				route = "other"
			}
			s.http.requests.WithLabelValues(listener, route, strconv.Itoa(rec.status)).Inc()
			s.http.latency.WithLabelValues(listener, route).Observe(time.Since(start).Seconds())
			s.log.LogAttrs(r.Context(), slog.LevelDebug, "request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", rec.status),
				slog.Duration("took", time.Since(start)), slog.String("request_id", reqmeta.From(r.Context()).RequestID))
		}()
		h.ServeHTTP(rec, r)
	}))
}

// httpMetrics count every request of both listeners.
type httpMetrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer) httpMetrics {
	m := httpMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_http_requests_total",
			Help: "HTTP requests by listener (public, admin, metrics), route and status code.",
		}, []string{"listener", "route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "authz_http_request_duration_seconds",
			Help:    "HTTP request latency by listener and route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"listener", "route"}),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
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
