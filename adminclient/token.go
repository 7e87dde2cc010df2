package adminclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Token types of RFC 8693 and authz's legacy API key (SPEC §3).
const (
	GrantClientCredentials = "client_credentials"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAPIKey        = "urn:authz:token-type:api-key"
)

// renewBefore is how long before its expiry a token is replaced, so that a
// request never leaves with a token about to lapse in flight.
const renewBefore = 30 * time.Second

// TokenRequest asks the token endpoint for an access token: by client
// credentials, or, with APIKey set, by exchanging a legacy API key (client
// authentication is then optional).
type TokenRequest struct {
	ClientID     string
	ClientSecret string
	APIKey       string
	Scope        []string
	Audience     []string
	Tenant       string
}

// TokenResponse is the token endpoint's answer (RFC 6749 §5.1, RFC 8693 §2.2.1).
type TokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
}

// DiscoverTokenURL reads the token endpoint from the issuer's RFC 8414
// metadata.
func DiscoverTokenURL(ctx context.Context, hc *http.Client, issuer string) (string, error) {
	issuer = strings.TrimRight(issuer, "/")
	u := issuer + "/.well-known/oauth-authorization-server"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", fmt.Errorf("issuer %q: %w", issuer, err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", transportErr("authz issuer", issuer, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("issuer metadata at %s: HTTP %d; check --issuer / AUTHZ_ISSUER", u, resp.StatusCode)
	}
	var md struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&md); err != nil || md.TokenEndpoint == "" {
		return "", fmt.Errorf("issuer metadata at %s names no token_endpoint; check --issuer / AUTHZ_ISSUER", u)
	}
	return md.TokenEndpoint, nil
}

// RequestToken asks the token endpoint at tokenURL for a token.
// Client credentials go in HTTP Basic (client_secret_basic), form-encoded
// first as RFC 6749 §2.3.1 requires.
func RequestToken(ctx context.Context, hc *http.Client, tokenURL string, tr TokenRequest) (TokenResponse, error) {
	form := url.Values{}
	if tr.APIKey != "" {
		form.Set("grant_type", GrantTokenExchange)
		form.Set("subject_token", tr.APIKey)
		form.Set("subject_token_type", TokenTypeAPIKey)
	} else {
		form.Set("grant_type", GrantClientCredentials)
	}
	if len(tr.Scope) > 0 {
		form.Set("scope", strings.Join(tr.Scope, " "))
	}
	for _, a := range tr.Audience {
		form.Add("audience", a)
	}
	if tr.Tenant != "" {
		form.Set("tenant", tr.Tenant)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return TokenResponse{}, fmt.Errorf("token endpoint %q: %w", tokenURL, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if tr.ClientID != "" {
		req.SetBasicAuth(url.QueryEscape(tr.ClientID), url.QueryEscape(tr.ClientSecret))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return TokenResponse{}, transportErr("authz token endpoint", tokenURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return TokenResponse{}, decodeError(resp)
	}
	var out TokenResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil || out.AccessToken == "" {
		return TokenResponse{}, fmt.Errorf("token endpoint %s: answer has no access_token", tokenURL)
	}
	return out, nil
}

// TokenURL returns the token endpoint, discovering it on first use.
func (c *Client) TokenURL(ctx context.Context) (string, error) {
	c.mu.Lock()
	u := c.tokenURL
	c.mu.Unlock()
	if u != "" {
		return u, nil
	}
	u, err := DiscoverTokenURL(ctx, c.http, c.issuer)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.tokenURL = u
	c.mu.Unlock()
	return u, nil
}

// accessToken returns a token good for at least renewBefore: from memory,
// from the disk cache, or fresh from the token endpoint (fresh is then
// true). The lock is held across the fetch on purpose: concurrent callers
// wait for one token instead of each fetching their own.
func (c *Client) accessToken(ctx context.Context) (token string, fresh bool, err error) {
	if c.clientID == "" || c.clientSecret == "" {
		return "", false, errors.New("no admin credentials: set AUTHZ_CLIENT_ID and AUTHZ_CLIENT_SECRET (or --client-id and --client-secret)")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.token != "" && now.Add(renewBefore).Before(c.expiry) {
		return c.token, false, nil
	}
	if t, exp, ok := c.readCache(); ok && now.Add(renewBefore).Before(exp) {
		c.token, c.expiry = t, exp
		return t, false, nil
	}
	tokenURL := c.tokenURL
	if tokenURL == "" {
		if tokenURL, err = DiscoverTokenURL(ctx, c.http, c.issuer); err != nil {
			return "", false, err
		}
		c.tokenURL = tokenURL
	}
	var scope []string
	if c.scope != "" {
		scope = strings.Fields(c.scope)
	}
	resp, err := RequestToken(ctx, c.http, tokenURL, TokenRequest{ClientID: c.clientID, ClientSecret: c.clientSecret, Scope: scope})
	if err != nil {
		return "", false, fmt.Errorf("cannot get an admin token for client %s: %w", c.clientID, err)
	}
	c.token, c.expiry = resp.AccessToken, now.Add(time.Duration(resp.ExpiresIn)*time.Second)
	c.writeCache(c.token, c.expiry)
	return c.token, true, nil
}

// forget drops the token, in memory and on disk.
func (c *Client) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.token, c.expiry = "", time.Time{}
	if p := c.cachePath(); p != "" {
		_ = os.Remove(p)
	}
}

// DefaultCacheDir is where the command line keeps admin tokens:
// <user cache dir>/authz/tokens.
func DefaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "authz", "tokens")
}

type cachedToken struct {
	AccessToken string    `json:"access_token"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// cachePath names the cache file after the server, the issuer, the client
// and its secret, hashed: another secret for the same client id (a rotated
// or mistyped one) never reuses a token the old one obtained, so wrong
// credentials are reported at once.
func (c *Client) cachePath() string {
	if c.cacheDir == "" {
		return ""
	}
	h := sha256.Sum256([]byte(c.server + "\x00" + c.issuer + "\x00" + c.clientID + "\x00" + c.clientSecret))
	return filepath.Join(c.cacheDir, hex.EncodeToString(h[:16])+".json")
}

func (c *Client) readCache() (string, time.Time, bool) {
	p := c.cachePath()
	if p == "" {
		return "", time.Time{}, false
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", time.Time{}, false
	}
	var ct cachedToken
	if json.Unmarshal(b, &ct) != nil || ct.AccessToken == "" {
		return "", time.Time{}, false
	}
	return ct.AccessToken, ct.ExpiresAt, true
}

// writeCache stores the token atomically with mode 0600. Failing to cache
// is not an error: the next invocation fetches a token again.
func (c *Client) writeCache(token string, exp time.Time) {
	p := c.cachePath()
	if p == "" {
		return
	}
	if err := os.MkdirAll(c.cacheDir, 0o700); err != nil {
		return
	}
	b, err := json.Marshal(cachedToken{AccessToken: token, ExpiresAt: exp})
	if err != nil {
		return
	}
	f, err := os.CreateTemp(c.cacheDir, ".token-*")
	if err != nil {
		return
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return
	}
	if f.Close() != nil {
		return
	}
	_ = os.Rename(f.Name(), p)
}
