package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/termsafe"
)

// importBatch is how many rows one import or remap request carries, the
// most the server takes: each batch is one transaction, and on SQLite
// every commit rewrites the index pages the batch touched, so fewer,
// larger batches cost less per key (issue 19: 52 µs of CPU per key at
// 20,000 against 68 µs at 5,000, a million keys). The server gives these
// requests five minutes (admin importWriteTimeout), not its usual 30 s,
// so a large batch queued behind another on a loaded machine is not cut
// off.
const importBatch = 20000

// importInFlight is how many batches are uploaded at once: while the
// server writes one, it decodes and hashes the next, and this side parses
// the one after.
const importInFlight = 2

// importTimeout bounds one batch's request. It is longer than the
// client's default (30 s) and as long as the server's write timeout for
// import and remap batches, so that the client does not give up on a
// batch the server is still allowed to finish.
const importTimeout = 5 * time.Minute

func newKeyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "key",
		Short: "Manage legacy API keys: import, issue, revoke, rotate, reassign, diagnose",
		Long: "Manage legacy API keys, the credentials authz helps retire. Holders exchange a key for a token\n" +
			"(RFC 8693) while the key, its owner and its tenant are usable; every refusal names its cause.",
		Example: `  authz key import keys.csv --dry-run
  authz key diagnose key_abc
  authz key revoke key_abc --reason "leaked in a build log"`,
	}
	cmd.AddCommand(keyImportCmd(), keyRemapCmd(), keyIssueCmd(), keyListCmd(), keyRevokeCmd(), keyRotateCmd(), keyReassignCmd(), keyDiagnoseCmd(), keyResolveConflictCmd())
	return cmd
}

func keyImportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Import legacy keys from a CSV or JSONL file",
		Long: `Import legacy keys from the system being retired. FILE is CSV with a header, or JSONL (one
object per line), with the columns key or key_sha256 (hex SHA-256 when the old system kept only
hashes), owner_external_id or owner_id, tenant (a tenant id or a tenant's unique name), scopes
(space-separated), label, environment, created_at, expires_at (RFC 3339).

Owners are matched by external id within the tenant. Keys whose owner cannot be found are
imported anyway, as orphans: they are refused with owner_not_found and listed by
'authz report orphans' until 'authz key remap' or 'authz key reassign' fixes them.
Importing the same file twice is harmless: present keys are counted as already present.
A key that another tenant already holds is never taken over: both tenants' keys are refused with
key_conflict until an authz:admin runs 'authz key resolve-conflict' (docs/security.md).
The file is parsed here and uploaded in batches; with --dry-run nothing is written.

Exit status: 0 when every row was imported (or already present); 3 when some rows were rejected
and the others imported; 1 when every row was rejected or the import failed. Rejected rows are
listed on stderr as "line N: reason", and with -o json in "rejected". --dry-run exits the same way.`,
		Example: `  authz key import keys.csv --dry-run
  authz key import keys.csv
  authz key import export.jsonl -o json`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd, adminclient.WithHTTPClient(&http.Client{Timeout: importTimeout}))
			if err != nil {
				return err
			}
			dry, _ := cmd.Flags().GetBool("dry-run")
			total := apiv1.ImportSummary{Rejected: []apiv1.Rejection{}, DryRun: dry}
			var mu sync.Mutex
			batch := batches[apiv1.ImportRow]{inFlight: importInFlight, send: func(rows []apiv1.ImportRow) error {
				s, err := c.ImportKeys(cmd.Context(), rows, dry)
				if err != nil {
					return err
				}
				mu.Lock()
				defer mu.Unlock()
				total.Imported += s.Imported
				total.AlreadyPresent += s.AlreadyPresent
				total.Orphans += s.Orphans
				total.Rejected = append(total.Rejected, s.Rejected...)
				return nil
			}}
			err = readFileWithProgress(cmd, args[0], "importing", func(r io.Reader) error {
				return legacykeys.ParseImport(r, str(cmd, "format"), func(row legacykeys.ImportRow) error {
					row = hashForUpload(row)
					return batch.add(apiv1.ImportRow{
						Line: row.Line, Key: row.Key, KeySHA256: row.KeySHA256, OwnerExternalID: row.OwnerExternalID,
						OwnerID: row.OwnerID, Tenant: row.Tenant, Scopes: row.Scopes, Label: row.Label,
						Environment: row.Environment, CreatedAt: row.CreatedAt, ExpiresAt: row.ExpiresAt, Problem: row.Problem,
					})
				})
			})
			if err == nil {
				err = batch.flush()
			}
			if err != nil {
				return batch.failed("import "+args[0], err, dry, "imported", "importing again is safe")
			}
			// Batches upload side by side: list the rejections in file order.
			slices.SortFunc(total.Rejected, func(a, b apiv1.Rejection) int { return a.Line - b.Line })
			err = emit(cmd, total, func(w *tabwriter.Writer) {
				row(w, "imported", fmt.Sprint(total.Imported))
				row(w, "already present", fmt.Sprint(total.AlreadyPresent))
				row(w, "orphans", fmt.Sprint(total.Orphans))
				row(w, "rejected", fmt.Sprint(len(total.Rejected)))
				if dry {
					fmt.Fprintln(w, "dry run: nothing was written")
				}
			})
			if err != nil {
				return err
			}
			printRejections(cmd.ErrOrStderr(), total.Rejected)
			return rowsOutcome("key import", "imported", batch.rowsSent, len(total.Rejected), dry)
		},
	}
	cmd.Flags().Bool("dry-run", false, "check and count, write nothing")
	cmd.Flags().String("format", "", "csv or jsonl (default: from the first character of the file)")
	return cmd
}

// batches collects parsed rows and uploads them importBatch at a time,
// up to inFlight batches at once. send may then be called from several
// goroutines, one batch each; after the first error no batch is sent and
// flush returns it.
type batches[T any] struct {
	rows []T
	send func([]T) error
	// inFlight is how many batches may be uploading at once (0: one, in
	// file order; remap keeps that, since its rows may build on each
	// other).
	inFlight int

	started  bool
	slots    chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	firstErr error
	// rowsSent and batchesSent count what the server accepted, so that a
	// failure can say what was applied before it (guarded by mu).
	rowsSent, batchesSent int
}

// failed describes a failure of the whole command: what was applied
// before it (nothing, or the batches the server accepted), so that the
// message never claims what did not happen. It waits for the uploads
// still under way, so the count is final.
func (b *batches[T]) failed(what string, err error, dryRun bool, verb, again string) error {
	b.wg.Wait()
	b.mu.Lock()
	rows, sent := b.rowsSent, b.batchesSent
	b.mu.Unlock()
	if sent == 0 || dryRun {
		return fmt.Errorf("%s: %w (nothing was %s)", what, err, verb)
	}
	return fmt.Errorf("%s: %w (%d rows, in %d batches, were %s before the failure; %s)", what, err, rows, sent, verb, again)
}

func (b *batches[T]) add(row T) error {
	b.rows = append(b.rows, row)
	if len(b.rows) == importBatch {
		return b.dispatch()
	}
	return nil
}

func (b *batches[T]) err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.firstErr
}

// dispatch hands the collected rows to an upload of their own, waiting for
// a free slot.
func (b *batches[T]) dispatch() error {
	if !b.started {
		b.started = true
		b.slots = make(chan struct{}, max(b.inFlight, 1))
	}
	if err := b.err(); err != nil {
		return err
	}
	rows := b.rows
	b.rows = make([]T, 0, importBatch)
	if len(rows) == 0 {
		return nil
	}
	b.slots <- struct{}{}
	b.wg.Add(1)
	go func() {
		defer func() { <-b.slots; b.wg.Done() }()
		if b.err() != nil {
			return
		}
		err := b.send(rows)
		b.mu.Lock()
		defer b.mu.Unlock()
		if err != nil {
			if b.firstErr == nil {
				b.firstErr = err
			}
			return
		}
		b.rowsSent += len(rows)
		b.batchesSent++
	}()
	return nil
}

// flush uploads what is collected, if anything, and waits for every
// upload.
func (b *batches[T]) flush() error {
	err := b.dispatch()
	b.wg.Wait()
	if err != nil {
		return err
	}
	return b.err()
}

// hashForUpload replaces a plaintext imported key by its SHA-256 before it
// leaves the operator's machine: the server stores HMAC(pepper, SHA-256(key))
// either way, so the plaintext never needs to travel. Keys in authz's own
// issued format are sent as they are, because their id is embedded in them.
func hashForUpload(row legacykeys.ImportRow) legacykeys.ImportRow {
	if row.Problem != "" || row.Key == "" || strings.HasPrefix(row.Key, legacykeys.Prefix) {
		return row
	}
	if _, err := legacykeys.Parse(row.Key); err != nil {
		return row // the server rejects it with the reason and the line number
	}
	sum := sha256.Sum256([]byte(row.Key))
	row.KeySHA256, row.Key = hex.EncodeToString(sum[:]), ""
	return row
}

func keyRemapCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remap FILE",
		Short: "Give keys imported with a broken owner reference to the right principal",
		Long: `Repair owners after a broken migration. FILE is CSV with lines old_external_id,new_principal
(a header line is optional): every key of new_principal's tenant whose owner reference (or owner id)
is old_external_id is given to new_principal. new_principal is a principal id (prn_...) or the
external id of a principal in the keys' tenant, such as the new system's id of the holder. An
external id that principals of several tenants share, when the keys do not settle which tenant is
meant, is a rejected row that says so: give the principal id instead. Running it twice is harmless.

Exit status: 0 when every row was applied; 3 when some rows were rejected and the others applied;
1 when every row was rejected or the remap failed. Rejected rows are listed on stderr as
"line N: reason", and with -o json in "rejected". --dry-run exits the same way.`,
		Example: `  authz key remap remap.csv --dry-run
  authz key remap remap.csv
  printf 'old_external_id,new_principal\nu-1234,alice@example.com\n' > remap.csv   # by external id`,
		Args: exactArgs("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			dry, _ := cmd.Flags().GetBool("dry-run")
			total := apiv1.RemapSummary{Rejected: []apiv1.Rejection{}, DryRun: dry}
			batch := batches[apiv1.RemapRow]{send: func(rows []apiv1.RemapRow) error {
				s, err := c.RemapKeys(cmd.Context(), rows, dry)
				if err != nil {
					return err
				}
				total.Rows += s.Rows
				total.KeysRemapped += s.KeysRemapped
				total.Rejected = append(total.Rejected, s.Rejected...)
				return nil
			}}
			err = readFileWithProgress(cmd, args[0], "remapping", func(r io.Reader) error {
				return legacykeys.ParseRemap(r, func(row legacykeys.RemapRow) error {
					return batch.add(apiv1.RemapRow{Line: row.Line, OldExternalID: row.OldExternalID, NewPrincipal: row.NewPrincipal, Problem: row.Problem})
				})
			})
			if err == nil {
				err = batch.flush()
			}
			if err != nil {
				return batch.failed("remap "+args[0], err, dry, "remapped", "remapping again is safe")
			}
			err = emit(cmd, total, func(w *tabwriter.Writer) {
				row(w, "rows", fmt.Sprint(total.Rows))
				row(w, "keys remapped", fmt.Sprint(total.KeysRemapped))
				row(w, "rejected", fmt.Sprint(len(total.Rejected)))
				if dry {
					fmt.Fprintln(w, "dry run: nothing was written")
				}
			})
			if err != nil {
				return err
			}
			printRejections(cmd.ErrOrStderr(), total.Rejected)
			return rowsOutcome("key remap", "remapped", batch.rowsSent, len(total.Rejected), dry)
		},
	}
	cmd.Flags().Bool("dry-run", false, "check and count, write nothing")
	return cmd
}

// maxShownRejections bounds the rejected lines a table lists; -o json
// has them all.
const maxShownRejections = 50

func printRejections(w io.Writer, rs []apiv1.Rejection) {
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].Line < rs[j].Line })
	for i, r := range rs {
		if i == maxShownRejections {
			fmt.Fprintf(w, "  ... and %d more (-o json lists them all)\n", len(rs)-i)
			return
		}
		fmt.Fprintf(w, "  line %d: %s\n", r.Line, termsafe.Cell(r.Reason))
	}
}

// readFileWithProgress opens path and hands fn a reader of it, behind a
// progress bar on stderr when stderr is a terminal (never in scripts or
// logs, where it would be noise).
func readFileWithProgress(cmd *cobra.Command, path, what string, fn func(io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if st, ok := cmd.ErrOrStderr().(*os.File); ok && term.IsTerminal(int(st.Fd())) {
		if info, err := f.Stat(); err == nil {
			bar := progressbar.NewOptions64(info.Size(),
				progressbar.OptionSetWriter(st),
				progressbar.OptionSetDescription(what),
				progressbar.OptionShowBytes(true),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
			)
			defer bar.Finish()
			r = io.TeeReader(f, bar)
		}
	}
	return fn(r)
}

func keyIssueCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "issue --owner P",
		Short:   "Issue a new legacy key for a holder that cannot move to tokens yet; printed once",
		Example: `  authz key issue --owner prn_abc --scope invoices:read --expires-in 90d --label "nightly export"`,
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "owner"); err != nil {
				return err
			}
			req := apiv1.IssueKey{OwnerID: str(cmd, "owner"), Scopes: strs(cmd, "scope"), Label: str(cmd, "label"), Environment: str(cmd, "environment")}
			if s := str(cmd, "expires-in"); s != "" {
				d, err := parseDuration("expires-in", s)
				if err != nil {
					return err
				}
				req.ExpiresIn = int64(d.Seconds())
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			k, err := c.IssueKey(cmd.Context(), req)
			if err != nil {
				return err
			}
			return emitKeyWithSecret(cmd, k, k)
		},
	}
	cmd.Flags().String("owner", "", "principal the key acts for")
	cmd.Flags().StringArray("scope", nil, "allowed scope (repeat; none: whatever the owner's roles grant)")
	cmd.Flags().String("expires-in", "", "lifetime, e.g. 90d or 720h (default: never expires)")
	cmd.Flags().String("label", "", "what the key is for")
	cmd.Flags().String("environment", "", "e.g. production")
	return cmd
}

func keyListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List legacy keys",
		Example: `  authz key list --tenant ten_abc
  authz key list --owner prn_abc --status active
  authz key list --expiring-within 14d`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := adminclient.KeyFilter{TenantID: str(cmd, "tenant"), OwnerID: str(cmd, "owner"), Status: str(cmd, "status"), Page: pageOf(cmd)}
			if s := str(cmd, "expiring-within"); s != "" {
				d, err := parseDuration("expiring-within", s)
				if err != nil {
					return err
				}
				f.ExpiringWithin = d
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			l, err := c.ListKeys(cmd.Context(), f)
			if err != nil {
				return err
			}
			moreHint(cmd, l.Next)
			return emitKeys(cmd, l, l.Items...)
		},
	}
	cmd.Flags().String("tenant", "", "only this tenant")
	cmd.Flags().String("owner", "", "only keys of this principal")
	cmd.Flags().String("status", "", "only this status: active, revoked or conflicted")
	cmd.Flags().String("expiring-within", "", "only keys expiring within this long, e.g. 14d")
	addPageFlags(cmd)
	return cmd
}

func keyRevokeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "revoke ID --reason R",
		Short:   "Revoke a legacy key; exchanges are refused with key_revoked from now on",
		Example: `  authz key revoke key_abc --reason "leaked in a build log"`,
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "reason"); err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			k, err := c.RevokeKey(cmd.Context(), args[0], str(cmd, "reason"))
			if err != nil {
				return err
			}
			return emitKeys(cmd, k, k)
		},
	}
	cmd.Flags().String("reason", "", "why; recorded and shown by diagnose")
	return cmd
}

func keyRotateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "rotate ID --overlap D",
		Short:   "Replace a legacy key; the old one keeps working during the overlap",
		Example: "  authz key rotate key_abc --overlap 7d",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := parseDuration("overlap", str(cmd, "overlap"))
			if err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			k, err := c.RotateKey(cmd.Context(), args[0], &d)
			if err != nil {
				return err
			}
			if err := emitKeyWithSecret(cmd, k, k.LegacyKey); err != nil {
				return err
			}
			if !jsonOutput(cmd) {
				fmt.Fprintf(cmd.ErrOrStderr(), "the previous key %s works until %s\n", k.Previous.ID, orNever(k.Previous.ExpiresAt))
			}
			return nil
		},
	}
	cmd.Flags().String("overlap", "24h", "how long the previous key keeps working, e.g. 7d")
	return cmd
}

func keyReassignCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "reassign ID --owner P",
		Short:   "Give a legacy key to another principal of its tenant",
		Example: "  authz key reassign key_abc --owner prn_new",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "owner"); err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			k, err := c.ReassignKey(cmd.Context(), args[0], str(cmd, "owner"))
			if err != nil {
				return err
			}
			return emitKeys(cmd, k, k)
		},
	}
	cmd.Flags().String("owner", "", "the new owner")
	return cmd
}

func keyResolveConflictCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "resolve-conflict ID --tenant T",
		Short: "Decide which tenant a legacy key claimed by several tenants belongs to (authz:admin)",
		Long: `A legacy key imported by more than one tenant is "conflicted": every exchange of it is refused
with key_conflict, and the system administrators were alerted (audit action key.conflict in the
system tenant, webhook alert.key_conflict). 'authz key diagnose' run by an authz:admin lists the
claims: each tenant's key id, how it named the key (raw_key, sha256 or issued) and who imported it.

resolve-conflict keeps the claim of tenant T: its key row holds the key again, with the status it
had before the conflict, and exchanges succeed for T's owner. Every other claim is revoked, with a
reason that does not name T, and its outstanding tokens stop at the gateways. ID is the key id of
any claim of the conflict. Each tenant's audit log records what happened to its own claim.`,
		Example: `  authz key diagnose key_abc
  authz key resolve-conflict key_abc --tenant ten_rightful`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "tenant"); err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			res, err := c.ResolveKeyConflict(cmd.Context(), args[0], str(cmd, "tenant"))
			if err != nil {
				return err
			}
			return emit(cmd, res, func(w *tabwriter.Writer) {
				row(w, "conflict", res.ConflictID)
				row(w, "kept", fmt.Sprintf("%s (tenant %s, owner %s): %s", res.Winner.ID, res.Winner.TenantID, orDash(res.Winner.OwnerID), res.Winner.Status))
				for _, k := range res.Dropped {
					row(w, "dropped", fmt.Sprintf("%s (tenant %s): %s", k.ID, k.TenantID, k.Status))
				}
			})
		},
	}
	cmd.Flags().String("tenant", "", "the tenant whose claim of the key stands")
	return cmd
}

func keyDiagnoseCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "diagnose KEY_OR_ID",
		Short: "Explain a legacy key: its exact state and cause, its history, and the remedy",
		Long: `Explain why a legacy key works or not, in one answer: format, whether it exists, status, expiry,
owner and tenant status with who changed them and when, the tenant's sunset, last use, recent
refusals by code, an active lockout, the verdict and what to do. Give the key id, or the key
itself; "-" reads the key from standard input, which keeps it out of your shell history.`,
		Example: `  authz key diagnose key_abc
  printf '%s' "$API_KEY" | authz key diagnose -`,
		Args: exactArgs("KEY_OR_ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			in := args[0]
			if in == "-" {
				line, err := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if err != nil && !errors.Is(err, io.EOF) {
					return fmt.Errorf("read the key from standard input: %w", err)
				}
				in = strings.TrimRight(line, "\r\n")
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			d, err := c.DiagnoseKey(cmd.Context(), in)
			if err != nil {
				return err
			}
			if err := emit(cmd, d, func(w *tabwriter.Writer) { printDiagnosis(w, d) }); err != nil {
				return err
			}
			if !d.Found {
				// What is known is printed; a script must still learn that
				// there is no such key.
				return fmt.Errorf("key diagnose: no such key (%s)", d.Verdict)
			}
			return nil
		},
	}
}

func printDiagnosis(w io.Writer, d legacykeys.Diagnosis) {
	line := func(k, v string) { fmt.Fprintf(w, "%s:\t%s\n", k, termsafe.Cell(v)) }
	line("input", strings.ReplaceAll(d.Input, "_", " ")+" ("+d.Format+")")
	if !d.Found {
		line("found", "no")
	} else if k := d.Key; k != nil {
		line("key", fmt.Sprintf("%s, %s, %s, tenant %s", k.ID, k.Status, k.Source, k.TenantID))
		if k.Label != "" || k.Environment != "" {
			line("label", strings.TrimSpace(k.Label+" "+k.Environment))
		}
		exp := "never"
		if k.ExpiresAt != nil {
			exp = when(k.ExpiresAt)
			if k.ExpiresInDays != nil {
				exp += fmt.Sprintf(" (%s)", days(*k.ExpiresInDays))
			}
		}
		line("expires", exp)
		if k.RevokedAt != nil {
			line("revoked", fmt.Sprintf("%s by %s: %s", when(k.RevokedAt), k.RevokedBy, k.RevokedReason))
		}
	}
	if o := d.Owner; o != nil {
		v := o.ID
		switch {
		case !o.Exists && o.ID == "":
			v = "none (the import could not resolve " + orDash(d.Key.OwnerRef) + ")"
		case !o.Exists:
			v += ": does not exist"
		default:
			v += fmt.Sprintf(" (%s %q): %s", o.Kind, o.DisplayName, o.Status)
			v += changed(o.Change)
		}
		line("owner", v)
	}
	if t := d.Tenant; t != nil {
		v := t.ID
		if !t.Exists {
			v += ": does not exist"
		} else {
			v += fmt.Sprintf(" (%s): %s", t.Name, t.Status) + changed(t.Change)
		}
		line("tenant", v)
		if t.SunsetAt != nil {
			s := when(t.SunsetAt)
			if t.SunsetDaysLeft != nil {
				s += fmt.Sprintf(" (%s)", days(*t.SunsetDaysLeft))
			}
			line("legacy sunset", s)
		}
	}
	if d.Found {
		line("last used", fmt.Sprintf("%s (%d uses)", orNever(d.LastUsedAt), d.UseCount))
		var parts []string
		for code, n := range d.RecentRefusals {
			parts = append(parts, fmt.Sprintf("%s %d", code, n))
		}
		sort.Strings(parts)
		refusals := "none"
		if len(parts) > 0 {
			refusals = strings.Join(parts, ", ")
		}
		line("refusals", refusals+" since "+at(d.RefusalsSince))
	}
	if l := d.Lockout; l != nil {
		line("locked out", fmt.Sprintf("since %s after failures from %s", at(l.At), orDash(l.ClientAddr)))
	}
	if cf := d.Conflict; cf != nil {
		var parts []string
		for _, c := range cf.Claims {
			holder := ""
			if c.Holder {
				holder = ", holds the key"
			}
			parts = append(parts, fmt.Sprintf("%s in tenant %s (%s%s)", c.KeyID, c.TenantID, c.Proof, holder))
		}
		if cf.Hidden > 0 {
			parts = append(parts, fmt.Sprintf("and %d claim(s) of other tenants", cf.Hidden))
		}
		line("conflict", cf.ID+": "+strings.Join(parts, "; "))
	}
	line("verdict", d.Verdict+": "+d.VerdictDescription)
	line("remedy", d.Remedy)
}

func changed(c *legacykeys.StatusChange) string {
	if c == nil {
		return ""
	}
	s := " since " + at(c.At)
	switch {
	case c.Via != "":
		s = " by " + c.Via + " at " + at(c.At)
	case c.By != "":
		s += " by " + c.By
	}
	if c.Reason != "" {
		s += fmt.Sprintf(" (reason: %q)", c.Reason)
	}
	return s
}

func days(n int) string {
	switch {
	case n == 0:
		return "today"
	case n < 0:
		return fmt.Sprintf("%d days ago", -n)
	}
	return fmt.Sprintf("in %d days", n)
}

func orNever(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return when(t)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func emitKeys(cmd *cobra.Command, v any, ks ...apiv1.LegacyKey) error {
	return emit(cmd, v, func(w *tabwriter.Writer) {
		row(w, "ID", "TENANT", "OWNER", "STATUS", "SOURCE", "SCOPES", "EXPIRES", "LAST USED", "USES")
		for _, k := range ks {
			row(w, k.ID, k.TenantID, k.OwnerID, k.Status, k.Source, join(k.Scopes), when(k.ExpiresAt), when(k.LastUsedAt), fmt.Sprint(k.UseCount))
		}
	})
}

// emitKeyWithSecret prints a key just created, with its secret, and says on
// stderr that it will not be shown again.
func emitKeyWithSecret(cmd *cobra.Command, v any, k apiv1.LegacyKey) error {
	err := emit(cmd, v, func(w *tabwriter.Writer) {
		row(w, "KEY ID", "KEY", "OWNER", "SCOPES", "EXPIRES")
		row(w, k.ID, k.Key, k.OwnerID, join(k.Scopes), orNever(k.ExpiresAt))
	})
	if err == nil && !jsonOutput(cmd) {
		fmt.Fprintln(cmd.ErrOrStderr(), "store the key now: it is not shown again")
	}
	return err
}
