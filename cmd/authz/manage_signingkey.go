package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/authz/authz/admin/apiv1"
)

func newSigningKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "signing-key",
		Short: "List and rotate the token-signing keys",
		Long: "Token-signing keys go next -> current -> retired: a key is published in the JWKS before it signs\n" +
			"and stays published until every token it signed has expired. Rotation is automatic;\n" +
			"'rotate' does it now, 'withdraw' removes a compromised key at once.",
		Example: `  authz signing-key list
  authz signing-key rotate`,
	}
	list := &cobra.Command{
		Use:     "list",
		Short:   "List signing keys",
		Example: "  authz signing-key list",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			l, err := c.ListSigningKeys(cmd.Context())
			if err != nil {
				return err
			}
			return emitSigningKeys(cmd, l, l.Items...)
		},
	}
	rotate := &cobra.Command{
		Use:     "rotate",
		Short:   "Make the next key current now (refused while it is too freshly published)",
		Example: "  authz signing-key rotate",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			k, err := c.RotateSigningKey(cmd.Context())
			if err != nil {
				return err
			}
			return emitSigningKeys(cmd, k, k)
		},
	}
	withdraw := &cobra.Command{
		Use:     "withdraw KID",
		Short:   "Emergency: remove a signing key from the JWKS now; gateways refuse its tokens within the status list ttl + 1 s",
		Example: "  authz signing-key withdraw 3Jd0k...",
		Args:    exactArgs("KID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			if err := c.WithdrawSigningKey(cmd.Context(), args[0]); err != nil {
				return err
			}
			return emit(cmd, map[string]string{"id": args[0], "status": "withdrawn", "reach": withdrawReach}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "signing key %s withdrawn\n%s\n", args[0], withdrawReach)
			})
		},
	}
	cmd.AddCommand(list, rotate, withdraw)
	return cmd
}

// withdrawReach is the withdrawal's promise (docs/status-list.md,
// "Signing-key withdrawal"; measured by TestStatusListEndToEnd).
const withdrawReach = "authz refuses its tokens now; gateways and `authz verify` with status lists (the default) " +
	"refuse them within the status list ttl plus 1 s (--status-list-ttl, default 30 s); " +
	"verifiers without status lists at their next JWKS reload (at most --jwks-max-age, default 5 min)."

func emitSigningKeys(cmd *cobra.Command, v any, ks ...apiv1.SigningKey) error {
	return emit(cmd, v, func(w *tabwriter.Writer) {
		row(w, "KID", "ALG", "STATE", "PUBLISHED", "ACTIVATED", "RETIRED", "REMOVE AFTER")
		for _, k := range ks {
			row(w, k.ID, k.Alg, k.State, at(k.PublishedAt), when(k.ActivatedAt), when(k.RetiredAt), when(k.RemoveAfter))
		}
	})
}
