package adminclient

import (
	"context"
	"net/http"

	"github.com/authz/authz/admin/apiv1"
)

// AudienceFilter narrows ListAudiences: TenantID lists what that tenant
// may request (the audiences it owns and those shared with it).
type AudienceFilter struct {
	TenantID string
	Page
}

// CreateAudience registers a resource server for a tenant.
func (c *Client) CreateAudience(ctx context.Context, req apiv1.CreateAudience) (apiv1.Audience, error) {
	var out apiv1.Audience
	return out, c.do(ctx, http.MethodPost, "/audiences", nil, req, &out)
}

func (c *Client) ListAudiences(ctx context.Context, f AudienceFilter) (apiv1.List[apiv1.Audience], error) {
	q := f.query()
	set(q, "tenant_id", f.TenantID)
	var out apiv1.List[apiv1.Audience]
	return out, c.do(ctx, http.MethodGet, "/audiences", q, nil, &out)
}

func (c *Client) GetAudience(ctx context.Context, id string) (apiv1.Audience, error) {
	var out apiv1.Audience
	return out, c.do(ctx, http.MethodGet, "/audiences/"+pathID(id), nil, nil, &out)
}

func (c *Client) DeleteAudience(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/audiences/"+pathID(id), nil, nil, nil)
}

// ShareAudience lets tenantID's tokens name the audience too.
func (c *Client) ShareAudience(ctx context.Context, id, tenantID string) (apiv1.Audience, error) {
	var out apiv1.Audience
	return out, c.do(ctx, http.MethodPost, "/audiences/"+pathID(id)+"/share", nil, apiv1.ShareAudience{TenantID: tenantID}, &out)
}

// UnshareAudience stops tenantID's tokens from naming the audience.
func (c *Client) UnshareAudience(ctx context.Context, id, tenantID string) (apiv1.Audience, error) {
	var out apiv1.Audience
	return out, c.do(ctx, http.MethodPost, "/audiences/"+pathID(id)+"/unshare", nil, apiv1.ShareAudience{TenantID: tenantID}, &out)
}
