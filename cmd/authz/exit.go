package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of every command (SPEC §5). This file is the one place that
// decides them: commands return errors, and exitCode maps them.
const (
	// exitOK: everything asked for was done.
	exitOK = 0
	// exitFailed: nothing was done (invalid values, server unreachable,
	// request refused, every input row rejected).
	exitFailed = 1
	// exitUsage: the command line itself is wrong (unknown command or
	// flag, missing argument); the usage is printed on stderr.
	exitUsage = 2
	// exitPartial: some input rows were rejected, the others applied.
	exitPartial = 3
)

// exitCodesHelp is what `authz --help` and the README say about exit codes.
const exitCodesHelp = `Exit codes, for every command:
  0  everything done
  1  nothing done: invalid values, server unreachable, request refused, every input row rejected
  2  usage error: unknown command or flag, missing argument (the usage is printed on stderr)
  3  some input rows rejected and the rest applied: the rejected rows are listed on stderr
     and, with -o json, in the JSON
--dry-run exits as the real run would.`

// usageError is a command line that cannot be run as given.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{cmd: cmd, err: fmt.Errorf(format, args...)}
}

// rowsError says that a command taking input rows had some or all of them
// rejected. The rejected rows themselves are already listed.
type rowsError struct {
	what     string // "key import"
	verb     string // "imported": what nothing was, when every row was rejected
	rows     int
	rejected int
	dryRun   bool
}

func (e *rowsError) Error() string {
	dry := ""
	if e.dryRun {
		dry = " (dry run: nothing was written)"
	}
	if e.all() {
		if e.rows == 1 {
			return fmt.Sprintf("%s: the only row was rejected; nothing was %s%s", e.what, e.verb, dry)
		}
		return fmt.Sprintf("%s: all %d rows rejected; nothing was %s%s", e.what, e.rows, e.verb, dry)
	}
	applied := "were applied"
	if e.dryRun {
		applied = "would be applied"
	}
	return fmt.Sprintf("%s: %d of %d rows rejected; the other %d %s%s", e.what, e.rejected, e.rows, e.rows-e.rejected, applied, dry)
}

func (e *rowsError) all() bool { return e.rejected >= e.rows }

// rowsOutcome is the error (and so the exit code) of a command that sent
// rows input rows of which rejected were refused: nil when none was.
func rowsOutcome(what, verb string, rows, rejected int, dryRun bool) error {
	if rejected == 0 {
		return nil
	}
	return &rowsError{what: what, verb: verb, rows: rows, rejected: rejected, dryRun: dryRun}
}

// exitCode maps what a command returned to its exit code.
func exitCode(err error) int {
	var ue *usageError
	var re *rowsError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &re) && !re.all():
		return exitPartial
	}
	return exitFailed
}

// reportExit prints err on stderr (with the usage for a usage error) and
// returns the exit code.
func reportExit(err error, stderr io.Writer) int {
	code := exitCode(err)
	if err == nil {
		return code
	}
	fmt.Fprintln(stderr, "authz:", err)
	var ue *usageError
	if errors.As(err, &ue) && ue.cmd != nil {
		fmt.Fprint(stderr, "\n"+ue.cmd.UsageString())
	}
	return code
}

// enforceUsage makes every command of the tree report command-line
// mistakes as usage errors: flag errors, wrong positional arguments, and
// unknown subcommands. Cobra would otherwise print the help of a command
// group given an unknown subcommand and succeed.
func enforceUsage(root *cobra.Command) {
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &usageError{cmd: c, err: err}
	})
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		switch {
		case c.HasSubCommands() && !c.Runnable():
			c.Args = cobra.ArbitraryArgs
			c.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) == 0 {
					return usageErrorf(cmd, "%s needs a subcommand", cmd.CommandPath())
				}
				msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
				if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
					msg += "; did you mean " + strings.Join(s, " or ") + "?"
				}
				return usageErrorf(cmd, "%s", msg)
			}
		case c.Args != nil:
			check := c.Args
			c.Args = func(cmd *cobra.Command, args []string) error {
				if err := check(cmd, args); err != nil {
					return &usageError{cmd: cmd, err: err}
				}
				return nil
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
