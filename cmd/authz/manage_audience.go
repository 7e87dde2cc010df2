package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
)

func newAudienceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audience",
		Short: "Register the APIs (resource servers) a tenant's tokens may name in aud",
		Long: `Register audiences: the APIs (resource servers) tokens are issued for. One issuer
serves every tenant, so an identifier, usually the API's URL, belongs to the one
tenant that registered it: only its tokens, and those of the tenants it is shared
with, may name it in aud. A client's --audience must be one of these, and the token
endpoint refuses any other (invalid_target, audience_not_granted). The issuer's own
URL, the aud of tokens that name no API, needs no registration.`,
		Example: `  authz audience create https://orders.example --tenant ten_abc
  authz audience create https://orders.example --tenant ten_abc --share-with ten_def
  authz audience share aud_abc --with ten_ghi
  authz audience list --tenant ten_abc`,
	}
	create := &cobra.Command{
		Use:   "create URL --tenant T [--share-with T2...]",
		Short: "Register an audience for a tenant",
		Example: `  authz audience create https://orders.example --tenant ten_abc
  authz audience create https://orders.example --tenant ten_abc --share-with ten_def --share-with ten_ghi`,
		Args: exactArgs("URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "tenant"); err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			a, err := c.CreateAudience(cmd.Context(), apiv1.CreateAudience{Identifier: args[0], TenantID: str(cmd, "tenant"), SharedWith: strs(cmd, "share-with")})
			if err != nil {
				return err
			}
			return emitAudiences(cmd, a, a)
		},
	}
	create.Flags().String("tenant", "", "the tenant that owns the audience")
	create.Flags().StringArray("share-with", nil, "another tenant whose tokens may name it (repeat for more)")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List audiences (with --tenant: those the tenant owns or that are shared with it)",
		Example: "  authz audience list --tenant ten_abc -o json",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			l, err := c.ListAudiences(cmd.Context(), adminclient.AudienceFilter{TenantID: str(cmd, "tenant"), Page: pageOf(cmd)})
			if err != nil {
				return err
			}
			moreHint(cmd, l.Next)
			return emitAudiences(cmd, l, l.Items...)
		},
	}
	list.Flags().String("tenant", "", "only what this tenant may request")
	addPageFlags(list)

	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an audience: new tokens naming it are refused at once",
		Long: `Delete an audience. Tokens already issued for it live out their lifetime; new
token requests naming it are refused at once, also for clients that still list it
(remove it from them with the admin API), and the identifier is free to be
registered again.`,
		Example: "  authz audience delete aud_abc",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			if err := c.DeleteAudience(cmd.Context(), args[0]); err != nil {
				return err
			}
			return emit(cmd, map[string]string{"id": args[0], "status": "deleted"}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "audience %s deleted\n", args[0])
			})
		},
	}

	share := func(use, short string, do func(c *adminclient.Client, cmd *cobra.Command, id, tenant string) (apiv1.Audience, error)) *cobra.Command {
		sc := &cobra.Command{
			Use:     use + " ID --with T",
			Short:   short,
			Example: "  authz audience " + use + " aud_abc --with ten_def",
			Args:    exactArgs("ID"),
			RunE: func(cmd *cobra.Command, args []string) error {
				if err := requireFlags(cmd, "with"); err != nil {
					return err
				}
				c, err := admin(cmd)
				if err != nil {
					return err
				}
				a, err := do(c, cmd, args[0], str(cmd, "with"))
				if err != nil {
					return err
				}
				return emitAudiences(cmd, a, a)
			},
		}
		sc.Flags().String("with", "", "tenant id")
		return sc
	}
	shareCmd := share("share", "Let another tenant's tokens name the audience too",
		func(c *adminclient.Client, cmd *cobra.Command, id, tenant string) (apiv1.Audience, error) {
			return c.ShareAudience(cmd.Context(), id, tenant)
		})
	unshareCmd := share("unshare", "Stop another tenant's tokens from naming the audience (at once)",
		func(c *adminclient.Client, cmd *cobra.Command, id, tenant string) (apiv1.Audience, error) {
			return c.UnshareAudience(cmd.Context(), id, tenant)
		})

	cmd.AddCommand(create, list, del, shareCmd, unshareCmd)
	return cmd
}

func emitAudiences(cmd *cobra.Command, v any, as ...apiv1.Audience) error {
	return emit(cmd, v, func(w *tabwriter.Writer) {
		row(w, "ID", "IDENTIFIER", "TENANT", "SHARED WITH", "CREATED")
		for _, a := range as {
			row(w, a.ID, a.Identifier, a.TenantID, join(a.SharedWith), at(a.CreatedAt))
		}
	})
}
