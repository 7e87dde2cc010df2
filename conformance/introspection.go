package conformance

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// endpointAuth authenticates the configured client at an endpoint that
// lists its own auth methods, falling back to the token endpoint's.
func (s *session) endpointAuth(md *metadata, methods []string) auth {
	if len(methods) == 0 {
		methods = md.AuthMethods
	}
	return secretAuth(s.usesBasic(methods), s.cfg.ClientID, s.cfg.ClientSecret)
}

func (s *session) introspect(ctx context.Context, md *metadata, token string) (*response, error) {
	return s.postForm(ctx, md.IntrospectionEndpoint, url.Values{"token": {token}}, s.endpointAuth(md, md.IntrospectionAuthMethods))
}

func (s *session) revoke(ctx context.Context, md *metadata, token string) (*response, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	return s.postForm(ctx, md.RevocationEndpoint, form, s.endpointAuth(md, md.RevocationAuthMethods))
}

func (s *session) needIntrospection(ctx context.Context) (*metadata, *Outcome) {
	md, o := s.needMetadata(ctx)
	if o != nil {
		return nil, o
	}
	if md.IntrospectionEndpoint == "" {
		o := skipped("the server does not advertise an introspection_endpoint")
		return nil, &o
	}
	return md, nil
}

func (s *session) needRevocation(ctx context.Context) (*metadata, *Outcome) {
	md, o := s.needMetadata(ctx)
	if o != nil {
		return nil, o
	}
	if md.RevocationEndpoint == "" {
		o := skipped("the server does not advertise a revocation_endpoint")
		return nil, &o
	}
	return md, nil
}

// introspection judges an introspection answer: HTTP 200 and a JSON
// object whose "active" is the boolean want.
func introspection(r *response, want bool) Outcome {
	if r.status != http.StatusOK || r.obj == nil {
		return failed("got %s; want HTTP 200 with a JSON object", r.summary())
	}
	active, ok := r.obj["active"].(bool)
	switch {
	case !ok:
		return failed("\"active\" is missing or not a boolean: %s", clip(string(r.raw), 120))
	case active != want:
		return failed("active = %v, want %v", active, want)
	}
	return passed("active: %v", active)
}

func checkIntrospectActive(ctx context.Context, s *session) Outcome {
	md, o := s.needIntrospection(ctx)
	if o != nil {
		return *o
	}
	_, tok, o := s.accessToken(ctx)
	if o != nil {
		return *o
	}
	r, err := s.introspect(ctx, md, tok)
	if err != nil {
		return failed("%v", err)
	}
	out := introspection(r, true)
	if out.Status == Pass {
		if cid, ok := r.obj["client_id"].(string); ok && cid != s.cfg.ClientID {
			return failed("client_id %q, want %q: the token was issued to the client that introspects it", cid, s.cfg.ClientID)
		}
		if v, ok := r.obj["exp"]; ok {
			if _, num := v.(float64); !num {
				return failed("exp %v is not a number", v)
			}
		}
	}
	return out
}

func checkIntrospectGarbage(ctx context.Context, s *session) Outcome {
	md, o := s.needIntrospection(ctx)
	if o != nil {
		return *o
	}
	r, err := s.introspect(ctx, md, "conformance-garbage-"+random())
	if err != nil {
		return failed("%v", err)
	}
	return introspection(r, false)
}

// revokedToken obtains a token and revokes it, once; the revocation and
// introspection checks judge the two halves.
func (s *session) revokedToken(ctx context.Context, md *metadata) (string, error) {
	return s.revoked.get(func() (string, error) {
		tok, err := s.freshToken(ctx, md)
		if err != nil {
			return "", err
		}
		r, err := s.revoke(ctx, md, tok)
		if err != nil {
			return "", err
		}
		if r.status != http.StatusOK {
			return "", fmt.Errorf("revocation answered %s; want HTTP 200", r.summary())
		}
		return tok, nil
	})
}

func checkRevoke(ctx context.Context, s *session) Outcome {
	md, o := s.needRevocation(ctx)
	if o != nil {
		return *o
	}
	if _, err := s.revokedToken(ctx, md); err != nil {
		return failed("%v", err)
	}
	return passed("HTTP 200")
}

func checkIntrospectRevoked(ctx context.Context, s *session) Outcome {
	md, o := s.needIntrospection(ctx)
	if o != nil {
		return *o
	}
	if md.RevocationEndpoint == "" {
		return skipped("the server does not advertise a revocation_endpoint")
	}
	tok, err := s.revokedToken(ctx, md)
	if err != nil {
		return skipped("no revoked token (see revocation.revoke): %v", err)
	}
	r, err := s.introspect(ctx, md, tok)
	if err != nil {
		return failed("%v", err)
	}
	out := introspection(r, false)
	if out.Status == Fail && r.obj != nil && r.obj["active"] == true {
		return failed("a revoked token still introspects as active: revocation does not take effect")
	}
	return out
}

func checkRevokeGarbage(ctx context.Context, s *session) Outcome {
	md, o := s.needRevocation(ctx)
	if o != nil {
		return *o
	}
	r, err := s.revoke(ctx, md, "conformance-garbage-"+random())
	if err != nil {
		return failed("%v", err)
	}
	// §2.2: an invalid token is answered 200; the client could do
	// nothing sensible with an error.
	if r.status != http.StatusOK {
		return failed("got %s; want HTTP 200", r.summary())
	}
	return passed("HTTP 200")
}
