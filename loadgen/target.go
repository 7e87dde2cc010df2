package loadgen

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

const (
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	// defaultSubjectTokenType is authz's legacy-key token type (SPEC §3),
	// used when the metadata advertises none.
	defaultSubjectTokenType = "urn:authz:token-type:api-key"
	maxResponseBytes        = 1 << 20
	// renewBefore is how long before its expiry Verify replaces a token,
	// so that a verification never fails on a token that lapsed mid-run.
	renewBefore = 30 * time.Second
)

// verifyAlgs are the signature algorithms Verify accepts; none and HS*
// never are, whatever the metadata says.
var verifyAlgs = []string{"ES256", "ES384", "ES512", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

// metadata is the part of RFC 8414 metadata a run needs.
type metadata struct {
	Issuer             string   `json:"issuer"`
	TokenEndpoint      string   `json:"token_endpoint"`
	JWKSURI            string   `json:"jwks_uri"`
	SubjectTokenTypes  []string `json:"subject_token_types_supported"`
	AccessTokenSigning []string `json:"access_token_signing_alg_values_supported"`
}

// target is what a run's requests go to, with everything that does not
// change between requests prepared once.
type target struct {
	cfg       Config
	tokenURL  string
	ccBody    []byte // client-credentials form
	exBody    []byte // token-exchange form
	basicAuth []string
	formType  []string
	// Verify mode.
	keys   map[string]any // kid → public key
	parser *jwt.Parser
}

func newTarget(ctx context.Context, cfg Config) (*target, error) {
	md, err := discover(ctx, cfg.HTTPClient, cfg.Issuer)
	if err != nil {
		return nil, err
	}
	t := &target{cfg: cfg, tokenURL: md.TokenEndpoint, formType: []string{"application/x-www-form-urlencoded"}}
	cc := url.Values{"grant_type": {"client_credentials"}}
	if cfg.Scope != "" {
		cc.Set("scope", cfg.Scope)
	}
	t.ccBody = []byte(cc.Encode())
	// RFC 6749 §2.3.1: id and secret are form-encoded before Basic.
	cred := url.QueryEscape(cfg.ClientID) + ":" + url.QueryEscape(cfg.ClientSecret)
	t.basicAuth = []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(cred))}

	if cfg.Mode == Exchange {
		stt := cfg.SubjectTokenType
		if stt == "" && len(md.SubjectTokenTypes) > 0 {
			stt = md.SubjectTokenTypes[0]
		}
		if stt == "" {
			stt = defaultSubjectTokenType
		}
		ex := url.Values{"grant_type": {grantTokenExchange}, "subject_token": {cfg.APIKey}, "subject_token_type": {stt}}
		if cfg.Scope != "" {
			ex.Set("scope", cfg.Scope)
		}
		t.exBody = []byte(ex.Encode())
	}
	if cfg.Mode == Verify {
		if md.JWKSURI == "" {
			return nil, fmt.Errorf("issuer %s publishes no jwks_uri: nothing to verify against", cfg.Issuer)
		}
		if t.keys, err = fetchKeys(ctx, cfg.HTTPClient, md.JWKSURI); err != nil {
			return nil, err
		}
		algs := verifyAlgs
		if len(md.AccessTokenSigning) > 0 {
			algs = nil
			for _, a := range md.AccessTokenSigning {
				if isAsymmetric(a) {
					algs = append(algs, a)
				}
			}
		}
		t.parser = jwt.NewParser(jwt.WithValidMethods(algs), jwt.WithIssuer(md.Issuer), jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(), jwt.WithLeeway(30*time.Second), jwt.WithTimeFunc(cfg.Now))
	}
	return t, nil
}

func isAsymmetric(alg string) bool { return slices.Contains(verifyAlgs, alg) }

// do performs one timed request and returns its error code ("" for
// success) and latency.
func (t *target) do(ctx context.Context, w *worker) (string, time.Duration) {
	switch t.cfg.Mode {
	case Verify:
		if t.cfg.Now().Add(renewBefore).After(w.expires) {
			if err := t.renew(ctx, w, t.cfg.Now()); err != nil {
				return "token_unavailable", 0
			}
		}
		start := t.cfg.Now()
		code := t.verify(w.token)
		return code, t.cfg.Now().Sub(start)
	case Exchange:
		start := t.cfg.Now()
		code, _ := t.post(ctx, w, t.exBody, false)
		return code, t.cfg.Now().Sub(start)
	default:
		start := t.cfg.Now()
		code, _ := t.post(ctx, w, t.ccBody, true)
		return code, t.cfg.Now().Sub(start)
	}
}

// post sends a token request and classifies the answer. On success it
// returns the response body (valid until the worker's next request).
func (t *target) post(ctx context.Context, w *worker, body []byte, authenticate bool) (string, []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.tokenURL, bytes.NewReader(body))
	if err != nil {
		return "request_error", nil
	}
	// Shared, never-mutated header values: no per-request allocation.
	req.Header["Content-Type"] = t.formType
	if authenticate {
		req.Header["Authorization"] = t.basicAuth
	}
	resp, err := t.cfg.HTTPClient.Do(req)
	if err != nil {
		return transportCode(err), nil
	}
	w.buf, err = readAll(w.buf[:0], resp.Body)
	// Drain what the limit left so the connection can be reused.
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return transportCode(err), nil
	}
	if code := classify(resp.StatusCode, w.buf); code != "" {
		return code, nil
	}
	return "", w.buf
}

// readAll appends r to buf up to maxResponseBytes, reusing buf's memory.
func readAll(buf []byte, r io.Reader) ([]byte, error) {
	lr := io.LimitReader(r, maxResponseBytes)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := lr.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// classify returns "" for a token response and otherwise the refusal's
// error_code, falling back to its RFC 6749 error and then to the status.
func classify(status int, body []byte) string {
	if status == http.StatusOK && bytes.Contains(body, []byte(`"access_token"`)) {
		return ""
	}
	var e struct {
		Error string `json:"error"`
		Code  string `json:"error_code"`
	}
	if json.Unmarshal(body, &e) == nil {
		switch {
		case e.Code != "":
			return e.Code
		case e.Error != "":
			return e.Error
		}
	}
	if status == http.StatusOK {
		return "no_access_token"
	}
	return "http_" + strconv.Itoa(status)
}

// transportCode names a request that got no HTTP answer.
func transportCode(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "connection_error"
}

// renew obtains a fresh token for a Verify worker, untimed.
func (t *target) renew(ctx context.Context, w *worker, now time.Time) error {
	code, body := t.post(ctx, w, t.ccBody, true)
	if code != "" {
		return fmt.Errorf("obtaining a token to verify: %s", code)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return errors.New("obtaining a token to verify: the token response has no access_token")
	}
	w.token = tr.AccessToken
	// Without expires_in, renew after a minute.
	life := time.Duration(tr.ExpiresIn) * time.Second
	if life <= 0 {
		life = time.Minute + renewBefore
	}
	w.expires = now.Add(life)
	return nil
}

// verify checks token as a strict gateway does: an allowed asymmetric
// algorithm, a key of the JWKS by kid, the signature, typ at+jwt (RFC 9068
// §4), iss, exp and iat.
func (t *target) verify(token string) string {
	var claims jwt.RegisteredClaims
	tok, err := t.parser.ParseWithClaims(token, &claims, t.key)
	if err != nil {
		return "invalid_token"
	}
	typ, _ := tok.Header["typ"].(string)
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return "invalid_token"
	}
	return ""
}

func (t *target) key(tok *jwt.Token) (any, error) {
	kid, _ := tok.Header["kid"].(string)
	if k, ok := t.keys[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("no key %q in the JWKS", kid)
}

// discover reads the issuer's RFC 8414 metadata (§3.1: the well-known
// segment goes between host and path).
func discover(ctx context.Context, hc *http.Client, issuer string) (*metadata, error) {
	u, err := url.Parse(strings.TrimRight(issuer, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("issuer %q is not an absolute URL", issuer)
	}
	u.Path = "/.well-known/oauth-authorization-server" + u.Path
	var md metadata
	if err := getJSON(ctx, hc, u.String(), &md); err != nil {
		return nil, fmt.Errorf("issuer metadata: %w", err)
	}
	if md.TokenEndpoint == "" {
		return nil, fmt.Errorf("issuer metadata at %s names no token_endpoint", u)
	}
	return &md, nil
}

// fetchKeys reads a JWKS into public keys by kid.
func fetchKeys(ctx context.Context, hc *http.Client, uri string) (map[string]any, error) {
	var set jose.JSONWebKeySet
	if err := getJSON(ctx, hc, uri, &set); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	keys := map[string]any{}
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		pub := k.Public()
		if !pub.Valid() {
			continue
		}
		keys[k.KeyID] = pub.Key
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("jwks at %s holds no signature keys", uri)
	}
	return keys, nil
}

func getJSON(ctx context.Context, hc *http.Client, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponseBytes)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	return nil
}
