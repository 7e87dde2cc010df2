package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/authz/authz/adminclient"
)

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Fetch an access token by client credentials, or by exchanging a legacy API key",
		Long: `Fetch an access token from the token endpoint and print it.

By default it uses the client credentials grant with AUTHZ_CLIENT_ID and AUTHZ_CLIENT_SECRET.
With --api-key it exchanges a legacy API key instead (RFC 8693), without client authentication;
"--api-key -" reads the key from standard input, which keeps it out of your shell history.

The token endpoint is found in the issuer's metadata (--issuer, AUTHZ_ISSUER; default: the
--server host on port 8080). --decode prints the token's header and claims instead: decoded,
not verified (use 'authz verify' for that).`,
		Example: `  authz token
  authz token --scope invoices:read --decode
  printf '%s' "$API_KEY" | authz token --api-key - --decode
  curl -H "Authorization: Bearer $(authz token)" https://api.example.com/invoices`,
		Args: exactArgs(),
		RunE: runToken,
	}
	f := cmd.Flags()
	f.String(flagServer, defaultServer, "admin API URL (only used to derive the default --issuer)")
	f.String(flagIssuer, "", "issuer URL whose metadata names the token endpoint (default: the --server host on port 8080)")
	f.String(flagClientID, "", "client id")
	f.String(flagClientSecret, "", "client secret (prefer the environment variable: flags show in the process list)")
	f.String("api-key", "", `legacy API key to exchange ("-": read it from standard input)`)
	f.StringArray("scope", nil, "scope to ask for (repeat; default: everything granted)")
	f.StringArray("audience", nil, "audience to ask for (repeat)")
	f.String("tenant", "", "with --api-key: the tenant the key must belong to")
	f.Bool("decode", false, "print the token's header and claims (not verified)")
	f.StringP(flagOutput, "o", "table", "output format: table (the token alone) or json (the token response)")
	return cmd
}

func runToken(cmd *cobra.Command, _ []string) error {
	if _, err := outputFormat(cmd); err != nil {
		return err
	}
	tr := adminclient.TokenRequest{
		ClientID: str(cmd, flagClientID), ClientSecret: str(cmd, flagClientSecret),
		APIKey: str(cmd, "api-key"), Scope: strs(cmd, "scope"), Audience: strs(cmd, "audience"), Tenant: str(cmd, "tenant"),
	}
	if tr.APIKey == "-" {
		line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read the API key from standard input: %w", err)
		}
		tr.APIKey = strings.TrimRight(line, "\r\n")
		if tr.APIKey == "" {
			return errors.New("--api-key -: standard input is empty")
		}
	}
	if tr.APIKey != "" {
		// The key is the credential; the admin client's credentials from
		// the environment are not meant for this exchange.
		tr.ClientID, tr.ClientSecret = "", ""
	} else if tr.ClientID == "" || tr.ClientSecret == "" {
		return errors.New("no credentials: set AUTHZ_CLIENT_ID and AUTHZ_CLIENT_SECRET, or exchange a legacy key with --api-key")
	}
	issuer := str(cmd, flagIssuer)
	if issuer == "" {
		issuer = adminclient.DefaultIssuer(str(cmd, flagServer))
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	tokenURL, err := adminclient.DiscoverTokenURL(cmd.Context(), hc, issuer)
	if err != nil {
		return err
	}
	resp, err := adminclient.RequestToken(cmd.Context(), hc, tokenURL, tr)
	if err != nil {
		return fmt.Errorf("token request refused: %w", err)
	}
	out := cmd.OutOrStdout()
	decode, _ := cmd.Flags().GetBool("decode")
	if decode {
		header, claims, err := decodeJWT(resp.AccessToken)
		if err != nil {
			return err
		}
		v := map[string]json.RawMessage{"header": header, "claims": claims}
		if !jsonOutput(cmd) {
			fmt.Fprintln(cmd.ErrOrStderr(), "decoded, not verified:")
		}
		return printJSON(out, v)
	}
	if jsonOutput(cmd) {
		return printJSON(out, resp)
	}
	_, err = fmt.Fprintln(out, resp.AccessToken)
	return err
}

// decodeJWT splits a compact JWS and returns its header and payload JSON,
// without verifying anything.
func decodeJWT(token string) (header, claims json.RawMessage, err error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, nil, errors.New("the access token is not a JWT")
	}
	dec := func(s string) (json.RawMessage, error) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || !json.Valid(b) {
			return nil, errors.New("the access token is not a JWT")
		}
		return b, nil
	}
	if header, err = dec(parts[0]); err != nil {
		return nil, nil, err
	}
	claims, err = dec(parts[1])
	return header, claims, err
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
