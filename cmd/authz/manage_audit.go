package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/authz/authz/adminclient"
	"github.com/authz/authz/audit"
)

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Read and verify the tamper-evident audit log",
		Long: "Every admin change and every token decision is an audit event, chained by hash so that an\n" +
			"event altered, deleted or moved in the database is detected by 'authz audit verify'.",
		Example: `  authz audit list --target principal:prn_abc
  authz audit list --outcome refused --error-code owner_suspended --since 24h
  authz audit verify
  authz audit export --until 90d --out audit-2026-09.jsonl
  authz audit prune --until 2026-09-07T00:00:00Z --anchor 3f1c...e9
  authz audit verify --segment audit-2026-09.jsonl`,
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
		Short: "Verify the audit hash chain (or an exported segment, offline); exits non-zero and names the first broken event",
		Long: `Walk the audit log from its anchor (the last event pruned, or the first event), recomputing every
hash, and compare its end with the chain head. Reports the first event that was altered, deleted or
reordered, and exits with status 1 if any. Record the head hash it prints somewhere else: a later
head that does not extend it means the log was rewritten.

With --segment FILE, verify a segment written by 'authz audit export' offline, with no server:
every line's hash is recomputed and linked, and the first line that departs is named. Pass the
hash export printed as --anchor to check that the segment still ends there (a cut end is
otherwise only detected against the header, which a forger could rewrite too).`,
		Example: `  authz audit verify
  authz audit verify --segment audit-2026-09.jsonl
  authz audit verify --segment audit-2026-09.jsonl --anchor 3f1c...e9`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file := str(cmd, "segment"); file != "" {
				return verifySegmentFile(cmd, file, str(cmd, "anchor"))
			}
			if str(cmd, "anchor") != "" {
				return usageErrorf(cmd, "--anchor goes with --segment: the segment must end at that hash")
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			rep, err := c.VerifyAudit(cmd.Context())
			if err != nil {
				return err
			}
			b := rep.FirstBreak
			var br *audit.Break
			if b != nil {
				br = &audit.Break{Seq: b.Seq, ID: b.ID, Problem: b.Problem, Detail: b.Detail}
			}
			return emitVerify(cmd, rep, audit.Report{Events: rep.Events, AnchorSeq: rep.AnchorSeq, AnchorHash: rep.AnchorHash,
				Head: rep.Head, HeadHash: rep.HeadHash, OK: rep.OK, FirstBreak: br}, "audit chain")
		},
	}
	verify.Flags().String("segment", "", "verify this file written by 'authz audit export', offline (no server needed)")
	verify.Flags().String("anchor", "", "with --segment: the last hash export printed; the segment must end there")

	export := &cobra.Command{
		Use:   "export",
		Short: "Write the audit events before a time to a JSONL segment and print its last hash",
		Long: `Write the audit events from the anchor up to the last event stamped before --until as JSONL: a
header line, then one event per line with its hash and the previous event's hash. The file is
verified before this command succeeds. It prints the segment's last hash and the 'authz audit
prune' command that deletes exactly this segment from the store.

Without --out the segment goes to standard output and the summary to standard error.`,
		Example: `  authz audit export --until 90d --out audit-2026-09.jsonl
  authz audit export --until 2026-09-07 > segment.jsonl`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if str(cmd, "until") == "" {
				return usageErrorf(cmd, "--until is required: export the events before this time (RFC 3339, a date, or a duration ago such as 90d)")
			}
			until, err := sinceOrUntil("until", str(cmd, "until"))
			if err != nil {
				return err
			}
			until = until.Truncate(time.Second) // printable exactly, for the prune command line
			if time.Since(until) < time.Minute {
				fmt.Fprintln(cmd.ErrOrStderr(), "note: --until is less than a minute ago: events stamped before it may still be being written, and the prune would then be refused (export again if so)")
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			return exportSegment(cmd, c, until, str(cmd, "out"))
		},
	}
	export.Flags().String("until", "", "export the events before this time: RFC 3339, a date, or a duration ago such as 90d (required)")
	export.Flags().String("out", "", "write the segment to this file (default: standard output); it is written whole or not at all")

	prune := &cobra.Command{
		Use:   "prune",
		Short: "Delete an exported segment from the store, keeping its last hash as the chain's anchor",
		Long: `Delete the audit events of the segment 'authz audit export --until T' wrote, provided --anchor is
the last hash export printed for it. The anchor moves to that event in one transaction, so that
'authz audit verify' starts there; then the events below it are deleted in short batches
(PostgreSQL drops whole days). A hash that does not match — the segment was not exported, or
events before T arrived since — is refused and nothing is deleted.`,
		Example: `  authz audit prune --until 2026-09-07T00:00:00Z --anchor 3f1c...e9`,
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if str(cmd, "until") == "" || str(cmd, "anchor") == "" {
				return usageErrorf(cmd, "--until and --anchor are both required: pass the until and the last hash that 'authz audit export' printed")
			}
			until, err := parseDate(str(cmd, "until"))
			if err != nil {
				return fmt.Errorf("--until %q: use the RFC 3339 time that 'authz audit export' printed (a duration would name another instant)", str(cmd, "until"))
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			res, err := c.PruneAudit(cmd.Context(), until, strings.TrimSpace(str(cmd, "anchor")))
			if err != nil {
				return err
			}
			return emit(cmd, res, func(w *tabwriter.Writer) {
				row(w, "anchor", fmt.Sprintf("%d %s", res.AnchorSeq, res.AnchorHash))
				row(w, "rows deleted", fmt.Sprint(res.RowsDeleted))
				row(w, "partitions dropped", fmt.Sprint(res.PartitionsDropped))
			})
		},
	}
	prune.Flags().String("until", "", "the until the segment was exported for, as export printed it (required)")
	prune.Flags().String("anchor", "", "the segment's last hash, as export printed it (required)")

	cmd.AddCommand(list, verify, export, prune)
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

// emitVerify prints a verification report and turns a break into the
// command's error.
func emitVerify(cmd *cobra.Command, v any, rep audit.Report, what string) error {
	err := emit(cmd, v, func(w *tabwriter.Writer) {
		row(w, "events checked", fmt.Sprint(rep.Events))
		if rep.AnchorSeq > 0 || rep.AnchorHash != "" {
			row(w, "anchor", fmt.Sprintf("%d %s", rep.AnchorSeq, rep.AnchorHash))
		}
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
		return fmt.Errorf("%s does not verify", what)
	}
	id := ""
	if b.ID != "" {
		id = " (" + b.ID + ")"
	}
	if b.Line > 0 {
		return fmt.Errorf("%s broken at line %d, event %d%s: %s: %s", what, b.Line, b.Seq, id, b.Problem, b.Detail)
	}
	return fmt.Errorf("%s broken at event %d%s: %s: %s", what, b.Seq, id, b.Problem, b.Detail)
}

// verifySegmentFile is 'authz audit verify --segment': offline.
func verifySegmentFile(cmd *cobra.Command, file, anchor string) error {
	f, err := os.Open(file)
	if err != nil {
		return fmt.Errorf("--segment: %w", err)
	}
	defer f.Close()
	rep, err := audit.VerifySegment(f)
	if err != nil {
		return fmt.Errorf("--segment %s: %w", file, err)
	}
	if err := emitVerify(cmd, rep, rep, "segment "+file); err != nil {
		return err
	}
	if anchor = strings.TrimSpace(anchor); anchor != "" && !strings.EqualFold(anchor, rep.HeadHash) {
		return fmt.Errorf("segment %s ends at event %d with hash %s, not at --anchor %s: events were cut from its end, or it is another segment",
			file, rep.Head, rep.HeadHash, anchor)
	}
	return nil
}

// exportSegment downloads the segment into a temporary file beside out
// (or in the temporary directory), verifies it, and moves it into place
// (or copies it to standard output): a segment that does not verify is
// never left where it could be taken for a good one.
func exportSegment(cmd *cobra.Command, c *adminclient.Client, until time.Time, out string) error {
	dir := os.TempDir()
	if out != "" {
		dir = filepath.Dir(out)
	}
	tmp, err := os.CreateTemp(dir, ".authz-audit-*.partial")
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	defer os.Remove(tmp.Name())
	err = c.ExportAudit(cmd.Context(), until, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	f, err := os.Open(tmp.Name())
	if err != nil {
		return err
	}
	rep, err := audit.VerifySegment(f)
	if err != nil {
		f.Close()
		return fmt.Errorf("the server's export is not a segment: %w", err)
	}
	if !rep.OK {
		f.Close()
		return fmt.Errorf("the downloaded segment does not verify (the download was cut short, or the log is broken): %s; nothing was written", rep.FirstBreak.Detail)
	}
	summary := cmd.OutOrStdout()
	if out == "" {
		summary = cmd.ErrOrStderr()
		if _, err := f.Seek(0, io.SeekStart); err == nil {
			_, err = io.Copy(cmd.OutOrStdout(), f)
		}
		f.Close()
		if err != nil {
			return err
		}
	} else {
		f.Close()
		if err := os.Rename(tmp.Name(), out); err != nil {
			return fmt.Errorf("--out: %w", err)
		}
		out = filepath.Clean(out)
	}
	seg := struct {
		File      string `json:"file,omitempty"`
		FirstSeq  int64  `json:"first_seq"`
		LastSeq   int64  `json:"last_seq"`
		Events    int64  `json:"events"`
		PrevHash  string `json:"prev_hash"`
		LastHash  string `json:"last_hash"`
		Until     string `json:"until"`
		PruneWith string `json:"prune_with"`
	}{out, rep.AnchorSeq + 1, rep.Head, rep.Events, rep.AnchorHash, rep.HeadHash, until.UTC().Format(time.RFC3339),
		fmt.Sprintf("authz audit prune --until %s --anchor %s", until.UTC().Format(time.RFC3339), rep.HeadHash)}
	if jsonOutput(cmd) {
		enc := json.NewEncoder(summary)
		enc.SetIndent("", "  ")
		return enc.Encode(seg)
	}
	where := "standard output"
	if out != "" {
		where = out
	}
	fmt.Fprintf(summary, "exported events %d to %d (%d) to %s\nlast hash: %s\nto delete them from the store: %s\n",
		seg.FirstSeq, seg.LastSeq, seg.Events, where, seg.LastHash, seg.PruneWith)
	return nil
}
