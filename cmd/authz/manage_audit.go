package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/authz/authz/adminclient"
)

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read and verify the tamper-evident audit log",
		Long: "Every admin change and every token decision is an audit event, chained by hash so that an\n" +
			"event altered, deleted or moved in the database is detected by 'authz audit verify'.",
		Example: `  authz audit list --target principal:prn_abc
  authz audit list --outcome refused --error-code owner_suspended --since 24h
  authz audit verify`,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List audit events, newest first",
		Example: `  authz audit list
  authz audit list --action principal.suspend --since 2026-01-01
  authz audit list --actor admin:cli_abc --target client:cli_xyz -o json
  authz audit list --outcome refused --error-code key_revoked --since 1h`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := adminclient.AuditFilter{
				TenantID: str(cmd, "tenant"), Actor: str(cmd, "actor"), Target: str(cmd, "target"), Action: str(cmd, "action"),
				Outcome: str(cmd, "outcome"), ErrorCode: str(cmd, "error-code"), Page: pageOf(cmd),
			}
			f.Ascending, _ = cmd.Flags().GetBool("oldest-first")
			var err error
			if f.Since, err = sinceOrUntil("since", str(cmd, "since")); err != nil {
				return err
			}
			if f.Until, err = sinceOrUntil("until", str(cmd, "until")); err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			l, err := c.ListAudit(cmd.Context(), f)
			if err != nil {
				return err
			}
			moreHint(cmd, l.Next)
			return emit(cmd, l, func(w *tabwriter.Writer) {
				row(w, "SEQ", "TIME", "ACTOR", "ACTION", "TARGET", "OUTCOME", "ERROR CODE", "DETAILS")
				for _, e := range l.Items {
					row(w, fmt.Sprint(e.Seq), at(e.Time), e.Actor, e.Action, e.Target, e.Outcome, e.ErrorCode, oneLine(string(e.Details), 100))
				}
			})
		},
	}
	f := list.Flags()
	f.String("since", "", "from this time: RFC 3339, a date, or a duration ago such as 24h or 7d")
	f.String("until", "", "before this time (same forms)")
	f.String("actor", "", "only this actor, e.g. admin:cli_abc or client:cli_abc")
	f.String("target", "", "only this target, e.g. principal:prn_abc or key:key_abc")
	f.String("action", "", "only this action, e.g. principal.suspend or token.refuse")
	f.String("outcome", "", "only success or refused")
	f.String("error-code", "", "only refusals with this code, e.g. owner_suspended")
	f.String("tenant", "", "only this tenant")
	f.Bool("oldest-first", false, "oldest events first")
	addPageFlags(list)

	verify := &cobra.Command{
		Use:   "verify",
		Short: "Verify the audit hash chain; exits non-zero and names the first broken event",
		Long: `Walk the whole audit log, recomputing every hash, and compare its end with the chain head.
Reports the first event that was altered, deleted or reordered, and exits with status 1 if any.
Record the head hash it prints somewhere else: a later head that does not extend it means the log
was rewritten.`,
		Example: "  authz audit verify",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			rep, err := c.VerifyAudit(cmd.Context())
			if err != nil {
				return err
			}
			err = emit(cmd, rep, func(w *tabwriter.Writer) {
				row(w, "events checked", fmt.Sprint(rep.Events))
				row(w, "head", fmt.Sprintf("%d %s", rep.Head, rep.HeadHash))
				if rep.OK {
					row(w, "chain", "intact")
				}
			})
			if err != nil || rep.OK {
				return err
			}
			b := rep.FirstBreak
			if b == nil {
				return fmt.Errorf("audit chain does not verify")
			}
			id := ""
			if b.ID != "" {
				id = " (" + b.ID + ")"
			}
			return fmt.Errorf("audit chain broken at event %d%s: %s: %s", b.Seq, id, b.Problem, b.Detail)
		},
	}
	cmd.AddCommand(list, verify)
	return cmd
}

// sinceOrUntil reads an RFC 3339 time, a date, or a duration meaning that
// long ago.
func sinceOrUntil(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := parseDate(s); err == nil {
		return t, nil
	}
	if d, err := parseDuration(flag, s); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: use an RFC 3339 time, a date (2026-01-31) or a duration ago (24h, 7d)", flag, s)
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		return s[:max-3] + "..."
	}
	return s
}
