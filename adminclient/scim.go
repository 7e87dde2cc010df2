package adminclient

import (
	"context"
	"net/http"
	"net/url"

	"github.com/authz/authz/admin/apiv1"
)

// SCIM connectors (issue 20 §1).

// CreateSCIMToken creates a tenant's SCIM connector token; the token is in
// the answer's Token only.
func (c *Client) CreateSCIMToken(ctx context.Context, req apiv1.CreateSCIMToken) (apiv1.SCIMToken, error) {
	var out apiv1.SCIMToken
	return out, c.do(ctx, http.MethodPost, "/scim/tokens", nil, req, &out)
}

// ListSCIMTokens lists connector tokens ("" tenant: every tenant the
// caller sees).
func (c *Client) ListSCIMTokens(ctx context.Context, tenantID string, p Page) (apiv1.List[apiv1.SCIMToken], error) {
	q := p.query()
	set(q, "tenant_id", tenantID)
	var out apiv1.List[apiv1.SCIMToken]
	return out, c.do(ctx, http.MethodGet, "/scim/tokens", q, nil, &out)
}

// RevokeSCIMToken revokes a connector token.
func (c *Client) RevokeSCIMToken(ctx context.Context, id string) (apiv1.SCIMToken, error) {
	var out apiv1.SCIMToken
	return out, c.do(ctx, http.MethodPost, "/scim/tokens/"+pathID(id)+"/revoke", nil, nil, &out)
}

// MapSCIMGroup binds the members of the IdP group of that display name to
// a role (id or name), now and as the IdP adds members.
func (c *Client) MapSCIMGroup(ctx context.Context, req apiv1.CreateSCIMGroupMapping) (apiv1.SCIMGroupMapping, error) {
	var out apiv1.SCIMGroupMapping
	return out, c.do(ctx, http.MethodPost, "/scim/group-mappings", nil, req, &out)
}

// UnmapSCIMGroup removes the mapping of the tenant's IdP group to a role
// (id or name) and the bindings it made.
func (c *Client) UnmapSCIMGroup(ctx context.Context, tenantID, group, role string) (apiv1.SCIMGroupMapping, error) {
	q := url.Values{"group": {group}, "role": {role}}
	set(q, "tenant_id", tenantID)
	var out apiv1.SCIMGroupMapping
	return out, c.do(ctx, http.MethodDelete, "/scim/group-mappings", q, nil, &out)
}

// ListSCIMGroupMappings lists a tenant's group mappings.
func (c *Client) ListSCIMGroupMappings(ctx context.Context, tenantID string) (apiv1.List[apiv1.SCIMGroupMapping], error) {
	var out apiv1.List[apiv1.SCIMGroupMapping]
	return out, c.do(ctx, http.MethodGet, "/scim/group-mappings", tenantQuery(tenantID), nil, &out)
}
