package gateway

import (
	"net/http"
	"net/url"
	"strings"
)

// Original is the request a front proxy asks the decision endpoint about.
type Original struct {
	Method string
	// URI is the request target in origin form (path and query).
	URI string
	// Path is URI's path.
	Path string
	// Host is X-Forwarded-Host, or the decision request's Host.
	Host string
	// Source names where the original request came from: "nginx"
	// (X-Original-*), "forward_auth" (X-Forwarded-*), or "direct" (Envoy
	// HTTP ext_authz: the decision request is the original's method,
	// path and headers).
	Source string
}

// Headers the front proxies use to describe the original request.
const (
	hdrOriginalMethod  = "X-Original-Method"
	hdrOriginalURI     = "X-Original-Uri"
	hdrForwardedMethod = "X-Forwarded-Method"
	hdrForwardedURI    = "X-Forwarded-Uri"
	hdrForwardedHost   = "X-Forwarded-Host"
	maxOriginalURI     = 8 << 10
)

// badForwarded is the refusal of a decision request whose description of
// the original request is missing, conflicting or malformed: the front
// proxy is misconfigured, and the request must not pass.
func badForwarded(desc string) *refusal {
	return &refusal{status: http.StatusBadRequest, noChallenge: true, reason: "bad_forwarded_request",
		body: errcode400(desc)}
}

// ParseOriginal reads the original request out of a decision request:
// NGINX auth_request's X-Original-Method and X-Original-URI, forward_auth's
// (Traefik, Caddy) X-Forwarded-Method, X-Forwarded-Uri and
// X-Forwarded-Host, or, with neither, the decision request itself (Envoy
// HTTP ext_authz sends the original method and path). Each pair must be
// complete, each header single, and both families, when present, must
// agree: a front proxy that describes the request in two ways, or half a
// way, is misconfigured, and what it asks about cannot be known.
func ParseOriginal(method, requestURI, host string, h http.Header) (Original, error) {
	o, ref := parseOriginal(method, requestURI, host, h)
	if ref != nil {
		return Original{}, forwardedError(ref.body.Description)
	}
	return o, nil
}

type forwardedError string

func (e forwardedError) Error() string { return string(e) }

func parseOriginal(method, requestURI, host string, h http.Header) (Original, *refusal) {
	nm, nOK, ref := single(h, hdrOriginalMethod)
	if ref != nil {
		return Original{}, ref
	}
	nu, nuOK, ref := single(h, hdrOriginalURI)
	if ref != nil {
		return Original{}, ref
	}
	fm, fOK, ref := single(h, hdrForwardedMethod)
	if ref != nil {
		return Original{}, ref
	}
	fu, fuOK, ref := single(h, hdrForwardedURI)
	if ref != nil {
		return Original{}, ref
	}
	fh, fhOK, ref := single(h, hdrForwardedHost)
	if ref != nil {
		return Original{}, ref
	}
	if nOK != nuOK {
		return Original{}, badForwarded("X-Original-Method and X-Original-URI go together: set both (NGINX: proxy_set_header X-Original-Method $request_method; proxy_set_header X-Original-URI $request_uri).")
	}
	if fOK != fuOK {
		return Original{}, badForwarded("X-Forwarded-Method and X-Forwarded-Uri go together: set both.")
	}
	var o Original
	switch {
	case nOK && fOK:
		if nm != fm || nu != fu {
			return Original{}, badForwarded("X-Original-* and X-Forwarded-* describe different requests; send one of them.")
		}
		o = Original{Method: nm, URI: nu, Source: "nginx"}
	case nOK:
		o = Original{Method: nm, URI: nu, Source: "nginx"}
	case fOK:
		o = Original{Method: fm, URI: fu, Source: "forward_auth"}
	default:
		o = Original{Method: method, URI: requestURI, Source: "direct"}
	}
	if !validHeaderName(o.Method) || len(o.Method) > 32 {
		return Original{}, badForwarded("The original request's method is not an HTTP method.")
	}
	if len(o.URI) > maxOriginalURI || !strings.HasPrefix(o.URI, "/") || strings.HasPrefix(o.URI, "//") || !printable(o.URI) {
		return Original{}, badForwarded("The original request's URI must be a path (and query) starting with a single /.")
	}
	u, err := url.ParseRequestURI(o.URI)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return Original{}, badForwarded("The original request's URI does not parse.")
	}
	o.Path = u.Path
	o.Host = host
	if fhOK {
		o.Host = fh
	}
	if !printable(o.Host) || strings.ContainsAny(o.Host, " /?#@") {
		return Original{}, badForwarded("The original request's host is malformed.")
	}
	return o, nil
}

// single returns the one value of header name; two or more values (or
// an empty one) are a conflict.
func single(h http.Header, name string) (string, bool, *refusal) {
	vs := h.Values(name)
	switch len(vs) {
	case 0:
		return "", false, nil
	case 1:
		v := strings.TrimSpace(vs[0])
		if v == "" {
			return "", false, badForwarded(name + " is empty.")
		}
		return v, true, nil
	}
	return "", false, badForwarded(name + " is sent more than once; send it once.")
}

// printable: visible ASCII only (no spaces, no controls, no bytes >0x7e).
func printable(s string) bool {
	for i := range len(s) {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
