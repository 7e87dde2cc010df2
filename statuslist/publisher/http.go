package publisher

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/statuslist"
)

// ServeHTTP serves GET and HEAD of PathList (the Status List Token,
// cacheable for TTL, with an ETag for 304s and gzip when asked) and of
// PathAggregation. Other methods get 405 with Allow. The draft's
// historical resolution (?time=) is not offered: the current list is
// served, whose iat and exp tell the client so (draft §8.4).
func (p *Publisher) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		errcode.Write(w, p.cfg.Logger, errcode.New(errcode.MethodNotAllowed, "Status lists are read with GET or HEAD."))
		return
	}
	// Browser-based verifiers may fetch lists (draft §8.1); they are public.
	w.Header().Set("Access-Control-Allow-Origin", "*")
	switch r.URL.Path {
	case PathList:
		p.serveList(w, r)
	case PathAggregation:
		p.serveAggregation(w, r)
	default:
		errcode.Write(w, p.cfg.Logger, errcode.New(errcode.NotFound, "No such status list."))
	}
}

func (p *Publisher) serveList(w http.ResponseWriter, r *http.Request) {
	cur := p.cur.Load()
	// An expired list is never served: a gateway must not mistake it for
	// a current one (and fails closed without one).
	if cur == nil || !p.now().Before(cur.exp) {
		errcode.Write(w, p.cfg.Logger, errcode.New(errcode.Unavailable, "The status list is not available yet; retry shortly."))
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(p.cfg.TTL.Seconds())))
	h.Set("Vary", "Accept-Encoding")
	body, etag := cur.token, cur.etag
	if acceptsGzip(r.Header.Values("Accept-Encoding")) {
		body, etag = cur.gzipped, cur.gzETag
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("ETag", etag)
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", statuslist.MediaType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

func (p *Publisher) serveAggregation(w http.ResponseWriter, r *http.Request) {
	body, _ := json.Marshal(map[string][]string{"status_lists": {p.uri}})
	h := w.Header()
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
}

// acceptsGzip reports whether Accept-Encoding values allow gzip (a
// non-zero q for gzip or, absent gzip, for *).
func acceptsGzip(values []string) bool {
	star := false
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(item), ";")
			ok := !zeroQ(params)
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "gzip", "x-gzip":
				return ok
			case "*":
				star = ok
			}
		}
	}
	return star
}

// zeroQ reports whether coding parameters say q=0.
func zeroQ(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && q == 0
		}
	}
	return false
}

// etagMatch implements If-None-Match's weak comparison (RFC 9110 §13.1.2).
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}
