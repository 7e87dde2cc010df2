// Command authz is the single authz binary: the server, the admin command
// line, the verifying gateway and the proof tools (SPEC §5).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := reportExit(newRootCmd().ExecuteContext(ctx), os.Stderr)
	stop()
	os.Exit(code)
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "authz",
		Short:         "OAuth 2.0 token service that retires static API keys",
		Long:          "authz is an OAuth 2.0 token service that retires static API keys.\n\n" + exitCodesHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
		// Every flag has an AUTHZ_* environment twin (SPEC §5).
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnv(cmd)
		},
	}
	root.AddCommand(newServeCmd())
	addManagementCommands(root)
	addGatewayCommands(root)
	addProofCommands(root)
	annotateEnv(root)
	enforceUsage(root)
	return root
}

// envName returns the environment twin of a flag: --admin-addr → AUTHZ_ADMIN_ADDR.
func envName(flag string) string {
	return "AUTHZ_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag not given on the command line from its
// environment twin, so that the command line always wins.
func applyEnv(cmd *cobra.Command) error {
	var firstErr error
	set := func(f *pflag.Flag) {
		if f.Changed || firstErr != nil || f.Name == "help" {
			return
		}
		v, ok := os.LookupEnv(envName(f.Name))
		if !ok {
			return
		}
		if f.Value.Type() == "stringSlice" || f.Value.Type() == "stringArray" {
			for _, part := range strings.Split(v, ",") {
				if err := f.Value.Set(strings.TrimSpace(part)); err != nil {
					firstErr = fmt.Errorf("%s=%q: %w", envName(f.Name), v, err)
					return
				}
			}
			f.Changed = true
			return
		}
		if err := f.Value.Set(v); err != nil {
			firstErr = fmt.Errorf("%s=%q: %w", envName(f.Name), v, err)
			return
		}
		f.Changed = true
	}
	cmd.Flags().VisitAll(set)
	cmd.InheritedFlags().VisitAll(set)
	return firstErr
}

// annotateEnv adds "(env AUTHZ_X)" to every flag's help text.
func annotateEnv(cmd *cobra.Command) {
	note := func(f *pflag.Flag) {
		if f.Name == "help" || strings.Contains(f.Usage, "(env ") {
			return
		}
		f.Usage += " (env " + envName(f.Name) + ")"
	}
	cmd.LocalFlags().VisitAll(note)
	cmd.PersistentFlags().VisitAll(note)
	for _, c := range cmd.Commands() {
		annotateEnv(c)
	}
}
