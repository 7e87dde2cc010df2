package jwks

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/authz/authz/errcode"
)

// ServeHTTP serves the JWKS document (GET and HEAD
// /.well-known/jwks.json): public members only, cacheable for CacheMaxAge,
// with an ETag so that verifiers polling it get 304 Not Modified while the
// key set is unchanged. Other methods get 405 with Allow.
func (m *Manager) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		errcode.Write(w, m.log, errcode.New(errcode.MethodNotAllowed, "The JWKS is read with GET or HEAD."))
		return
	}
	s := m.snap.Load()
	if s == nil {
		errcode.Write(w, m.log, errNotReady)
		return
	}
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(m.cfg.CacheMaxAge.Seconds())))
	h.Set("ETag", s.etag)
	if etagMatch(r.Header.Get("If-None-Match"), s.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(s.jwks)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(s.jwks)
	}
}

// etagMatch implements If-None-Match's weak comparison (RFC 9110 §13.1.2):
// a list of entity tags, or "*".
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
