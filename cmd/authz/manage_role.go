package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
)

func newRoleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "role",
		Short: "Manage roles and their bindings to principals",
		Long: "Manage roles: named sets of permissions of a tenant. A token's scope is what its subject's\n" +
			"roles grant, narrowed by the client's or key's allowed scopes.",
		Example: `  authz role create --tenant ten_abc billing-reader --permission invoices:read
  authz role bind rol_abc --principal prn_abc`,
	}
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a role",
		Example: `  authz role create --tenant ten_abc billing-reader --permission invoices:read
  authz role create --tenant ten_abc billing-admin --permission invoices:read --permission invoices:write`,
		Args: exactArgs("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "tenant", "permission"); err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			r, err := c.CreateRole(cmd.Context(), apiv1.CreateRole{TenantID: str(cmd, "tenant"), Name: args[0], Permissions: strs(cmd, "permission")})
			if err != nil {
				return err
			}
			return emitRoles(cmd, r, r)
		},
	}
	create.Flags().String("tenant", "", "tenant id")
	create.Flags().StringArray("permission", nil, "a permission the role grants, e.g. orders:read (repeat for more)")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List roles",
		Example: "  authz role list --tenant ten_abc",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			l, err := c.ListRoles(cmd.Context(), adminclient.RoleFilter{TenantID: str(cmd, "tenant"), Page: pageOf(cmd)})
			if err != nil {
				return err
			}
			moreHint(cmd, l.Next)
			return emitRoles(cmd, l, l.Items...)
		},
	}
	list.Flags().String("tenant", "", "only this tenant")
	addPageFlags(list)

	bind := &cobra.Command{
		Use:     "bind ROLE --principal P",
		Short:   "Grant a role to a principal of the same tenant",
		Example: "  authz role bind rol_abc --principal prn_abc",
		Args:    exactArgs("ROLE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "principal"); err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			b, err := c.Bind(cmd.Context(), args[0], str(cmd, "principal"))
			if err != nil {
				return err
			}
			return emit(cmd, b, func(w *tabwriter.Writer) {
				row(w, "ROLE", "PRINCIPAL", "TENANT", "CREATED")
				row(w, b.RoleID, b.PrincipalID, b.TenantID, at(b.CreatedAt))
			})
		},
	}
	bind.Flags().String("principal", "", "principal id")

	unbind := &cobra.Command{
		Use:     "unbind ROLE --principal P",
		Short:   "Take a role away from a principal",
		Example: "  authz role unbind rol_abc --principal prn_abc",
		Args:    exactArgs("ROLE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "principal"); err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			p := str(cmd, "principal")
			if err := c.Unbind(cmd.Context(), args[0], p); err != nil {
				return err
			}
			return emit(cmd, map[string]string{"id": p + ":" + args[0], "role_id": args[0], "principal_id": p, "status": "unbound"}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "role %s unbound from principal %s\n", args[0], p)
			})
		},
	}
	unbind.Flags().String("principal", "", "principal id")

	cmd.AddCommand(create, list, bind, unbind)
	return cmd
}

func emitRoles(cmd *cobra.Command, v any, rs ...apiv1.Role) error {
	return emit(cmd, v, func(w *tabwriter.Writer) {
		row(w, "ID", "TENANT", "NAME", "PERMISSIONS")
		for _, r := range rs {
			row(w, r.ID, r.TenantID, r.Name, join(r.Permissions))
		}
	})
}
