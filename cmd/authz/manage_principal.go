package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
)

func newPrincipalCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "principal",
		Short: "Manage principals: the users and services of a tenant",
		Long: "Manage principals: the users and services of a tenant that own clients and legacy keys.\n" +
			"Suspending or deleting a principal stops its clients and keys at once.",
		Example: `  authz principal create --tenant ten_abc --name billing --kind service
  authz principal suspend prn_abc`,
	}
	create := &cobra.Command{
		Use:   "create",
		Short: "Create a principal",
		Example: `  authz principal create --tenant ten_abc --name billing --kind service
  authz principal create --tenant ten_abc --name "Ada Lovelace" --kind user --external-id u-1815`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "tenant", "name", "kind"); err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			p, err := c.CreatePrincipal(cmd.Context(), apiv1.CreatePrincipal{
				TenantID: str(cmd, "tenant"), Name: str(cmd, "name"), Kind: str(cmd, "kind"), ExternalID: str(cmd, "external-id"),
			})
			if err != nil {
				return err
			}
			return emitPrincipals(cmd, p, p)
		},
	}
	create.Flags().String("tenant", "", "tenant id")
	create.Flags().String("name", "", "display name")
	create.Flags().String("kind", "", "user or service")
	create.Flags().String("external-id", "", "its id in the system being migrated from (import matches key owners on it)")

	list := &cobra.Command{
		Use:   "list",
		Short: "List principals",
		Example: `  authz principal list --tenant ten_abc
  authz principal list --status suspended -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			l, err := c.ListPrincipals(cmd.Context(), adminclient.PrincipalFilter{
				TenantID: str(cmd, "tenant"), Status: str(cmd, "status"), Kind: str(cmd, "kind"), ExternalID: str(cmd, "external-id"), Page: pageOf(cmd),
			})
			if err != nil {
				return err
			}
			moreHint(cmd, l.Next)
			return emitPrincipals(cmd, l, l.Items...)
		},
	}
	list.Flags().String("tenant", "", "only this tenant")
	list.Flags().String("status", "", "only this status: active, suspended or deleted")
	list.Flags().String("kind", "", "only this kind: user or service")
	list.Flags().String("external-id", "", "only the principal with this external id")
	addPageFlags(list)

	cmd.AddCommand(create, list, principalShowCmd(),
		principalChange("suspend", "Suspend a principal: its clients and keys are refused until it is resumed"),
		principalChange("resume", "Resume a suspended principal"),
		principalChange("delete", "Delete a principal (a tombstone remains, so its keys are refused as owner_deleted)"),
	)
	return cmd
}

// principalChange is suspend, resume or delete. Each prints the principal
// and the keys and clients it owns, with their last use, uses in the last
// 24 hours and outstanding tokens: with --dry-run nothing changes, and the
// same list says what would stop working.
func principalChange(verb, short string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Example: "  authz principal " + verb + " prn_abc --reason \"left the company (HR-1234)\"\n" +
			"  authz principal " + verb + " prn_abc --dry-run",
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			dry, _ := cmd.Flags().GetBool("dry-run")
			out, err := c.ChangePrincipal(cmd.Context(), args[0], verb, apiv1.PrincipalStatusChange{Reason: str(cmd, "reason"), DryRun: dry})
			if err != nil {
				return err
			}
			return emitPrincipalChange(cmd, verb, out)
		},
	}
	cmd.Flags().String("reason", "", "why: kept in the audit event, shown by `authz key diagnose`, sent in the webhooks")
	cmd.Flags().Bool("dry-run", false, "list what would stop working and change nothing")
	return cmd
}

func emitPrincipalChange(cmd *cobra.Command, verb string, out apiv1.PrincipalChanged) error {
	return emit(cmd, out, func(w *tabwriter.Writer) {
		row(w, "ID", "TENANT", "KIND", "NAME", "EXTERNAL ID", "STATUS", "STATUS CHANGED", "BY")
		p := out.Principal
		row(w, p.ID, p.TenantID, p.Kind, p.Name, p.ExternalID, p.Status, when(p.StatusChangedAt), p.StatusChangedBy)
		im := out.Impact
		if im == nil || verb == "resume" {
			return
		}
		fmt.Fprintln(w)
		switch {
		case out.DryRun:
			fmt.Fprintf(w, "%s would stop %d key(s) and %d client(s), %d of them used in the last 7 days:\n", verb, im.ActiveKeys, im.ActiveClients, im.UsedRecently)
		case out.Changed:
			fmt.Fprintf(w, "stopped %d key(s) and %d client(s), %d of them used in the last 7 days:\n", im.ActiveKeys, im.ActiveClients, im.UsedRecently)
		default:
			fmt.Fprintf(w, "unchanged (already %s); it owns %d active key(s) and %d client(s):\n", p.Status, im.ActiveKeys, im.ActiveClients)
		}
		if len(im.Credentials) == 0 {
			return
		}
		row(w, "TYPE", "ID", "NAME", "LAST USED", "USES 24H", "TOKENS OUTSTANDING", "REMEDY")
		for _, c := range im.Credentials {
			row(w, c.Type, c.ID, c.Name, orNever(c.LastUsedAt), count(c.Uses24h), count(c.OutstandingTokens), c.Remedy)
		}
		fmt.Fprintf(w, "(tokens outstanding: issued in the last %s, the longest token lifetime; an upper bound)\n", im.TokenWindow)
	})
}

func count(n *int64) string {
	if n == nil {
		return "?"
	}
	return strconv.FormatInt(*n, 10)
}

func emitPrincipals(cmd *cobra.Command, v any, ps ...apiv1.Principal) error {
	return emit(cmd, v, func(w *tabwriter.Writer) {
		row(w, "ID", "TENANT", "KIND", "NAME", "EXTERNAL ID", "STATUS", "STATUS CHANGED", "BY")
		for _, p := range ps {
			row(w, p.ID, p.TenantID, p.Kind, p.Name, p.ExternalID, p.Status, when(p.StatusChangedAt), p.StatusChangedBy)
		}
	})
}
