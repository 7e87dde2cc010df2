package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/authz/authz/errcode"
)

// probeKey is a subject token that can never be a key: it starts with the
// issued-key prefix without the issued format, so the token endpoint
// answers key_malformed without a database read or a rate-limit charge
// against any real key.
const probeKey = "azk_gateway-self-check"

// FixExchangeClient is the command that creates a client able to bridge
// legacy keys; a refusal to start names it.
const FixExchangeClient = "authz client create --tenant T --owner P --grant-type " + grantTokenExchange

// CheckExchangeClient makes sure, before a bridging gateway starts, that
// its client may exchange legacy keys at endpoint. It sends one exchange
// of a deliberately malformed key: the token endpoint authenticates the
// client and checks its grants before it looks at the key, so a client
// that may exchange gets key_malformed, and any other answer is the
// reason the gateway would answer every bridged request with 503. A nil
// client uses a default one with a timeout.
func CheckExchangeClient(ctx context.Context, client *http.Client, endpoint, clientID, clientSecret string) error {
	if client == nil {
		client = &http.Client{Timeout: exchangeTimeout}
	}
	ctx, cancel := context.WithTimeout(ctx, exchangeTimeout)
	defer cancel()
	form := url.Values{
		"grant_type":         {grantTokenExchange},
		"subject_token":      {probeKey},
		"subject_token_type": {tokenTypeAPIKey},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return fmt.Errorf("gateway self-check: token endpoint %q: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString(
		[]byte(url.QueryEscape(clientID)+":"+url.QueryEscape(clientSecret))))
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("gateway self-check: cannot reach the token endpoint %s to check client %s: %w", endpoint, clientID, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize))
	var eb errcode.Body
	_ = json.Unmarshal(body, &eb)
	if resp.StatusCode == http.StatusBadRequest && eb.Code == errcode.KeyMalformed {
		return nil // the client got as far as the key: it may exchange
	}
	code := string(eb.Code)
	if code == "" || !validLabel(code) {
		code = "HTTP " + fmt.Sprint(resp.StatusCode)
	}
	switch eb.Code {
	case errcode.GrantNotAllowed:
		return fmt.Errorf("gateway self-check: client %s may not use the token-exchange grant (%s), so every request with a legacy key would get 503. "+
			"Create a client that may, and run the gateway with its id and secret in AUTHZ_CLIENT_ID and AUTHZ_CLIENT_SECRET:\n  %s",
			clientID, code, FixExchangeClient)
	case errcode.ClientInvalid:
		return fmt.Errorf("gateway self-check: the token endpoint %s does not accept client %s (%s): check AUTHZ_CLIENT_ID and AUTHZ_CLIENT_SECRET, or create a client with\n  %s",
			endpoint, clientID, code, FixExchangeClient)
	case errcode.ClientSuspended:
		return fmt.Errorf("gateway self-check: client %s, its owner or its tenant is suspended (%s): resume it, or use another client created with\n  %s",
			clientID, code, FixExchangeClient)
	}
	return fmt.Errorf("gateway self-check: the token endpoint %s answered %s to a test exchange by client %s, where key_malformed was expected; check --issuer and --token-endpoint",
		endpoint, code, clientID)
}
