package conformance

import (
	"context"
	"fmt"
	"net/url"
	"strings"
)

func checkMetadataFetch(ctx context.Context, s *session) Outcome {
	md, err := s.metadata(ctx)
	if err != nil {
		return failed("%v", err)
	}
	return passed("%s", md.url)
}

func checkMetadataRequired(ctx context.Context, s *session) Outcome {
	md, err := s.metadata(ctx)
	if err != nil {
		return skipped("no metadata (see metadata.fetch)")
	}
	var problems []string
	// RFC 8414 §2 requires issuer and response_types_supported, and
	// token_endpoint unless only the implicit grant is supported; RFC
	// 9068 §4 has resource servers find the signing keys at jwks_uri.
	for _, k := range []string{"issuer", "token_endpoint", "jwks_uri"} {
		if v, ok := md.obj[k].(string); !ok || v == "" {
			problems = append(problems, k+" is missing")
		}
	}
	if _, ok := md.obj["response_types_supported"].([]any); !ok {
		problems = append(problems, "response_types_supported is missing (it is REQUIRED, even if empty)")
	}
	if md.Issuer != "" {
		if u, err := url.Parse(md.Issuer); err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery {
			problems = append(problems, fmt.Sprintf("issuer %q must be a URL with no query or fragment", md.Issuer))
		}
	}
	// Endpoints must be absolute URLs; https is required, except that a
	// plain-http issuer (a local test server) may have plain-http
	// endpoints.
	httpOK := strings.HasPrefix(s.issuer, "http://")
	for _, k := range []string{"token_endpoint", "jwks_uri", "introspection_endpoint", "revocation_endpoint"} {
		v, ok := md.obj[k].(string)
		if !ok || v == "" {
			continue
		}
		u, err := url.Parse(v)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(httpOK && u.Scheme == "http")) {
			problems = append(problems, fmt.Sprintf("%s %q is not an absolute https URL", k, v))
		}
	}
	if len(problems) > 0 {
		return failed("%s", strings.Join(problems, "; "))
	}
	return passed("")
}

func checkMetadataIssuer(ctx context.Context, s *session) Outcome {
	md, err := s.metadata(ctx)
	if err != nil {
		return skipped("no metadata (see metadata.fetch)")
	}
	if md.Issuer != s.issuer {
		return failed("fetched for issuer %q, the metadata says %q: a client must reject this metadata", s.issuer, md.Issuer)
	}
	return passed("%s", md.Issuer)
}
