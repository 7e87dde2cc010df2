package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

func (s *session) needExchange(ctx context.Context) (*metadata, *Outcome) {
	md, o := s.needMetadata(ctx)
	if o != nil {
		return nil, o
	}
	if !slices.Contains(md.GrantTypes, grantTokenExchange) {
		o := skipped("the server does not advertise %s in grant_types_supported", grantTokenExchange)
		return nil, &o
	}
	return md, nil
}

func (s *session) subjectTokenType(md *metadata) string {
	switch {
	case s.cfg.SubjectTokenType != "":
		return s.cfg.SubjectTokenType
	case len(md.SubjectTokenTypes) > 0:
		return md.SubjectTokenTypes[0]
	}
	return defaultSubjectTokenType
}

// exchange sends a token-exchange request. The subject token may be the
// only credential (authz's legacy keys are), so it goes without client
// authentication first, and with the configured client's only if the
// server asks for client authentication.
func (s *session) exchange(ctx context.Context, md *metadata, subject string) (*response, error) {
	form := func() url.Values {
		return url.Values{
			"grant_type":         {grantTokenExchange},
			"subject_token":      {subject},
			"subject_token_type": {s.subjectTokenType(md)},
		}
	}
	r, err := s.postForm(ctx, md.TokenEndpoint, form(), noAuth)
	if err != nil || r.str("error") != "invalid_client" {
		return r, err
	}
	return s.postForm(ctx, md.TokenEndpoint, form(), s.clientAuth(md))
}

func checkExchangeResponse(ctx context.Context, s *session) Outcome {
	md, o := s.needExchange(ctx)
	if o != nil {
		return *o
	}
	if s.cfg.SubjectToken == "" {
		return skipped("no subject token given (--api-key)")
	}
	r, err := s.exchange(ctx, md, s.cfg.SubjectToken)
	if err != nil {
		return failed("%v", err)
	}
	if r.status != http.StatusOK || r.obj == nil {
		return failed("the exchange was refused: %s", r.summary())
	}
	var problems []string
	for _, k := range []string{"access_token", "issued_token_type", "token_type"} {
		if r.str(k) == "" {
			problems = append(problems, k+" is missing")
		}
	}
	// RFC 8693 §2.2.1: token_type is "Bearer" when the issued token is
	// an access token usable as a bearer token, as it is here.
	if itt := r.str("issued_token_type"); itt == "urn:ietf:params:oauth:token-type:access_token" && !strings.EqualFold(r.str("token_type"), "Bearer") {
		problems = append(problems, fmt.Sprintf("token_type %q for an access token, want Bearer", r.str("token_type")))
	}
	if v, ok := r.obj["expires_in"]; !ok {
		problems = append(problems, "expires_in is missing")
	} else if n, num := v.(float64); !num || n <= 0 {
		problems = append(problems, fmt.Sprintf("expires_in %v is not a positive number", v))
	}
	if v, ok := r.obj["scope"]; ok {
		if _, str := v.(string); !str {
			problems = append(problems, "scope is not a string")
		}
	}
	if len(problems) > 0 {
		return failed("%s", strings.Join(problems, "; "))
	}
	return passed("issued_token_type %s", r.str("issued_token_type"))
}

func checkExchangeInvalidSubject(ctx context.Context, s *session) Outcome {
	md, o := s.needExchange(ctx)
	if o != nil {
		return *o
	}
	r, err := s.exchange(ctx, md, "conformance-invalid-"+random())
	if err != nil {
		return failed("%v", err)
	}
	return refusal(r, []int{http.StatusBadRequest}, "invalid_request")
}
