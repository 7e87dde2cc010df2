package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
)

// SCIM connectors (issue 20 §1): tokens for an IdP and group-to-role
// mappings.
func newSCIMCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scim",
		Short: "Connect an identity provider (Okta, Entra ID) over SCIM 2.0",
		Long: "Connect an identity provider over SCIM 2.0: the IdP then creates, deactivates and deletes the\n" +
			"tenant's users in authz. Give the IdP the tenant URL <public URL>/scim/v2 and a token from\n" +
			"`authz scim token create`; map IdP groups to roles with `authz scim map-group`.",
		Example: `  authz scim token create --tenant ten_abc --name Okta
  authz scim map-group --tenant ten_abc Engineering orders-reader
  authz scim unmap-group --tenant ten_abc Engineering orders-reader`,
	}
	token := &cobra.Command{Use: "token", Short: "Manage a tenant's SCIM bearer tokens"}

	create := &cobra.Command{
		Use:     "create",
		Short:   "Create a SCIM token (shown once)",
		Example: "  authz scim token create --tenant ten_abc --name Okta",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "tenant"); err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			t, err := c.CreateSCIMToken(cmd.Context(), apiv1.CreateSCIMToken{TenantID: str(cmd, "tenant"), Name: str(cmd, "name")})
			if err != nil {
				return err
			}
			if jsonOutput(cmd) {
				return emit(cmd, t, nil)
			}
			issuer, _ := cmd.Flags().GetString(flagIssuer)
			if issuer == "" {
				server, _ := cmd.Flags().GetString(flagServer)
				issuer = adminclient.DefaultIssuer(server)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "SCIM token %s (%s) for tenant %s. Paste into the IdP's provisioning settings:\n", t.ID, t.Name, t.TenantID)
			fmt.Fprintf(out, "  tenant URL:  %s/scim/v2\n", strings.TrimSuffix(issuer, "/"))
			fmt.Fprintf(out, "  token:       %s\n", t.Token)
			fmt.Fprintln(out, "The token is shown only now; authz keeps its hash. Revoke it with: authz scim token revoke "+t.ID)
			return nil
		},
	}
	create.Flags().String("tenant", "", "tenant id")
	create.Flags().String("name", "", "the IdP that holds the token, e.g. Okta (refusals and diagnoses name it)")

	list := &cobra.Command{
		Use:     "list",
		Short:   "List SCIM tokens",
		Example: "  authz scim token list --tenant ten_abc",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			l, err := c.ListSCIMTokens(cmd.Context(), str(cmd, "tenant"), pageOf(cmd))
			if err != nil {
				return err
			}
			moreHint(cmd, l.Next)
			return emitSCIMTokens(cmd, l, l.Items...)
		},
	}
	list.Flags().String("tenant", "", "only this tenant")
	addPageFlags(list)

	revoke := &cobra.Command{
		Use:     "revoke ID",
		Short:   "Revoke a SCIM token: the IdP's next request with it is refused",
		Example: "  authz scim token revoke sct_abc",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			t, err := c.RevokeSCIMToken(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return emitSCIMTokens(cmd, t, t)
		},
	}
	token.AddCommand(create, list, revoke)

	mapGroup := &cobra.Command{
		Use:   "map-group GROUP_DISPLAY_NAME ROLE",
		Short: "Bind the members of an IdP group to a role",
		Long: "Bind the members of the IdP group of that display name (case-insensitively) to the role (id or\n" +
			"name): its present members at once, later members as the IdP adds them. A member the IdP removes\n" +
			"loses the binding SCIM made (never one an operator made). Unmapped groups bind nothing.",
		Example: `  authz scim map-group --tenant ten_abc Engineering orders-reader`,
		Args:    exactArgs("GROUP_DISPLAY_NAME", "ROLE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "tenant"); err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			m, err := c.MapSCIMGroup(cmd.Context(), apiv1.CreateSCIMGroupMapping{TenantID: str(cmd, "tenant"), Group: args[0], Role: args[1]})
			if err != nil {
				return err
			}
			return emit(cmd, m, func(w *tabwriter.Writer) {
				row(w, "TENANT", "GROUP", "ROLE", "MEMBERS BOUND NOW")
				row(w, m.TenantID, m.Group, m.RoleID, fmt.Sprint(m.Bound))
			})
		},
	}
	mapGroup.Flags().String("tenant", "", "tenant id")

	unmapGroup := &cobra.Command{
		Use:   "unmap-group GROUP_DISPLAY_NAME ROLE",
		Short: "Remove a group's mapping to a role and the bindings it made",
		Long: "Remove the mapping of the IdP group of that display name (case-insensitively) to the role (id or\n" +
			"name), and the bindings SCIM made for it: each member loses the role unless another mapped group of\n" +
			"theirs gives it or an operator bound it.",
		Example: `  authz scim unmap-group --tenant ten_abc Engineering orders-reader`,
		Args:    exactArgs("GROUP_DISPLAY_NAME", "ROLE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := requireFlags(cmd, "tenant"); err != nil {
				return err
			}
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			m, err := c.UnmapSCIMGroup(cmd.Context(), str(cmd, "tenant"), args[0], args[1])
			if err != nil {
				return err
			}
			return emit(cmd, m, func(w *tabwriter.Writer) {
				row(w, "TENANT", "GROUP", "ROLE", "BINDINGS REMOVED")
				row(w, m.TenantID, m.Group, m.RoleID, fmt.Sprint(m.Unbound))
			})
		},
	}
	unmapGroup.Flags().String("tenant", "", "tenant id")
	cmd.AddCommand(token, mapGroup, unmapGroup)
	return cmd
}

func emitSCIMTokens(cmd *cobra.Command, v any, ts ...apiv1.SCIMToken) error {
	return emit(cmd, v, func(w *tabwriter.Writer) {
		row(w, "ID", "TENANT", "NAME", "CREATED", "BY", "LAST USED", "REVOKED")
		for _, t := range ts {
			row(w, t.ID, t.TenantID, t.Name, at(t.CreatedAt), t.CreatedBy, when(t.LastUsedAt), when(t.RevokedAt))
		}
	})
}

// principalShowCmd shows one principal with what governs it: its status,
// who changed it, and the SCIM source if an IdP governs it.
func principalShowCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "show ID",
		Short:   "Show a principal, its status and the identity provider that governs it",
		Example: "  authz principal show prn_abc",
		Args:    exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := admin(cmd)
			if err != nil {
				return err
			}
			p, err := c.GetPrincipal(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return emit(cmd, p, func(w *tabwriter.Writer) {
				row(w, "id:", p.ID)
				row(w, "tenant:", p.TenantID)
				row(w, "kind:", p.Kind)
				row(w, "name:", p.Name)
				row(w, "external id:", p.ExternalID)
				row(w, "status:", p.Status+" "+statusCause(p))
				if s := p.Source; s != nil {
					row(w, "source:", sourceText(s))
				}
			})
		},
	}
}

// statusCause says who set the status, naming the IdP for SCIM's changes
// ("suspended by Okta via SCIM at T").
func statusCause(p apiv1.Principal) string {
	if p.StatusChangedAt == nil || p.StatusChangedBy == "" {
		return ""
	}
	by := p.StatusChangedBy
	if p.Source != nil && by == "scim:"+p.Source.TokenID {
		name := p.Source.TokenName
		if name == "" {
			name = p.Source.TokenID
		}
		by = name + " via SCIM"
	}
	return "(by " + by + " at " + when(p.StatusChangedAt) + ")"
}

func sourceText(s *apiv1.PrincipalSource) string {
	name := s.TokenName
	if name == "" {
		name = "SCIM"
	}
	how := "created by " + name + " via SCIM token " + s.TokenID
	if s.LinkedBy != "" {
		how = "linked by " + name + " via SCIM token " + s.TokenID + " (its " + s.LinkedBy + " matched this external id)"
	}
	t := fmt.Sprintf("%s at %s; userName %s", how, at(s.LinkedAt), s.UserName)
	if s.ExternalID != "" {
		t += ", externalId " + s.ExternalID
	}
	if s.DeletedAt != nil {
		t += "; deleted in the IdP at " + when(s.DeletedAt)
	}
	return t
}
