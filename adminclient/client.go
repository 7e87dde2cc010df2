package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Client talks to one authz admin API as one admin client.
type Client struct {
	server       string // admin API base URL, no trailing slash
	issuer       string
	tokenURL     string // "" until discovered
	clientID     string
	clientSecret string
	scope        string
	http         *http.Client
	cacheDir     string
	now          func() time.Time

	mu     sync.Mutex
	token  string
	expiry time.Time
}

// Option configures a Client.
type Option func(*Client)

// WithIssuer sets the issuer whose metadata names the token endpoint.
// Default: DefaultIssuer(server).
func WithIssuer(issuer string) Option {
	return func(c *Client) { c.issuer = strings.TrimRight(issuer, "/") }
}

// WithTokenURL sets the token endpoint, skipping discovery.
func WithTokenURL(u string) Option { return func(c *Client) { c.tokenURL = u } }

// WithScope sets the scope asked for (space-separated). Default: none, so
// the token carries everything the client is granted.
func WithScope(scope string) Option { return func(c *Client) { c.scope = scope } }

// WithHTTPClient sets the HTTP client. Default: one with a 30 s timeout.
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithTokenCache keeps the access token in dir (created 0700, files 0600)
// as well as in memory; "" disables the disk cache (the default).
func WithTokenCache(dir string) Option { return func(c *Client) { c.cacheDir = dir } }

// WithClock sets the clock that decides when a token is due for renewal.
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// New returns a client of the admin API at server (for example
// http://127.0.0.1:8081) that authenticates as clientID.
func New(server, clientID, clientSecret string, opts ...Option) *Client {
	c := &Client{
		server:       strings.TrimRight(server, "/"),
		clientID:     clientID,
		clientSecret: clientSecret,
		http:         &http.Client{Timeout: 30 * time.Second},
		now:          time.Now,
	}
	for _, o := range opts {
		o(c)
	}
	if c.issuer == "" {
		c.issuer = DefaultIssuer(c.server)
	}
	return c
}

// DefaultIssuer guesses the issuer from the admin API's URL: the same
// scheme and host on port 8080, where `authz serve` listens by default.
func DefaultIssuer(server string) string {
	u, err := url.Parse(server)
	if err != nil || u.Host == "" {
		return "http://127.0.0.1:8080"
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return u.Scheme + "://" + host + ":8080"
}

// Error is a refusal from the admin API or the token endpoint.
type Error struct {
	StatusCode  int
	Code        string // error_code, e.g. "not_found"
	OAuthError  string // error, e.g. "invalid_request"
	Description string
	RequestID   string
}

func (e *Error) Error() string {
	code := e.Code
	if code == "" {
		code = e.OAuthError
	}
	if code == "" {
		code = fmt.Sprintf("HTTP %d", e.StatusCode)
	}
	if e.Description == "" {
		return code
	}
	return code + ": " + e.Description
}

// UnreachableError means the server could not be reached at all.
type UnreachableError struct {
	What string // "authz admin API", "authz token endpoint"
	URL  string
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach %s at %s: %v", e.What, e.URL, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// transportErr turns a failed round trip into an UnreachableError naming
// the base URL, with the cause stripped of the URL it repeats.
func transportErr(what, base string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err
		if sys := errors.Unwrap(op.Err); sys != nil && op.Op == "dial" {
			err = fmt.Errorf("%s (is authz running there?)", sys)
		}
	}
	return &UnreachableError{What: what, URL: base, Err: err}
}

// decodeError reads an RFC 6749 error body.
func decodeError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("X-Request-Id")}
	var b struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Code        string `json:"error_code"`
	}
	if json.Unmarshal(body, &b) == nil && (b.Error != "" || b.Code != "") {
		e.Code, e.OAuthError, e.Description = b.Code, b.Error, b.Description
	} else {
		e.Description = strings.TrimSpace(http.StatusText(resp.StatusCode))
	}
	return e
}

// do sends one admin API request, authenticating first. A 401 with a
// cached token means the token is no longer honoured (it was revoked, or
// the server was reset): it is dropped and the request tried once more
// with a fresh one.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
	}
	for attempt := 0; ; attempt++ {
		token, fresh, err := c.accessToken(ctx)
		if err != nil {
			return err
		}
		err = c.send(ctx, method, path, query, body, token, out)
		var e *Error
		if attempt == 0 && !fresh && errors.As(err, &e) && e.StatusCode == http.StatusUnauthorized {
			c.forget()
			continue
		}
		return err
	}
}

func (c *Client) send(ctx context.Context, method, path string, query url.Values, body []byte, token string, out any) error {
	u := c.server + "/admin/v1" + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("admin API request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.http
	if untimed(ctx) {
		// A long export or prune: ctx bounds it, not the usual 30 s.
		cp := *c.http
		cp.Timeout = 0
		hc = &cp
	}
	resp, err := hc.Do(req)
	if err != nil {
		return transportErr("authz admin API", c.server, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if w, ok := out.(io.Writer); ok { // a stream (the audit export), copied as it comes
		if _, err := io.Copy(w, resp.Body); err != nil {
			return fmt.Errorf("admin API %s %s: the answer was cut short: %w", method, path, err)
		}
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("admin API %s %s: unreadable answer: %w", method, path, err)
	}
	return nil
}

// untimedKey marks a request that may take longer than the client's
// timeout: its context alone bounds it.
type untimedKey struct{}

func withoutTimeout(ctx context.Context) context.Context {
	return context.WithValue(ctx, untimedKey{}, true)
}

func untimed(ctx context.Context) bool { v, _ := ctx.Value(untimedKey{}).(bool); return v }
