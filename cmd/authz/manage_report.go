package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/store"
)

// upper is a state's column heading.
func upper(s string) string { return strings.ToUpper(s) }

func newReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report",
		Short: "Reports on the migration away from legacy keys",
		Example: `  authz report migration
  authz report migration --history 90d
  authz report orphans --tenant ten_abc --limit 100
  authz report expiring --within 14d`,
	}
	migration := &cobra.Command{
		Use:   "migration",
		Short: "Per tenant and per key holder: who still uses legacy keys, who has moved",
		Long: `Per tenant: active keys, keys used in the last 7 and 30 days, never used, the legacy sunset and
days left. Per key holder, from what it did in the last 30 days:
  legacy-only  used a key, no client
  dual         used a key and a client
  new          used no key, and a key entered authz (issued or imported) within the 30 days: not yet judged
  idle         used neither a key nor a client, keys watched for the whole 30 days
  token-only   obtained tokens through a client, used no key, keys watched for the whole 30 days: ready to revoke
  retired      no active key left
With --history, the daily counts by state instead (one row per tenant per day, kept a year).`,
		Example: "  authz report migration\n  authz report migration --tenant ten_abc -o json\n  authz report migration --history 90d",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			days := 0
			if s := str(cmd, "history"); s != "" {
				d, err := parseDuration("history", s)
				if err != nil {
					return err
				}
				days = int((d + 24*time.Hour - 1) / (24 * time.Hour)) // whole days, rounded up
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			if days > 0 {
				return migrationHistory(cmd, c, days)
			}
			rep, err := c.MigrationReport(cmd.Context(), str(cmd, "tenant"))
			if err != nil {
				return err
			}
			return emit(cmd, rep, func(w *tabwriter.Writer) {
				head := []string{"TENANT", "NAME", "ACTIVE KEYS", "USED 7D", "USED 30D", "NEVER USED", "SUNSET", "DAYS LEFT"}
				for _, s := range legacykeys.HolderStates() {
					head = append(head, upper(string(s)))
				}
				row(w, head...)
				for _, t := range rep.Tenants {
					left := ""
					if t.SunsetDaysLeft != nil {
						left = fmt.Sprint(*t.SunsetDaysLeft)
					}
					cells := []string{t.TenantID, t.TenantName, fmt.Sprint(t.ActiveKeys), fmt.Sprint(t.Used7d), fmt.Sprint(t.Used30d), fmt.Sprint(t.NeverUsed),
						when(t.SunsetAt), left}
					for _, s := range legacykeys.HolderStates() {
						cells = append(cells, fmt.Sprint(t.Holders[s]))
					}
					row(w, cells...)
				}
				if len(rep.Holders) > 0 {
					fmt.Fprintln(w)
					row(w, "HOLDER", "TENANT", "STATE", "ACTIVE KEYS", "KEYS USED 30D", "CLIENTS USED 30D", "LAST KEY USE", "NEWEST KEY ADDED")
					for _, h := range rep.Holders {
						row(w, h.PrincipalID, h.TenantID, string(h.State), fmt.Sprint(h.ActiveKeys), fmt.Sprint(h.KeysUsed30d), fmt.Sprint(h.ClientsUsed30d),
							when(h.LastKeyUse), when(h.LastKeyAdded))
					}
				}
			})
		},
	}
	migration.Flags().String("tenant", "", "only this tenant")
	migration.Flags().String("history", "", "the daily counts by state over this period instead, e.g. 90d (at most 366d)")

	orphans := &cobra.Command{
		Use:   "orphans",
		Short: "Active keys whose owner is deleted, missing or suspended, or whose tenant is suspended",
		Long: `Active keys that are refused until an administrator repairs their owner chain: first those
used in the 7 days before the report began (someone depends on them right now: their owner was
suspended or deleted while they were in use), then the others, each part by key id.
Without --limit or --after every orphan is listed, fetched page by page and written as it
arrives (-o json writes one {"items": [...], "next": ""} document, streamed); with them, one page.`,
		Example: "  authz report orphans\n  authz report orphans --tenant ten_abc --limit 100\n  authz report orphans -o json > orphans.json",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			tenant := str(cmd, "tenant")
			return pages(cmd, func(p adminclient.Page) ([]legacykeys.Orphan, string, error) {
				return c.OrphansPage(cmd.Context(), tenant, p)
			}, []string{"KEY", "TENANT", "OWNER", "OWNER REF", "REFUSED WITH", "OWNER STATUS", "TENANT STATUS", "LAST USED", "IN USE (7D)"},
				func(o legacykeys.Orphan) []string {
					inUse := "no"
					if o.BrokenRecently {
						inUse = "yes"
					}
					return []string{o.KeyID, o.TenantID, o.OwnerID, o.OwnerRef, string(o.Code), o.OwnerStatus, o.TenantStatus, when(o.LastUsedAt), inUse}
				})
		},
	}
	orphans.Flags().String("tenant", "", "only this tenant")
	addPageFlags(orphans)

	expiring := &cobra.Command{
		Use:     "expiring",
		Short:   "Active keys that expire soon",
		Long:    "Active keys that expire within --within, soonest first. Without --limit or --after every one is listed, page by page; with them, one page.",
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
			tenant := str(cmd, "tenant")
			return pages(cmd, func(p adminclient.Page) ([]apiv1.LegacyKey, string, error) {
				return c.ExpiringPage(cmd.Context(), tenant, within, p)
			}, []string{"ID", "TENANT", "OWNER", "STATUS", "SOURCE", "SCOPES", "EXPIRES", "LAST USED", "USES"},
				func(k apiv1.LegacyKey) []string {
					return []string{k.ID, k.TenantID, k.OwnerID, k.Status, k.Source, join(k.Scopes), when(k.ExpiresAt), when(k.LastUsedAt), fmt.Sprint(k.UseCount)}
				})
		},
	}
	expiring.Flags().String("tenant", "", "only this tenant")
	expiring.Flags().String("within", "30d", "how far ahead to look")
	addPageFlags(expiring)

	cmd.AddCommand(migration, orphans, expiring)
	return cmd
}

// migrationHistory prints the daily counts by holder state.
func migrationHistory(cmd *cobra.Command, c *adminclient.Client, days int) error {
	rows, err := c.MigrationHistory(cmd.Context(), str(cmd, "tenant"), days)
	if err != nil {
		return err
	}
	return emit(cmd, map[string]any{"items": rows, "next": ""}, func(w *tabwriter.Writer) {
		head := []string{"DAY", "TENANT", "ACTIVE KEYS"}
		for _, s := range legacykeys.HolderStates() {
			head = append(head, upper(string(s)))
		}
		row(w, head...)
		for _, d := range rows {
			cells := []string{d.Day, d.TenantID, fmt.Sprint(d.ActiveKeys)}
			for _, s := range legacykeys.HolderStates() {
				cells = append(cells, fmt.Sprint(d.Holders[s]))
			}
			row(w, cells...)
		}
	})
}

// pages prints a paged report. With --limit or --after it is one page (and
// the cursor of the next); otherwise every page, each written as it
// arrives, so that a million rows never sit in memory or behind one
// request's deadline.
func pages[T any](cmd *cobra.Command, page func(adminclient.Page) ([]T, string, error), head []string, cells func(T) []string) error {
	p := pageOf(cmd)
	one := p.Limit > 0 || p.After != ""
	if !one {
		p.Limit = store.MaxLimit
	}
	out := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
	defer out.Flush()
	asJSON := jsonOutput(cmd)
	if asJSON {
		io.WriteString(out, "{\"items\": [")
	}
	n := 0
	for {
		items, next, err := page(p)
		if err != nil {
			return err
		}
		if asJSON {
			for _, it := range items {
				b, err := json.Marshal(it)
				if err != nil {
					return err
				}
				if n > 0 {
					io.WriteString(out, ",")
				}
				io.WriteString(out, "\n  ")
				out.Write(b)
				n++
			}
		} else {
			// One table per page: columns align within a page, and the
			// first rows show before the last page is fetched.
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			if n == 0 {
				row(w, head...)
			}
			for _, it := range items {
				row(w, cells(it)...)
				n++
			}
			if err := w.Flush(); err != nil {
				return err
			}
		}
		if one || next == "" || len(items) == 0 {
			if asJSON {
				if !one {
					next = ""
				}
				b, _ := json.Marshal(next)
				fmt.Fprintf(out, "\n], \"next\": %s}\n", b)
			} else if one {
				moreHint(cmd, next)
			}
			return out.Flush()
		}
		p.After = next
	}
}
