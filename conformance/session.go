package conformance

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	grantClientCredentials = "client_credentials"
	grantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	assertionType          = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	authSecretBasic        = "client_secret_basic"
	authSecretPost         = "client_secret_post"
	authPrivateKeyJWT      = "private_key_jwt"
	// defaultSubjectTokenType is authz's legacy API key (SPEC §3), for
	// servers that do not list their subject token types.
	defaultSubjectTokenType = "urn:authz:token-type:api-key"
	maxBody                 = 1 << 20
)

// session is the state the checks of one run share: the server's
// metadata, its JWKS and the first token, each fetched once.
type session struct {
	cfg    Config
	hc     *http.Client
	now    func() time.Time
	issuer string

	md      once[*metadata]
	jwks    once[*keySet]
	token   once[*response]
	revoked once[string]
}

// once memoizes a fetch and its error.
type once[T any] struct {
	done bool
	v    T
	err  error
}

func (o *once[T]) get(f func() (T, error)) (T, error) {
	if !o.done {
		o.v, o.err = f()
		o.done = true
	}
	return o.v, o.err
}

func newSession(cfg Config) *session {
	s := &session{cfg: cfg, now: cfg.Now, issuer: cfg.Issuer}
	hc := http.Client{Timeout: 10 * time.Second}
	if cfg.HTTPClient != nil {
		hc = *cfg.HTTPClient
	}
	// Redirects are never followed: a client secret or assertion must not
	// travel anywhere the metadata did not name, and a redirect is an
	// answer to judge, not to obey.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s.hc = &hc
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// response is an HTTP answer with its body decoded when it is JSON.
type response struct {
	status int
	header http.Header
	raw    []byte
	// obj is the body when it is a JSON object, else nil.
	obj map[string]any
	// isJSON reports an application/json (or +json) media type.
	isJSON bool
}

func (r *response) str(k string) string {
	s, _ := r.obj[k].(string)
	return s
}

// summary describes r in a line for a failure reason, never echoing a
// token.
func (r *response) summary() string {
	switch {
	case r.obj != nil && r.str("error") != "":
		s := fmt.Sprintf("HTTP %d error=%s", r.status, r.str("error"))
		if d := r.str("error_description"); d != "" {
			s += fmt.Sprintf(" (%s)", clip(d, 120))
		}
		return s
	case r.obj != nil && r.str("access_token") != "":
		return fmt.Sprintf("HTTP %d with an access_token", r.status)
	case len(r.raw) == 0:
		return fmt.Sprintf("HTTP %d, empty body", r.status)
	}
	return fmt.Sprintf("HTTP %d: %s", r.status, clip(string(r.raw), 120))
}

// clip shortens server-sent text for a report line, dropping control
// characters so that a hostile server cannot rewrite the terminal.
func clip(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// do sends req and reads the answer.
func (s *session) do(req *http.Request) (*response, error) {
	resp, err := s.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL.Redacted(), err)
	}
	r := &response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil {
		r.isJSON = mt == "application/json" || strings.HasSuffix(mt, "+json")
	}
	var obj map[string]any
	if json.Unmarshal(raw, &obj) == nil {
		r.obj = obj
	}
	return r, nil
}

func (s *session) get(ctx context.Context, u string) (*response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	return s.do(req)
}

// auth adds client authentication to a request.
type auth func(req *http.Request, form url.Values)

// noAuth sends no client credentials.
func noAuth(*http.Request, url.Values) {}

// prefersBasic reports whether a client secret goes in HTTP Basic
// (client_secret_basic) at an endpoint advertising methods: yes unless only
// client_secret_post is listed (RFC 8414 §2: basic is the default).
func prefersBasic(methods []string) bool {
	return len(methods) == 0 || slices.Contains(methods, authSecretBasic) || !slices.Contains(methods, authSecretPost)
}

// secretAuth authenticates id with secret, in HTTP Basic or in the body.
func secretAuth(basic bool, id, secret string) auth {
	if !basic {
		return func(_ *http.Request, form url.Values) {
			form.Set("client_id", id)
			form.Set("client_secret", secret)
		}
	}
	return func(req *http.Request, _ url.Values) {
		// RFC 6749 §2.3.1: both parts are form-encoded before Basic.
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
}

// clientAuth is the configured client's authentication at the token endpoint.
func (s *session) clientAuth(md *metadata) auth {
	return secretAuth(s.usesBasic(md.AuthMethods), s.cfg.ClientID, s.cfg.ClientSecret)
}

// usesBasic decides Basic or body for the configured client: its
// registered method when given, else what the endpoint prefers.
func (s *session) usesBasic(methods []string) bool {
	switch s.cfg.ClientAuthMethod {
	case authSecretBasic:
		return true
	case authSecretPost:
		return false
	}
	return prefersBasic(methods)
}

// postForm POSTs form to endpoint as application/x-www-form-urlencoded,
// authenticated by a.
func (s *session) postForm(ctx context.Context, endpoint string, form url.Values, a auth) (*response, error) {
	if form == nil {
		form = url.Values{}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, nil)
	if err != nil {
		return nil, err
	}
	a(req, form)
	body := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	return s.do(req)
}

// metadata is the RFC 8414 document, the fields the checks use.
type metadata struct {
	url string
	obj map[string]any

	Issuer                   string
	TokenEndpoint            string
	JWKSURI                  string
	IntrospectionEndpoint    string
	RevocationEndpoint       string
	GrantTypes               []string
	AuthMethods              []string
	IntrospectionAuthMethods []string
	RevocationAuthMethods    []string
	SigningAlgs              []string
	SubjectTokenTypes        []string
}

// wellKnownURL builds the RFC 8414 §3.1 metadata URL: the well-known
// segment goes between the host and the issuer's path.
func wellKnownURL(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil {
		return "", err
	}
	u.Path = "/.well-known/oauth-authorization-server" + strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// metadata fetches and decodes the server's metadata, once.
func (s *session) metadata(ctx context.Context) (*metadata, error) {
	return s.md.get(func() (*metadata, error) {
		u, err := wellKnownURL(s.issuer)
		if err != nil {
			return nil, err
		}
		r, err := s.get(ctx, u)
		if err != nil {
			return nil, err
		}
		if r.status != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", u, r.summary())
		}
		if r.obj == nil {
			return nil, fmt.Errorf("GET %s: the body is not a JSON object", u)
		}
		md := &metadata{url: u, obj: r.obj}
		str := func(k string) string { v, _ := r.obj[k].(string); return v }
		strs := func(k string) []string {
			arr, _ := r.obj[k].([]any)
			var out []string
			for _, v := range arr {
				if s, ok := v.(string); ok {
					out = append(out, s)
				}
			}
			return out
		}
		md.Issuer, md.TokenEndpoint, md.JWKSURI = str("issuer"), str("token_endpoint"), str("jwks_uri")
		md.IntrospectionEndpoint, md.RevocationEndpoint = str("introspection_endpoint"), str("revocation_endpoint")
		md.GrantTypes, md.AuthMethods = strs("grant_types_supported"), strs("token_endpoint_auth_methods_supported")
		md.IntrospectionAuthMethods = strs("introspection_endpoint_auth_methods_supported")
		md.RevocationAuthMethods = strs("revocation_endpoint_auth_methods_supported")
		md.SigningAlgs = strs("access_token_signing_alg_values_supported")
		md.SubjectTokenTypes = strs("subject_token_types_supported")
		return md, nil
	})
}

// needMetadata returns the metadata with a token endpoint, or the
// outcome to report instead: without them no request can be addressed.
func (s *session) needMetadata(ctx context.Context) (*metadata, *Outcome) {
	md, err := s.metadata(ctx)
	if err != nil {
		o := skipped("no metadata (see metadata.fetch): %v", err)
		return nil, &o
	}
	if md.TokenEndpoint == "" {
		o := skipped("the metadata names no token_endpoint (see metadata.required)")
		return nil, &o
	}
	return md, nil
}

// tokenRequest asks for a token by client credentials with extra
// parameters.
func (s *session) tokenRequest(ctx context.Context, md *metadata, extra url.Values) (*response, error) {
	form := url.Values{"grant_type": {grantClientCredentials}}
	for k, v := range extra {
		form[k] = v
	}
	return s.postForm(ctx, md.TokenEndpoint, form, s.clientAuth(md))
}

// firstToken is the run's first client-credentials response, shared by
// the checks that inspect a token response or a token.
func (s *session) firstToken(ctx context.Context, md *metadata) (*response, error) {
	return s.token.get(func() (*response, error) { return s.tokenRequest(ctx, md, nil) })
}

// accessToken returns the first token, or the outcome to report when
// there is none.
func (s *session) accessToken(ctx context.Context) (*metadata, string, *Outcome) {
	md, o := s.needMetadata(ctx)
	if o != nil {
		return nil, "", o
	}
	r, err := s.firstToken(ctx, md)
	if err != nil {
		o := skipped("no token (see token.client_credentials): %v", err)
		return nil, "", &o
	}
	tok := r.str("access_token")
	if r.status != http.StatusOK || tok == "" {
		o := skipped("no token (see token.client_credentials): %s", r.summary())
		return nil, "", &o
	}
	return md, tok, nil
}

// freshToken obtains another token, for checks that consume one.
func (s *session) freshToken(ctx context.Context, md *metadata) (string, error) {
	r, err := s.tokenRequest(ctx, md, nil)
	if err != nil {
		return "", err
	}
	if tok := r.str("access_token"); r.status == http.StatusOK && tok != "" {
		return tok, nil
	}
	return "", fmt.Errorf("client credentials: %s", r.summary())
}

// random returns a fresh random label, so that no two runs collide.
func random() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// keySet is the JWKS: each key as sent, and its public part where it
// parsed.
type keySet struct {
	raw    []map[string]any
	public []jose.JSONWebKey
	// problems says which keys could not be parsed, and why.
	problems []string
}

func (s *session) keys(ctx context.Context, md *metadata) (*keySet, error) {
	return s.jwks.get(func() (*keySet, error) {
		if md.JWKSURI == "" {
			return nil, fmt.Errorf("the metadata names no jwks_uri")
		}
		r, err := s.get(ctx, md.JWKSURI)
		if err != nil {
			return nil, err
		}
		if r.status != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %s", md.JWKSURI, r.summary())
		}
		if r.obj == nil {
			return nil, fmt.Errorf("GET %s: the body is not a JSON object", md.JWKSURI)
		}
		arr, ok := r.obj["keys"].([]any)
		if !ok {
			return nil, fmt.Errorf("GET %s: no \"keys\" array", md.JWKSURI)
		}
		ks := &keySet{}
		for i, v := range arr {
			obj, ok := v.(map[string]any)
			if !ok {
				ks.problems = append(ks.problems, fmt.Sprintf("key %d is not a JSON object", i))
				continue
			}
			ks.raw = append(ks.raw, obj)
			b, _ := json.Marshal(obj)
			var k jose.JSONWebKey
			if err := k.UnmarshalJSON(b); err != nil {
				ks.problems = append(ks.problems, fmt.Sprintf("key %d (%s) does not parse: %v", i, kidOf(obj), err))
				continue
			}
			ks.public = append(ks.public, k.Public())
		}
		return ks, nil
	})
}

func kidOf(obj map[string]any) string {
	if kid, ok := obj["kid"].(string); ok {
		return "kid " + kid
	}
	return "no kid"
}

// jwtParts decodes a compact JWS's header and payload without verifying
// anything; ok is false when token is not one.
func jwtParts(token string) (header, claims map[string]any, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, false
	}
	dec := func(s string) (map[string]any, bool) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return nil, false
		}
		var m map[string]any
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		if d.Decode(&m) != nil {
			return nil, false
		}
		return m, true
	}
	if header, ok = dec(parts[0]); !ok {
		return nil, nil, false
	}
	claims, ok = dec(parts[1])
	return header, claims, ok
}
