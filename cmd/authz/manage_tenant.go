package main

import (
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
)

func newTenantCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenant",
		Short: "Manage tenants",
		Long:  "Manage tenants: isolated organisations whose principals, clients, roles and keys never mix.",
		Example: `  authz tenant create acme
  authz tenant list
  authz tenant set-sunset ten_abc 2026-12-31`,
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:     "create NAME",
			Short:   "Create a tenant",
			Example: "  authz tenant create acme",
			Args:    exactArgs("NAME"),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := admin(cmd)
				if err != nil {
					return err
				}
				t, err := c.CreateTenant(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return emitTenants(cmd, t, t)
			},
		},
		tenantListCmd(),
		tenantStatusCmd("suspend", "Suspend a tenant: its keys, clients and tokens are refused", (*adminclient.Client).SuspendTenant),
		tenantStatusCmd("resume", "Resume a suspended tenant", (*adminclient.Client).ResumeTenant),
		&cobra.Command{
			Use:   "set-sunset ID DATE",
			Short: "Set the date after which the tenant's legacy keys can no longer be exchanged",
			Long: "Set the tenant's legacy key exchange deadline: after DATE, exchanging a legacy key of the tenant is refused with key_sunset.\n" +
				"DATE is a day (midnight UTC) or an RFC 3339 instant; \"none\" clears the deadline.",
			Example: `  authz tenant set-sunset ten_abc 2026-12-31
  authz tenant set-sunset ten_abc 2026-12-31T18:00:00Z
  authz tenant set-sunset ten_abc none`,
			Args: exactArgs("ID", "DATE"),
			RunE: func(cmd *cobra.Command, args []string) error {
				c, err := admin(cmd)
				if err != nil {
					return err
				}
				var t apiv1.Tenant
				if args[1] == "none" {
					t, err = c.ClearSunset(cmd.Context(), args[0])
				} else {
					d, perr := parseDate(args[1])
					if perr != nil {
						return perr
					}
					t, err = c.SetSunset(cmd.Context(), args[0], d)
				}
				if err != nil {
					return err
				}
				return emitTenants(cmd, t, t)
			},
		},
	)
	return cmd
}

func tenantListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List tenants",
		Example: `  authz tenant list
  authz tenant list --status suspended -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			l, err := c.ListTenants(cmd.Context(), adminclient.TenantFilter{Status: str(cmd, "status"), Page: pageOf(cmd)})
			if err != nil {
				return err
			}
			moreHint(cmd, l.Next)
			return emitTenants(cmd, l, l.Items...)
		},
	}
	cmd.Flags().String("status", "", "only tenants with this status: active or suspended")
	addPageFlags(cmd)
	return cmd
}

func tenantStatusCmd(verb, short string, fn func(*adminclient.Client, ctxT, string) (apiv1.Tenant, error)) *cobra.Command {
	return &cobra.Command{
		Use:     verb + " ID",
		Short:   short,
		Example: "  authz tenant " + verb + " ten_abc",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			t, err := fn(c, cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return emitTenants(cmd, t, t)
		},
	}
}

func emitTenants(cmd *cobra.Command, v any, ts ...apiv1.Tenant) error {
	return emit(cmd, v, func(w *tabwriter.Writer) {
		row(w, "ID", "NAME", "STATUS", "LEGACY SUNSET", "CREATED")
		for _, t := range ts {
			row(w, t.ID, t.Name, t.Status, when(t.LegacySunsetAt), at(t.CreatedAt))
		}
	})
}
