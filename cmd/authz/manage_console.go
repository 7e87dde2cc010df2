package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newConsoleCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Web console sign-in",
		Long: "The web console (authz serve --console-addr, default 127.0.0.1:8082) is signed into with\n" +
			"one-time links: give the link to the person who acts as the principal.",
	}
	link := &cobra.Command{
		Use:   "link",
		Short: "Print a one-time sign-in URL of the web console for a principal",
		Long: "Print a one-time sign-in URL of the web console for a principal. The URL works once, until\n" +
			"it expires (--ttl, default 15 minutes); the server stores only a hash of its code, and the\n" +
			"sign-in is audited. The console then lets the person do what the principal's roles allow.",
		Example: `  authz console link --principal prn_abc
  authz console link --principal prn_abc --ttl 1h -o json`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "principal"); err != nil {
				return err
			}
			ttl, _ := cmd.Flags().GetDuration("ttl")
			if ttl < time.Second || ttl > 24*time.Hour {
				return usageErrorf(cmd, "--ttl %s: must be from 1s to 24h", ttl)
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			l, err := c.CreateConsoleLink(cmd.Context(), str(cmd, "principal"), ttl)
			if err != nil {
				return err
			}
			if jsonOutput(cmd) {
				return emit(cmd, l, nil)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "%s\n", l.URL)
			if err == nil {
				_, err = fmt.Fprintf(cmd.ErrOrStderr(), "one-time sign-in link for %s, valid until %s\n", l.PrincipalID, l.ExpiresAt.UTC().Format(time.RFC3339))
			}
			return err
		},
	}
	link.Flags().String("principal", "", "the principal (prn_...) the link signs in as")
	link.Flags().Duration("ttl", 15*time.Minute, "how long the link stays valid (at most 24h)")
	cmd.AddCommand(link)
	return cmd
}
