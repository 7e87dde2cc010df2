package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Metadata is the part of the issuer's RFC 8414 authorization server
// metadata that a gateway uses.
type Metadata struct {
	Issuer        string   `json:"issuer"`
	JWKSURI       string   `json:"jwks_uri"`
	TokenEndpoint string   `json:"token_endpoint"`
	GrantTypes    []string `json:"grant_types_supported,omitempty"`
}

// maxDocumentSize bounds what the verifier reads from the issuer: metadata
// and key sets are small, and an unbounded read is a memory exhaustion
// vector if the endpoint is hijacked.
const maxDocumentSize = 1 << 20

// Discover fetches the issuer's metadata from
// <issuer>/.well-known/oauth-authorization-server, falling back to
// <issuer>/.well-known/openid-configuration, and checks that it names the
// issuer exactly (RFC 8414 §3.3) and publishes a jwks_uri that does not
// downgrade an https issuer to http.
func Discover(ctx context.Context, client *http.Client, issuer string) (*Metadata, error) {
	if client == nil {
		client = defaultHTTPClient()
	}
	iss, err := url.Parse(issuer)
	if err != nil || (iss.Scheme != "https" && iss.Scheme != "http") || iss.Host == "" {
		return nil, fmt.Errorf("verifier: issuer %q is not an http(s) URL", issuer)
	}
	base := strings.TrimSuffix(issuer, "/")
	var errs []error
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		var md Metadata
		status, err := getJSON(ctx, client, base+path, &md, nil)
		if err != nil {
			errs = append(errs, err)
			if status == http.StatusNotFound {
				continue
			}
			return nil, fmt.Errorf("verifier: discovery: %w", err)
		}
		if md.Issuer != issuer {
			return nil, fmt.Errorf("verifier: discovery: metadata names issuer %q, want %q", md.Issuer, issuer)
		}
		if md.JWKSURI == "" {
			return nil, errors.New("verifier: discovery: metadata has no jwks_uri")
		}
		ju, err := url.Parse(md.JWKSURI)
		if err != nil || ju.Host == "" || (ju.Scheme != "https" && ju.Scheme != "http") {
			return nil, fmt.Errorf("verifier: discovery: jwks_uri %q is not an http(s) URL", md.JWKSURI)
		}
		if iss.Scheme == "https" && ju.Scheme != "https" {
			return nil, fmt.Errorf("verifier: discovery: jwks_uri %q downgrades the https issuer", md.JWKSURI)
		}
		return &md, nil
	}
	return nil, fmt.Errorf("verifier: discovery: %w", errors.Join(errs...))
}

// getJSON GETs url and decodes a 200 response into v. It returns the HTTP
// status (0 if none) so callers can tell "not here" from "broken".
// header, when non-nil, receives the response headers.
func getJSON(ctx context.Context, client *http.Client, u string, v any, header *http.Header) (int, error) {
	body, status, h, err := get(ctx, client, u)
	if err != nil {
		return status, err
	}
	if header != nil {
		*header = h
	}
	if err := json.Unmarshal(body, v); err != nil {
		return status, fmt.Errorf("GET %s: %w", u, err)
	}
	return status, nil
}

func get(ctx context.Context, client *http.Client, u string) ([]byte, int, http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxDocumentSize+1))
	if err != nil {
		return nil, resp.StatusCode, nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, resp.StatusCode, nil, fmt.Errorf("GET %s: status %d", u, resp.StatusCode)
	}
	if len(body) > maxDocumentSize {
		return nil, resp.StatusCode, nil, fmt.Errorf("GET %s: document larger than %d bytes", u, maxDocumentSize)
	}
	return body, resp.StatusCode, resp.Header, nil
}
