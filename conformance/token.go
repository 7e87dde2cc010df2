package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// refusal judges an error response (RFC 6749 §5.2): one of the statuses,
// a JSON object with the expected error, and no token.
func refusal(r *response, statuses []int, wantErr string) Outcome {
	switch {
	case r.str("access_token") != "":
		return failed("a token was issued (%s); want error=%s", r.summary(), wantErr)
	case !slices.Contains(statuses, r.status):
		return failed("got %s; want HTTP %s error=%s", r.summary(), statusList(statuses), wantErr)
	case r.obj == nil || !r.isJSON:
		return failed("HTTP %d without an application/json error object (Content-Type %q)", r.status, r.header.Get("Content-Type"))
	case r.str("error") != wantErr:
		return failed("got %s; want error=%s", r.summary(), wantErr)
	}
	return passed("HTTP %d error=%s", r.status, wantErr)
}

func statusList(ss []int) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = fmt.Sprint(s)
	}
	return strings.Join(parts, " or ")
}

func checkClientCredentials(ctx context.Context, s *session) Outcome {
	md, o := s.needMetadata(ctx)
	if o != nil {
		return *o
	}
	r, err := s.firstToken(ctx, md)
	if err != nil {
		return failed("%v", err)
	}
	if r.status != http.StatusOK {
		return failed("client credentials refused: %s", r.summary())
	}
	if !r.isJSON || r.obj == nil {
		return failed("the token response is not a JSON object (Content-Type %q)", r.header.Get("Content-Type"))
	}
	var problems []string
	if r.str("access_token") == "" {
		problems = append(problems, "no access_token")
	}
	// §5.1 and §7.1: token_type is required and case-insensitive.
	if tt := r.str("token_type"); !strings.EqualFold(tt, "Bearer") {
		problems = append(problems, fmt.Sprintf("token_type %q, want Bearer", tt))
	}
	exp, ok := r.obj["expires_in"].(float64)
	switch {
	case !ok:
		problems = append(problems, "no numeric expires_in")
	case exp <= 0 || exp != float64(int64(exp)):
		problems = append(problems, fmt.Sprintf("expires_in %v is not a positive integer", exp))
	}
	if len(problems) > 0 {
		return failed("%s", strings.Join(problems, "; "))
	}
	return passed("token_type %s, expires_in %v", r.str("token_type"), exp)
}

func checkNoStore(ctx context.Context, s *session) Outcome {
	md, o := s.needMetadata(ctx)
	if o != nil {
		return *o
	}
	r, err := s.firstToken(ctx, md)
	if err != nil || r.status != http.StatusOK {
		return skipped("no token response (see token.client_credentials)")
	}
	cc := r.header.Values("Cache-Control")
	if !hasDirective(cc, "no-store") {
		return failed("Cache-Control %q: a response carrying a token must say no-store", strings.Join(cc, ", "))
	}
	return passed("Cache-Control: %s", strings.Join(cc, ", "))
}

// hasDirective reports whether a Cache-Control header lists directive.
func hasDirective(values []string, directive string) bool {
	for _, v := range values {
		for _, d := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(d), "=")
			if strings.EqualFold(name, directive) {
				return true
			}
		}
	}
	return false
}

// invalidClient judges a refused client authentication: RFC 6749 §5.2
// allows 400 or 401, but a client that used the Authorization header must
// get 401 and a WWW-Authenticate challenge.
func invalidClient(r *response, basic bool) Outcome {
	statuses := []int{http.StatusBadRequest, http.StatusUnauthorized}
	if basic {
		statuses = []int{http.StatusUnauthorized}
	}
	out := refusal(r, statuses, "invalid_client")
	if out.Status == Pass && basic && r.header.Get("WWW-Authenticate") == "" {
		return failed("HTTP 401 without a WWW-Authenticate challenge, required when the client used HTTP Basic")
	}
	return out
}

func checkWrongSecret(ctx context.Context, s *session) Outcome {
	md, o := s.needMetadata(ctx)
	if o != nil {
		return *o
	}
	basic := s.usesBasic(md.AuthMethods)
	a := secretAuth(basic, s.cfg.ClientID, "wrong-"+random())
	r, err := s.postForm(ctx, md.TokenEndpoint, url.Values{"grant_type": {grantClientCredentials}}, a)
	if err != nil {
		return failed("%v", err)
	}
	return invalidClient(r, basic)
}

func checkUnknownClient(ctx context.Context, s *session) Outcome {
	md, o := s.needMetadata(ctx)
	if o != nil {
		return *o
	}
	basic := s.usesBasic(md.AuthMethods)
	a := secretAuth(basic, "conformance-unknown-"+random(), "secret-"+random())
	r, err := s.postForm(ctx, md.TokenEndpoint, url.Values{"grant_type": {grantClientCredentials}}, a)
	if err != nil {
		return failed("%v", err)
	}
	return invalidClient(r, basic)
}

func checkMissingGrantType(ctx context.Context, s *session) Outcome {
	md, o := s.needMetadata(ctx)
	if o != nil {
		return *o
	}
	r, err := s.postForm(ctx, md.TokenEndpoint, url.Values{}, s.clientAuth(md))
	if err != nil {
		return failed("%v", err)
	}
	return refusal(r, []int{http.StatusBadRequest}, "invalid_request")
}

func checkUnsupportedGrantType(ctx context.Context, s *session) Outcome {
	md, o := s.needMetadata(ctx)
	if o != nil {
		return *o
	}
	form := url.Values{"grant_type": {"urn:example:conformance:unsupported-grant"}}
	r, err := s.postForm(ctx, md.TokenEndpoint, form, s.clientAuth(md))
	if err != nil {
		return failed("%v", err)
	}
	return refusal(r, []int{http.StatusBadRequest}, "unsupported_grant_type")
}

func checkDuplicateParameter(ctx context.Context, s *session) Outcome {
	md, o := s.needMetadata(ctx)
	if o != nil {
		return *o
	}
	form := url.Values{"grant_type": {grantClientCredentials, grantClientCredentials}}
	r, err := s.postForm(ctx, md.TokenEndpoint, form, s.clientAuth(md))
	if err != nil {
		return failed("%v", err)
	}
	return refusal(r, []int{http.StatusBadRequest}, "invalid_request")
}

// checkGet sends a well-formed client-credentials request with GET: §3.2
// says the client MUST use POST, so no token may come back. 405 and 400
// are both fair answers; an error object, if any, says invalid_request.
func checkGet(ctx context.Context, s *session) Outcome {
	md, o := s.needMetadata(ctx)
	if o != nil {
		return *o
	}
	u, err := url.Parse(md.TokenEndpoint)
	if err != nil {
		return failed("token_endpoint: %v", err)
	}
	q := url.Values{"grant_type": {grantClientCredentials}}
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return failed("%v", err)
	}
	req.SetBasicAuth(url.QueryEscape(s.cfg.ClientID), url.QueryEscape(s.cfg.ClientSecret))
	r, err := s.do(req)
	if err != nil {
		return failed("%v", err)
	}
	switch {
	case r.str("access_token") != "" || r.status == http.StatusOK:
		return failed("GET was answered %s; the token endpoint must only accept POST", r.summary())
	case r.status != http.StatusMethodNotAllowed && r.status != http.StatusBadRequest:
		return failed("got %s; want HTTP 405 or 400", r.summary())
	case r.obj != nil && r.str("error") != "" && r.str("error") != "invalid_request":
		return failed("got %s; want error=invalid_request", r.summary())
	}
	return passed("HTTP %d", r.status)
}

func checkUnknownScope(ctx context.Context, s *session) Outcome {
	md, o := s.needMetadata(ctx)
	if o != nil {
		return *o
	}
	r, err := s.tokenRequest(ctx, md, url.Values{"scope": {"conformance-unknown-scope-" + random()}})
	if err != nil {
		return failed("%v", err)
	}
	return refusal(r, []int{http.StatusBadRequest}, "invalid_scope")
}

// checkUnknownResource asks for a token for a resource nobody registered.
// One issuer serves many tenants, so a token names only the resource
// servers its tenant may request (SPEC §2 "Audience"); anything else is
// refused rather than issued for a resource that would trust it.
func checkUnknownResource(ctx context.Context, s *session) Outcome {
	md, o := s.needMetadata(ctx)
	if o != nil {
		return *o
	}
	r, err := s.tokenRequest(ctx, md, url.Values{"resource": {"https://conformance-" + random() + ".invalid/api"}})
	if err != nil {
		return failed("%v", err)
	}
	return refusal(r, []int{http.StatusBadRequest}, "invalid_target")
}

// jsonNumber reads a numeric claim decoded with UseNumber.
func jsonNumber(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case float64:
		return n, true
	}
	return 0, false
}
