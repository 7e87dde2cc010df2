package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/authz/authz/conformance"
	"github.com/authz/authz/loadgen"
)

// addProofCommands adds `authz conformance` and `authz bench`: the tools
// that prove a running issuer correct and measure it, over HTTP only.
func addProofCommands(root *cobra.Command) {
	root.AddCommand(newConformanceCmd(), newBenchCmd())
}

func newConformanceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "conformance",
		Short: "Run the black-box OAuth conformance suite against an issuer",
		Long: `Run the black-box protocol suite against an issuer URL: RFC 8414 metadata, the RFC 6749
token endpoint and its errors, the RFC 7517 JWKS, RFC 9068 access tokens, RFC 7523
private_key_jwt, RFC 7662 introspection, RFC 7009 revocation and RFC 8693 token exchange.

It speaks HTTP only and holds any authorization server to the same checks. What the server
does not advertise in its metadata, and what no credential was given for, is skipped with
the reason. Prints one line per check (result, check, RFC section, reason) and exits 1 if
any check failed.

The client (--client-id, --client-secret) must be allowed client credentials. Give a
private_key_jwt client (--assertion-client-id and --assertion-key, a PEM or JWK private
key file) and a legacy key (--api-key) to run the RFC 7523 and RFC 8693 checks too. The
suite makes a few failed authentication attempts on purpose; they count toward the
server's lockout threshold.`,
		Example: `  authz conformance --issuer http://127.0.0.1:8080 --client-id cli_abc --client-secret "$SECRET"
  authz conformance --issuer https://authz.example.com \
    --assertion-client-id cli_jwt --assertion-key client.pem --api-key - -o json < key.txt
  authz conformance --list`,
		Args: exactArgs(),
		RunE: runConformance,
	}
	f := cmd.Flags()
	f.String(flagIssuer, "", "issuer URL to test (its RFC 8414 metadata is fetched from it)")
	f.String(flagClientID, "", "client allowed the client_credentials grant")
	f.String(flagClientSecret, "", "its secret (prefer the environment variable)")
	f.String("assertion-client-id", "", "a client that authenticates with private_key_jwt")
	f.String("assertion-key", "", "file with that client's private key: PEM (PKCS #8, SEC 1, PKCS #1) or JWK")
	f.String("api-key", "", `legacy API key to exchange by RFC 8693 ("-": read it from standard input)`)
	f.String("subject-token-type", "", "subject_token_type of --api-key (default: the first the server advertises)")
	f.Duration("timeout", 10*time.Second, "timeout of each request")
	f.String("client-auth-method", "", "client_secret_basic or client_secret_post, as the client is registered (default: Basic unless the server offers only post)")
	f.Bool("list", false, "list the checks and their RFC sections, and exit")
	f.StringP(flagOutput, "o", "table", "output format: table or json")
	return cmd
}

func runConformance(cmd *cobra.Command, _ []string) error {
	if _, err := outputFormat(cmd); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if list, _ := cmd.Flags().GetBool("list"); list {
		t := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		row(t, "CHECK", "SECTION", "REQUIREMENT")
		for _, c := range conformance.Checks() {
			row(t, c.ID, c.Section, c.Title)
		}
		return t.Flush()
	}
	timeout, _ := cmd.Flags().GetDuration("timeout")
	cfg := conformance.Config{
		Issuer:            str(cmd, flagIssuer),
		ClientID:          str(cmd, flagClientID),
		ClientSecret:      str(cmd, flagClientSecret),
		ClientAuthMethod:  str(cmd, "client-auth-method"),
		AssertionClientID: str(cmd, "assertion-client-id"),
		SubjectTokenType:  str(cmd, "subject-token-type"),
		HTTPClient:        &http.Client{Timeout: timeout},
	}
	if cfg.Issuer == "" {
		return errors.New("--issuer (AUTHZ_ISSUER) is required: the issuer URL to test")
	}
	switch cfg.ClientAuthMethod {
	case "", "client_secret_basic", "client_secret_post":
	default:
		return fmt.Errorf("--client-auth-method %q: use client_secret_basic or client_secret_post", cfg.ClientAuthMethod)
	}
	if p := str(cmd, "assertion-key"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("--assertion-key: %w", err)
		}
		if cfg.AssertionKey, err = conformance.ParseAssertionKey(b); err != nil {
			return fmt.Errorf("--assertion-key %s: %w", p, err)
		}
	}
	key, err := secretArg(cmd, "api-key")
	if err != nil {
		return err
	}
	cfg.SubjectToken = key
	rep, err := conformance.Run(cmd.Context(), cfg)
	if err != nil {
		return err
	}
	if jsonOutput(cmd) {
		err = rep.WriteJSON(out)
	} else {
		err = rep.WriteText(out)
	}
	if err != nil {
		return err
	}
	if rep.Failed() {
		return fmt.Errorf("%d of %d checks failed", rep.Count(conformance.Fail), len(rep.Results))
	}
	return nil
}

func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test an issuer: client credentials, legacy key exchange or gateway verification",
		Long: `Drive an issuer from --concurrency keep-alive connections until --duration has passed or
--requests requests have completed, then print requests per second, p50/p95/p99/max latency
and the failed requests by error_code (-o json: one object).

--mode cc        client credentials at the token endpoint (the default)
--mode exchange  exchange --api-key for a token (RFC 8693), as the key holder
--mode verify    verify access tokens locally against the issuer's JWKS, fetched once, as a
                 gateway does; tokens are obtained before the clock starts

The server's rate limits apply to a benchmark like to anyone: start the server under test with
--rate-limit-addr 0 --rate-limit-client 0 --rate-limit-key 0, or the figures measure the
limiter. A progress line is written to standard error when it is a terminal.`,
		Example: `  authz bench --issuer http://127.0.0.1:8080 --client-id cli_abc --client-secret "$SECRET" --concurrency 32 --duration 10s
  authz bench --issuer http://127.0.0.1:8080 --mode exchange --api-key "$KEY" --requests 100000 -o json
  taskset -c 1 authz bench --issuer http://127.0.0.1:8080 --mode verify --duration 5s`,
		Args: exactArgs(),
		RunE: runBench,
	}
	f := cmd.Flags()
	f.String(flagIssuer, "", "issuer URL (its RFC 8414 metadata names the token endpoint and JWKS)")
	f.String(flagClientID, "", "client for --mode cc and verify")
	f.String(flagClientSecret, "", "its secret (prefer the environment variable)")
	f.String("mode", string(loadgen.ClientCredentials), "cc, exchange or verify")
	f.String("api-key", "", `legacy API key for --mode exchange ("-": read it from standard input)`)
	f.String("scope", "", "scope to request (default: everything granted)")
	f.String("concurrency", "32", "concurrent connections; a comma-separated list (1,8,32,128) sweeps, one run and one row per level")
	f.String("metrics", "", "the server's Prometheus URL (http://HOST:PORT/metrics): adds its audit commits/s, events per commit, time per commit, CPU per request and RSS to each level")
	f.Duration("duration", 10*time.Second, "how long to run (0: until --requests)")
	f.Int64("requests", 0, "stop after this many requests (0: until --duration)")
	f.Duration("timeout", 10*time.Second, "timeout of each request")
	f.StringP(flagOutput, "o", "table", "output format: table or json")
	return cmd
}

func runBench(cmd *cobra.Command, _ []string) error {
	if _, err := outputFormat(cmd); err != nil {
		return err
	}
	mode, err := loadgen.ParseMode(str(cmd, "mode"))
	if err != nil {
		return fmt.Errorf("--%w", err)
	}
	f := cmd.Flags()
	levels, err := loadgen.ParseLevels(str(cmd, "concurrency"))
	if err != nil {
		return usageErrorf(cmd, "--%w", err)
	}
	metrics := str(cmd, "metrics")
	dur, _ := f.GetDuration("duration")
	reqs, _ := f.GetInt64("requests")
	timeout, _ := f.GetDuration("timeout")
	cfg := loadgen.Config{
		Issuer: str(cmd, flagIssuer), ClientID: str(cmd, flagClientID), ClientSecret: str(cmd, flagClientSecret),
		Scope: str(cmd, "scope"), Mode: mode, Concurrency: levels[0], Duration: dur, Requests: reqs, Timeout: timeout,
	}
	if cfg.Issuer == "" {
		return errors.New("--issuer (AUTHZ_ISSUER) is required")
	}
	if mode == loadgen.Exchange {
		if cfg.APIKey, err = secretArg(cmd, "api-key"); err != nil {
			return err
		}
	}
	if ef, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(ef.Fd())) {
		cfg.Progress = ef
	}
	out := cmd.OutOrStdout()
	if len(levels) > 1 || metrics != "" {
		return runSweep(cmd, cfg, levels, metrics)
	}
	res, err := loadgen.Run(cmd.Context(), cfg)
	if err != nil {
		return err
	}
	if jsonOutput(cmd) {
		err = res.WriteJSON(out)
	} else {
		err = res.WriteText(out)
	}
	if err != nil {
		return err
	}
	if res.Requests > 0 && res.Failed == res.Requests {
		return fmt.Errorf("every request failed (%s)", topError(res.Errors))
	}
	return nil
}

// runSweep runs one level after the other and prints a row (or, with -o
// json, an object in an array) per level.
func runSweep(cmd *cobra.Command, cfg loadgen.Config, levels []int, metrics string) error {
	res, err := loadgen.Sweep(cmd.Context(), cfg, levels, metrics)
	out := cmd.OutOrStdout()
	var werr error
	if jsonOutput(cmd) {
		werr = loadgen.WriteLevelsJSON(out, res)
	} else {
		werr = loadgen.WriteLevelsText(out, res)
	}
	if err != nil {
		return err
	}
	if werr != nil {
		return werr
	}
	for _, l := range res {
		if l.Requests > 0 && l.Failed == l.Requests {
			return fmt.Errorf("concurrency %d: every request failed (%s)", l.Concurrency, topError(l.Errors))
		}
	}
	return nil
}

// topError names the most frequent error code.
func topError(errs map[string]int64) string {
	best, n := "", int64(-1)
	for c, k := range errs {
		if k > n || (k == n && c < best) {
			best, n = c, k
		}
	}
	return best
}

// secretArg reads a secret flag; "-" reads it from standard input, which
// keeps it out of the process list and the shell history.
func secretArg(cmd *cobra.Command, name string) (string, error) {
	v := str(cmd, name)
	if v != "-" {
		return v, nil
	}
	line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 64<<10)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("--%s -: reading standard input: %w", name, err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("--%s -: standard input is empty", name)
	}
	return line, nil
}
