package admin

import "net/http"

// access is who may call a route.
type access int

const (
	// accessTenant: authz:admin, or authz:tenant-admin within its tenant.
	accessTenant access = iota
	// accessAdmin: authz:admin only (server-wide objects and decisions).
	accessAdmin
	// accessOwner: as accessTenant, and also a principal acting for itself
	// (Caller.Self) on the objects it owns.
	accessOwner
)

type route struct {
	Method string
	Path   string // under Prefix, in http.ServeMux pattern syntax
	Access access
	Handle func(h *handler, w http.ResponseWriter, r *http.Request, c *call) error
}

// routes is the admin API. The OpenAPI document must describe exactly
// these (TestOpenAPICoversRoutes), and the tenant-isolation test probes
// every one of them.
func routes() []route {
	return []route{
		{"POST", "/tenants", accessAdmin, (*handler).createTenant},
		{"GET", "/tenants", accessTenant, (*handler).listTenants},
		{"GET", "/tenants/{id}", accessTenant, (*handler).getTenant},
		{"POST", "/tenants/{id}/suspend", accessAdmin, (*handler).suspendTenant},
		{"POST", "/tenants/{id}/resume", accessAdmin, (*handler).resumeTenant},
		{"PUT", "/tenants/{id}/sunset", accessTenant, (*handler).setSunset},
		{"DELETE", "/tenants/{id}/sunset", accessTenant, (*handler).clearSunset},

		{"POST", "/principals", accessTenant, (*handler).createPrincipal},
		{"GET", "/principals", accessTenant, (*handler).listPrincipals},
		{"GET", "/principals/{id}", accessTenant, (*handler).getPrincipal},
		{"POST", "/principals/{id}/suspend", accessTenant, (*handler).suspendPrincipal},
		{"POST", "/principals/{id}/resume", accessTenant, (*handler).resumePrincipal},
		{"DELETE", "/principals/{id}", accessTenant, (*handler).deletePrincipal},

		{"POST", "/roles", accessTenant, (*handler).createRole},
		{"GET", "/roles", accessTenant, (*handler).listRoles},
		{"GET", "/roles/{id}", accessTenant, (*handler).getRole},
		{"PATCH", "/roles/{id}", accessTenant, (*handler).updateRole},
		{"DELETE", "/roles/{id}", accessTenant, (*handler).deleteRole},
		{"POST", "/roles/{id}/bindings", accessTenant, (*handler).bind},
		{"DELETE", "/roles/{id}/bindings/{principal_id}", accessTenant, (*handler).unbind},
		{"GET", "/bindings", accessTenant, (*handler).listBindings},

		{"POST", "/clients", accessOwner, (*handler).createClient},
		{"GET", "/clients", accessOwner, (*handler).listClients},
		{"GET", "/clients/{id}", accessOwner, (*handler).getClient},
		{"PATCH", "/clients/{id}", accessTenant, (*handler).updateClient},
		{"POST", "/clients/{id}/rotate-secret", accessOwner, (*handler).rotateSecret},
		{"POST", "/clients/{id}/suspend", accessTenant, (*handler).suspendClient},
		{"POST", "/clients/{id}/resume", accessTenant, (*handler).resumeClient},
		{"DELETE", "/clients/{id}", accessTenant, (*handler).deleteClient},

		{"POST", "/keys", accessTenant, (*handler).issueKey},
		{"GET", "/keys", accessOwner, (*handler).listKeys},
		{"GET", "/keys/{id}", accessOwner, (*handler).getKey},
		{"POST", "/keys/{id}/revoke", accessTenant, (*handler).revokeKey},
		{"POST", "/keys/{id}/rotate", accessTenant, (*handler).rotateKey},
		{"POST", "/keys/{id}/reassign", accessTenant, (*handler).reassignKey},
		{"GET", "/keys/{id}/diagnosis", accessOwner, (*handler).diagnoseKeyByID},
		{"POST", "/keys/diagnose", accessTenant, (*handler).diagnoseKey},
		{"POST", "/keys/import", accessTenant, (*handler).importKeys},
		{"POST", "/keys/remap", accessTenant, (*handler).remapKeys},
		{"POST", "/keys/{id}/resolve-conflict", accessAdmin, (*handler).resolveKeyConflict},

		{"POST", "/audiences", accessTenant, (*handler).createAudience},
		{"GET", "/audiences", accessTenant, (*handler).listAudiences},
		{"GET", "/audiences/{id}", accessTenant, (*handler).getAudience},
		{"DELETE", "/audiences/{id}", accessTenant, (*handler).deleteAudience},
		{"POST", "/audiences/{id}/share", accessTenant, (*handler).shareAudience},
		{"POST", "/audiences/{id}/unshare", accessTenant, (*handler).unshareAudience},

		{"GET", "/signing-keys", accessAdmin, (*handler).listSigningKeys},
		{"POST", "/signing-keys/rotate", accessAdmin, (*handler).rotateSigningKey},
		{"POST", "/signing-keys/{id}/withdraw", accessAdmin, (*handler).withdrawSigningKey},

		{"GET", "/audit/events", accessTenant, (*handler).listAudit},
		{"GET", "/audit/verify", accessAdmin, (*handler).verifyAudit},
		{"GET", "/audit/export", accessAdmin, (*handler).exportAudit},
		{"POST", "/audit/prune", accessAdmin, (*handler).pruneAudit},

		{"GET", "/reports/migration", accessTenant, (*handler).migrationReport},
		{"GET", "/reports/migration/history", accessTenant, (*handler).migrationHistory},
		{"GET", "/reports/orphans", accessTenant, (*handler).orphansReport},
		{"GET", "/reports/expiring", accessTenant, (*handler).expiringReport},

		// SCIM connectors (issue 20 §1).
		{"POST", "/scim/tokens", accessTenant, (*handler).createSCIMToken},
		{"GET", "/scim/tokens", accessTenant, (*handler).listSCIMTokens},
		{"POST", "/scim/tokens/{id}/revoke", accessTenant, (*handler).revokeSCIMToken},
		{"POST", "/scim/group-mappings", accessTenant, (*handler).createSCIMGroupMapping},
		{"GET", "/scim/group-mappings", accessTenant, (*handler).listSCIMGroupMappings},
		{"DELETE", "/scim/group-mappings", accessTenant, (*handler).deleteSCIMGroupMapping},
		{"POST", "/console/links", accessTenant, (*handler).createConsoleLink},
	}
}
