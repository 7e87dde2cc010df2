package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/authz/authz/adminclient"
	"github.com/authz/authz/termsafe"
)

// addManagementCommands adds the admin command line of SPEC §5 (tenant,
// principal, role, client, key, report, audit, signing-key, audience, token). Each
// command is a thin layer over adminclient: it calls the admin API and
// prints the answer as an aligned table or, with -o json, as the API's own
// JSON.
func addManagementCommands(root *cobra.Command) {
	for _, c := range []*cobra.Command{
		newTenantCmd(), newPrincipalCmd(), newRoleCmd(), newClientCmd(), newKeyCmd(),
		newReportCmd(), newAuditCmd(), newSigningKeyCmd(),
		newAudienceCmd(),
		newSCIMCmd(),
		newConsoleCmd(),
	} {
		addConnectionFlags(c)
		root.AddCommand(c)
	}
	root.AddCommand(newTokenCmd())
}

// Connection flags shared by the management commands. Each has an AUTHZ_*
// environment twin (main.go), which is how credentials should be given.
const (
	flagServer       = "server"
	flagIssuer       = "issuer"
	flagClientID     = "client-id"
	flagClientSecret = "client-secret"
	flagOutput       = "output"
	defaultServer    = "http://127.0.0.1:8081"
)

func addConnectionFlags(c *cobra.Command) {
	f := c.PersistentFlags()
	f.String(flagServer, defaultServer, "admin API URL")
	f.String(flagIssuer, "", "issuer URL whose metadata names the token endpoint (default: the --server host on port 8080)")
	f.String(flagClientID, "", "admin client id")
	f.String(flagClientSecret, "", "admin client secret (prefer the environment variable: flags show in the process list)")
	f.StringP(flagOutput, "o", "table", "output format: table or json")
}

// admin builds the admin API client from the connection flags.
func admin(cmd *cobra.Command, extra ...adminclient.Option) (*adminclient.Client, error) {
	if _, err := outputFormat(cmd); err != nil {
		return nil, err
	}
	f := cmd.Flags()
	server, _ := f.GetString(flagServer)
	issuer, _ := f.GetString(flagIssuer)
	id, _ := f.GetString(flagClientID)
	secret, _ := f.GetString(flagClientSecret)
	if id == "" || secret == "" {
		return nil, errors.New("no admin credentials: set AUTHZ_CLIENT_ID and AUTHZ_CLIENT_SECRET (the bootstrap admin client printed by the first `authz serve`, or another client with authz:admin or authz:tenant-admin)")
	}
	opts := []adminclient.Option{adminclient.WithTokenCache(adminclient.DefaultCacheDir())}
	if issuer != "" {
		opts = append(opts, adminclient.WithIssuer(issuer))
	}
	return adminclient.New(server, id, secret, append(opts, extra...)...), nil
}

func outputFormat(cmd *cobra.Command) (string, error) {
	o, _ := cmd.Flags().GetString(flagOutput)
	switch o {
	case "table", "json":
		return o, nil
	}
	return "", fmt.Errorf("-o %q: use table or json", o)
}

func jsonOutput(cmd *cobra.Command) bool {
	o, _ := outputFormat(cmd)
	return o == "json"
}

// emit prints v as JSON with -o json, and otherwise as the table that
// table writes.
func emit(cmd *cobra.Command, v any, table func(t *tabwriter.Writer)) error {
	out := cmd.OutOrStdout()
	if jsonOutput(cmd) {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	// Every table goes through termsafe: what it prints comes from
	// requests anyone can send (issue 22 §4).
	t := tabwriter.NewWriter(termsafe.Writer(out), 0, 4, 2, ' ', 0)
	table(t)
	return t.Flush()
}

// row writes one tab-separated table row; empty cells show as "-", and a
// cell's own tabs, newlines and other control characters are escaped so
// that no value can forge a row or a column.
func row(w io.Writer, cells ...string) {
	for i, c := range cells {
		if c == "" {
			cells[i] = "-"
		} else {
			cells[i] = termsafe.Cell(c)
		}
	}
	fmt.Fprintln(w, strings.Join(cells, "\t"))
}

// moreHint tells a person, on stderr, how to get the next page.
func moreHint(cmd *cobra.Command, next string) {
	if next != "" && !jsonOutput(cmd) {
		fmt.Fprintf(cmd.ErrOrStderr(), "more: repeat with --after %s\n", next)
	}
}

func addPageFlags(c *cobra.Command) {
	c.Flags().Int("limit", 0, "at most this many items (default 100, max 1000)")
	c.Flags().String("after", "", "cursor from the previous page")
}

func pageOf(cmd *cobra.Command) adminclient.Page {
	limit, _ := cmd.Flags().GetInt("limit")
	after, _ := cmd.Flags().GetString("after")
	return adminclient.Page{Limit: limit, After: after}
}

func str(cmd *cobra.Command, name string) string {
	v, _ := cmd.Flags().GetString(name)
	return v
}

func strs(cmd *cobra.Command, name string) []string {
	v, _ := cmd.Flags().GetStringArray(name)
	return v
}

func when(t *time.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

func at(t time.Time) string { return when(&t) }

func join(vs []string) string { return strings.Join(vs, " ") }

// parseDuration reads a duration given on the command line: Go syntax
// ("36h", "90m") or whole days ("30d").
func parseDuration(flag, s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.Atoi(d); err == nil && n >= 0 && n <= 100*365 {
			return time.Duration(n) * 24 * time.Hour, nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d, nil
	}
	return 0, fmt.Errorf("--%s %q: not a duration; use for example 36h or 30d", flag, s)
}

// parseDate reads a date (midnight UTC) or an RFC 3339 instant.
func parseDate(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date: use 2026-12-31 or 2026-12-31T18:00:00Z", s)
}

// exactArgs is cobra.ExactArgs with a message naming what is missing.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return fmt.Errorf("%s needs %s; see %s --help", cmd.CommandPath(), strings.Join(names, " "), cmd.CommandPath())
		}
		return nil
	}
}

// requireFlags refuses to run without the named flags, in one message.
func requireFlags(cmd *cobra.Command, names ...string) error {
	var missing []string
	for _, n := range names {
		if f := cmd.Flags().Lookup(n); f == nil || !f.Changed {
			missing = append(missing, "--"+n)
		}
	}
	if len(missing) > 0 {
		return usageErrorf(cmd, "%s needs %s", cmd.CommandPath(), strings.Join(missing, " and "))
	}
	return nil
}

// ctxT shortens the signatures of adminclient method values.
type ctxT = context.Context
