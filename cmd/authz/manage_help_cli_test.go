package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryManagementCommandHasHelp: every management command, and each of
// its subcommands, explains itself and shows an example.
func TestEveryManagementCommandHasHelp(t *testing.T) {
	root := newRootCmd()
	managed := map[string]bool{"tenant": true, "principal": true, "role": true, "client": true, "key": true,
		"report": true, "audit": true, "signing-key": true, "token": true,
		"audience": true}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Short == "" {
			t.Errorf("%s has no short help", c.CommandPath())
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	found := 0
	for _, c := range root.Commands() {
		if managed[c.Name()] {
			found++
			walk(c)
		}
	}
	if found != len(managed) {
		t.Fatalf("found %d of the %d management commands", found, len(managed))
	}
}

// TestSpecCommandNames pins the command names of SPEC §5.
func TestSpecCommandNames(t *testing.T) {
	root := newRootCmd()
	for _, path := range []string{
		"tenant create", "tenant list", "tenant suspend", "tenant resume", "tenant set-sunset",
		"principal create", "principal list", "principal suspend", "principal resume", "principal delete",
		"role create", "role list", "role bind", "role unbind",
		"client create", "client list", "client rotate-secret", "client suspend", "client resume", "client delete",
		"key import", "key remap", "key issue", "key list", "key revoke", "key rotate", "key reassign", "key diagnose",
		"report migration", "report orphans", "report expiring",
		"audit list", "audit verify", "signing-key list", "signing-key rotate", "token",
		"audience create", "audience list", "audience delete",
		"scim token create", "scim token list", "scim token revoke", "scim map-group", "scim unmap-group", "principal show",
	} {
		c, rest, err := root.Find(strings.Fields(path))
		if err != nil || len(rest) != 0 || c.CommandPath() != "authz "+path {
			t.Errorf("authz %s: not a command (%v)", path, err)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"30d", "720h0m0s", true},
		{"36h", "36h0m0s", true},
		{"0s", "0s", true},
		{"-1h", "", false},
		{"soon", "", false},
		{"1.5d", "", false},
		{"999999999999d", "", false},
	}
	for _, tt := range tests {
		d, err := parseDuration("x", tt.in)
		if (err == nil) != tt.ok || (tt.ok && d.String() != tt.want) {
			t.Errorf("parseDuration(%q) = %v, %v; want %s ok=%v", tt.in, d, err, tt.want, tt.ok)
		}
	}
}
