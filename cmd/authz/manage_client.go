package main

import (
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
)

func newClientCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "client",
		Short: "Manage OAuth clients",
		Long: "Manage OAuth clients: the credentials services use to get tokens by client credentials.\n" +
			"A client's secret is shown once, when it is created or rotated.",
		Example: `  authz client create --tenant ten_abc --owner prn_abc --scope invoices:read
  authz client rotate-secret cli_abc --overlap 24h`,
	}
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a client; its secret is printed once",
		Example: `  authz client create --tenant ten_abc --owner prn_abc --scope invoices:read
  authz client create --tenant ten_abc --owner prn_abc --audience https://api.example.com --access-token-lifetime 10m
  authz client create --tenant ten_abc --owner prn_gw --grant-type urn:ietf:params:oauth:grant-type:token-exchange
  authz client create --tenant ten_abc --owner prn_abc --auth-method private_key_jwt --jwks-file client-jwks.json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "tenant", "owner"); err != nil {
				return err
			}
			req := apiv1.CreateClient{
				TenantID: str(cmd, "tenant"), OwnerID: str(cmd, "owner"), Name: str(cmd, "name"),
				AuthMethod: str(cmd, "auth-method"), GrantTypes: strs(cmd, "grant-type"),
				Scopes: strs(cmd, "scope"), Audiences: strs(cmd, "audience"), JWKSURI: str(cmd, "jwks-uri"),
			}
			if s := str(cmd, "access-token-lifetime"); s != "" {
				d, err := parseDuration("access-token-lifetime", s)
				if err != nil {
					return err
				}
				req.AccessTokenLifetime = int64(d.Seconds())
			}
			if p := str(cmd, "jwks-file"); p != "" {
				b, err := os.ReadFile(p)
				if err != nil {
					return fmt.Errorf("--jwks-file: %w", err)
				}
				if !json.Valid(b) {
					return fmt.Errorf("--jwks-file %s: not JSON", p)
				}
				req.JWKS = b
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			cl, err := c.CreateClient(cmd.Context(), req)
			if err != nil {
				return err
			}
			return emitClientWithSecret(cmd, cl)
		},
	}
	f := create.Flags()
	f.String("tenant", "", "tenant id")
	f.String("owner", "", "principal the client acts for")
	f.String("name", "", "a name for people")
	f.StringArray("scope", nil, "allowed scope (repeat; none: whatever the owner's roles grant)")
	f.StringArray("audience", nil, "allowed audience (repeat): one registered for the tenant or shared with it (authz audience create); default aud: the issuer")
	f.StringArray("grant-type", nil, "allowed grant type (repeat; default client_credentials)")
	f.String("auth-method", "", "client_secret_basic (default), client_secret_post or private_key_jwt")
	f.String("jwks-file", "", "private_key_jwt: file with the client's public JWK Set")
	f.String("jwks-uri", "", "private_key_jwt: https URL of the client's JWK Set")
	f.String("access-token-lifetime", "", "access-token lifetime for this client, e.g. 10m (default: the server's)")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List clients",
		Example: "  authz client list --tenant ten_abc\n  authz client list --owner prn_abc -o json",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			l, err := c.ListClients(cmd.Context(), adminclient.ClientFilter{TenantID: str(cmd, "tenant"), OwnerID: str(cmd, "owner"), Status: str(cmd, "status"), Page: pageOf(cmd)})
			if err != nil {
				return err
			}
			moreHint(cmd, l.Next)
			return emitClients(cmd, l, l.Items...)
		},
	}
	list.Flags().String("tenant", "", "only this tenant")
	list.Flags().String("owner", "", "only clients of this principal")
	list.Flags().String("status", "", "only this status: active or suspended")
	addPageFlags(list)

	rotate := &cobra.Command{
		Use:   "rotate-secret ID",
		Short: "Give a client a new secret; the old one keeps working during the overlap",
		Example: `  authz client rotate-secret cli_abc
  authz client rotate-secret cli_abc --overlap 0s   # the old secret stops working now`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := parseDuration("overlap", str(cmd, "overlap"))
			if err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			cl, err := c.RotateSecret(cmd.Context(), args[0], &d)
			if err != nil {
				return err
			}
			return emitClientWithSecret(cmd, cl)
		},
	}
	rotate.Flags().String("overlap", "24h", "how long the previous secret keeps working")

	remove := &cobra.Command{
		Use:     "delete ID",
		Short:   "Delete a client",
		Example: "  authz client delete cli_abc",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteClient(cmd.Context(), args[0]); err != nil {
				return err
			}
			return emit(cmd, map[string]string{"id": args[0], "status": "deleted"}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "client %s deleted\n", args[0])
			})
		},
	}
	cmd.AddCommand(create, list, rotate,
		clientChange("suspend", "Suspend a client: its token requests are refused with client_suspended", (*adminclient.Client).SuspendClient),
		clientChange("resume", "Resume a suspended client", (*adminclient.Client).ResumeClient),
		remove)
	return cmd
}

func clientChange(verb, short string, fn func(*adminclient.Client, ctxT, string) (apiv1.Client, error)) *cobra.Command {
	return &cobra.Command{
		Use:     verb + " ID",
		Short:   short,
		Example: "  authz client " + verb + " cli_abc",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			cl, err := fn(c, cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return emitClients(cmd, cl, cl)
		},
	}
}

func emitClients(cmd *cobra.Command, v any, cs ...apiv1.Client) error {
	return emit(cmd, v, func(w *tabwriter.Writer) {
		row(w, "ID", "TENANT", "OWNER", "AUTH METHOD", "SCOPES", "AUDIENCES", "STATUS", "LAST USED")
		for _, c := range cs {
			row(w, c.ID, c.TenantID, c.OwnerID, c.AuthMethod, join(c.Scopes), join(c.Audiences), c.Status, when(c.LastUsedAt))
		}
	})
}

// emitClientWithSecret prints a client whose secret was just generated, and
// says on stderr that it will not be shown again.
func emitClientWithSecret(cmd *cobra.Command, c apiv1.Client) error {
	err := emit(cmd, c, func(w *tabwriter.Writer) {
		row(w, "CLIENT ID", "CLIENT SECRET", "TENANT", "OWNER", "AUTH METHOD", "SCOPES")
		row(w, c.ID, c.ClientSecret, c.TenantID, c.OwnerID, c.AuthMethod, join(c.Scopes))
	})
	if err == nil && c.ClientSecret != "" && !jsonOutput(cmd) {
		fmt.Fprintln(cmd.ErrOrStderr(), "store the client secret now: it is not shown again")
	}
	return err
}
