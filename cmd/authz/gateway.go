package main

import "github.com/spf13/cobra"

// addGatewayCommands adds `authz verify` and `authz gateway`.
func addGatewayCommands(root *cobra.Command) {}
