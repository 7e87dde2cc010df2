package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/authz/authz/legacykeys"
)

func newReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Reports on the migration away from legacy keys",
		Example: `  authz report migration
  authz report orphans --tenant ten_abc
  authz report expiring --within 14d`,
	}
	migration := &cobra.Command{
		Use:   "migration",
		Short: "Per tenant and per key holder: who still uses legacy keys, who has moved",
		Long: `Per tenant: active keys, keys used in the last 7 and 30 days, never used, the legacy sunset and
days left. Per key holder, from what it did in the last 30 days: legacy-only (keys only), dual
(keys and client credentials), token-only (keys still active but unused: ready to revoke) or
retired (no active key).`,
		Example: "  authz report migration\n  authz report migration --tenant ten_abc -o json",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			rep, err := c.MigrationReport(cmd.Context(), str(cmd, "tenant"))
			if err != nil {
				return err
			}
			return emit(cmd, rep, func(w *tabwriter.Writer) {
				row(w, "TENANT", "NAME", "ACTIVE KEYS", "USED 7D", "USED 30D", "NEVER USED", "SUNSET", "DAYS LEFT", "LEGACY-ONLY", "DUAL", "TOKEN-ONLY", "RETIRED")
				for _, t := range rep.Tenants {
					left := ""
					if t.SunsetDaysLeft != nil {
						left = fmt.Sprint(*t.SunsetDaysLeft)
					}
					row(w, t.TenantID, t.TenantName, fmt.Sprint(t.ActiveKeys), fmt.Sprint(t.Used7d), fmt.Sprint(t.Used30d), fmt.Sprint(t.NeverUsed),
						when(t.SunsetAt), left, fmt.Sprint(t.Holders[legacykeys.HolderLegacyOnly]), fmt.Sprint(t.Holders[legacykeys.HolderDual]),
						fmt.Sprint(t.Holders[legacykeys.HolderTokenOnly]), fmt.Sprint(t.Holders[legacykeys.HolderRetired]))
				}
				if len(rep.Holders) > 0 {
					fmt.Fprintln(w)
					row(w, "HOLDER", "TENANT", "STATE", "ACTIVE KEYS", "KEYS USED 30D", "CLIENTS USED 30D", "LAST KEY USE")
					for _, h := range rep.Holders {
						row(w, h.PrincipalID, h.TenantID, string(h.State), fmt.Sprint(h.ActiveKeys), fmt.Sprint(h.KeysUsed30d), fmt.Sprint(h.ClientsUsed30d), when(h.LastKeyUse))
					}
				}
			})
		},
	}
	migration.Flags().String("tenant", "", "only this tenant")

	orphans := &cobra.Command{
		Use:     "orphans",
		Short:   "Active keys whose owner is deleted, missing or suspended, or whose tenant is suspended",
		Example: "  authz report orphans\n  authz report orphans --tenant ten_abc",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			os, err := c.Orphans(cmd.Context(), str(cmd, "tenant"))
			if err != nil {
				return err
			}
			return emit(cmd, map[string]any{"items": os, "next": ""}, func(w *tabwriter.Writer) {
				row(w, "KEY", "TENANT", "OWNER", "OWNER REF", "REFUSED WITH", "OWNER STATUS", "TENANT STATUS", "LAST USED")
				for _, o := range os {
					row(w, o.KeyID, o.TenantID, o.OwnerID, o.OwnerRef, string(o.Code), o.OwnerStatus, o.TenantStatus, when(o.LastUsedAt))
				}
			})
		},
	}
	orphans.Flags().String("tenant", "", "only this tenant")

	expiring := &cobra.Command{
		Use:     "expiring",
		Short:   "Active keys that expire soon",
		Example: "  authz report expiring\n  authz report expiring --within 7d --tenant ten_abc",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			within, err := parseDuration("within", str(cmd, "within"))
			if err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			ks, err := c.Expiring(cmd.Context(), str(cmd, "tenant"), within)
			if err != nil {
				return err
			}
			return emitKeys(cmd, map[string]any{"items": ks, "next": ""}, ks...)
		},
	}
	expiring.Flags().String("tenant", "", "only this tenant")
	expiring.Flags().String("within", "30d", "how far ahead to look")

	cmd.AddCommand(migration, orphans, expiring)
	return cmd
}
