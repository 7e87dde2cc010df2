package adminclient

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/authz/authz/admin/apiv1"
)

// Page selects a slice of a listing: at most Limit items (0: the server's
// default) after the cursor After (the Next of the previous page).
type Page struct {
	Limit int
	After string
}

func (p Page) query() url.Values {
	q := url.Values{}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	set(q, "after", p.After)
	return q
}

func set(q url.Values, k, v string) {
	if v != "" {
		q.Set(k, v)
	}
}

func pathID(id string) string { return url.PathEscape(id) }

func secondsPtr(d *time.Duration) *int64 {
	if d == nil {
		return nil
	}
	s := int64(d.Seconds())
	return &s
}

// Tenants

// TenantFilter narrows ListTenants.
type TenantFilter struct {
	Status string
	Page
}

func (c *Client) CreateTenant(ctx context.Context, name string) (apiv1.Tenant, error) {
	var out apiv1.Tenant
	return out, c.do(ctx, http.MethodPost, "/tenants", nil, apiv1.CreateTenant{Name: name}, &out)
}

func (c *Client) ListTenants(ctx context.Context, f TenantFilter) (apiv1.List[apiv1.Tenant], error) {
	q := f.query()
	set(q, "status", f.Status)
	var out apiv1.List[apiv1.Tenant]
	return out, c.do(ctx, http.MethodGet, "/tenants", q, nil, &out)
}

func (c *Client) GetTenant(ctx context.Context, id string) (apiv1.Tenant, error) {
	var out apiv1.Tenant
	return out, c.do(ctx, http.MethodGet, "/tenants/"+pathID(id), nil, nil, &out)
}

func (c *Client) SuspendTenant(ctx context.Context, id string) (apiv1.Tenant, error) {
	var out apiv1.Tenant
	return out, c.do(ctx, http.MethodPost, "/tenants/"+pathID(id)+"/suspend", nil, nil, &out)
}

func (c *Client) ResumeTenant(ctx context.Context, id string) (apiv1.Tenant, error) {
	var out apiv1.Tenant
	return out, c.do(ctx, http.MethodPost, "/tenants/"+pathID(id)+"/resume", nil, nil, &out)
}

// SetSunset sets the instant after which the tenant's legacy keys can no
// longer be exchanged.
func (c *Client) SetSunset(ctx context.Context, id string, at time.Time) (apiv1.Tenant, error) {
	var out apiv1.Tenant
	return out, c.do(ctx, http.MethodPut, "/tenants/"+pathID(id)+"/sunset", nil, apiv1.SetSunset{LegacySunsetAt: at}, &out)
}

func (c *Client) ClearSunset(ctx context.Context, id string) (apiv1.Tenant, error) {
	var out apiv1.Tenant
	return out, c.do(ctx, http.MethodDelete, "/tenants/"+pathID(id)+"/sunset", nil, nil, &out)
}

// Principals

// PrincipalFilter narrows ListPrincipals.
type PrincipalFilter struct {
	TenantID, Status, Kind, ExternalID string
	Page
}

func (c *Client) CreatePrincipal(ctx context.Context, req apiv1.CreatePrincipal) (apiv1.Principal, error) {
	var out apiv1.Principal
	return out, c.do(ctx, http.MethodPost, "/principals", nil, req, &out)
}

func (c *Client) ListPrincipals(ctx context.Context, f PrincipalFilter) (apiv1.List[apiv1.Principal], error) {
	q := f.query()
	set(q, "tenant_id", f.TenantID)
	set(q, "status", f.Status)
	set(q, "kind", f.Kind)
	set(q, "external_id", f.ExternalID)
	var out apiv1.List[apiv1.Principal]
	return out, c.do(ctx, http.MethodGet, "/principals", q, nil, &out)
}

func (c *Client) GetPrincipal(ctx context.Context, id string) (apiv1.Principal, error) {
	var out apiv1.Principal
	return out, c.do(ctx, http.MethodGet, "/principals/"+pathID(id), nil, nil, &out)
}

func (c *Client) SuspendPrincipal(ctx context.Context, id string) (apiv1.Principal, error) {
	var out apiv1.Principal
	return out, c.do(ctx, http.MethodPost, "/principals/"+pathID(id)+"/suspend", nil, nil, &out)
}

func (c *Client) ResumePrincipal(ctx context.Context, id string) (apiv1.Principal, error) {
	var out apiv1.Principal
	return out, c.do(ctx, http.MethodPost, "/principals/"+pathID(id)+"/resume", nil, nil, &out)
}

// DeletePrincipal deletes a principal; it remains as a tombstone, returned.
func (c *Client) DeletePrincipal(ctx context.Context, id string) (apiv1.Principal, error) {
	var out apiv1.Principal
	return out, c.do(ctx, http.MethodDelete, "/principals/"+pathID(id), nil, nil, &out)
}

// Roles and bindings

// RoleFilter narrows ListRoles.
type RoleFilter struct {
	TenantID string
	Page
}

// BindingFilter narrows ListBindings.
type BindingFilter struct {
	TenantID, PrincipalID, RoleID string
	Page
}

func (c *Client) CreateRole(ctx context.Context, req apiv1.CreateRole) (apiv1.Role, error) {
	var out apiv1.Role
	return out, c.do(ctx, http.MethodPost, "/roles", nil, req, &out)
}

func (c *Client) ListRoles(ctx context.Context, f RoleFilter) (apiv1.List[apiv1.Role], error) {
	q := f.query()
	set(q, "tenant_id", f.TenantID)
	var out apiv1.List[apiv1.Role]
	return out, c.do(ctx, http.MethodGet, "/roles", q, nil, &out)
}

func (c *Client) GetRole(ctx context.Context, id string) (apiv1.Role, error) {
	var out apiv1.Role
	return out, c.do(ctx, http.MethodGet, "/roles/"+pathID(id), nil, nil, &out)
}

// SetPermissions replaces a role's permissions.
func (c *Client) SetPermissions(ctx context.Context, id string, permissions []string) (apiv1.Role, error) {
	var out apiv1.Role
	return out, c.do(ctx, http.MethodPatch, "/roles/"+pathID(id), nil, apiv1.UpdateRole{Permissions: permissions}, &out)
}

func (c *Client) DeleteRole(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/roles/"+pathID(id), nil, nil, nil)
}

// Bind grants the role to a principal of the role's tenant.
func (c *Client) Bind(ctx context.Context, roleID, principalID string) (apiv1.Binding, error) {
	var out apiv1.Binding
	return out, c.do(ctx, http.MethodPost, "/roles/"+pathID(roleID)+"/bindings", nil, apiv1.CreateBinding{PrincipalID: principalID}, &out)
}

func (c *Client) Unbind(ctx context.Context, roleID, principalID string) error {
	return c.do(ctx, http.MethodDelete, "/roles/"+pathID(roleID)+"/bindings/"+pathID(principalID), nil, nil, nil)
}

func (c *Client) ListBindings(ctx context.Context, f BindingFilter) (apiv1.List[apiv1.Binding], error) {
	q := f.query()
	set(q, "tenant_id", f.TenantID)
	set(q, "principal_id", f.PrincipalID)
	set(q, "role_id", f.RoleID)
	var out apiv1.List[apiv1.Binding]
	return out, c.do(ctx, http.MethodGet, "/bindings", q, nil, &out)
}

// Clients

// ClientFilter narrows ListClients.
type ClientFilter struct {
	TenantID, OwnerID, Status string
	Page
}

// CreateClient creates a client; the answer's ClientSecret is the secret,
// shown this once.
func (c *Client) CreateClient(ctx context.Context, req apiv1.CreateClient) (apiv1.Client, error) {
	var out apiv1.Client
	return out, c.do(ctx, http.MethodPost, "/clients", nil, req, &out)
}

func (c *Client) ListClients(ctx context.Context, f ClientFilter) (apiv1.List[apiv1.Client], error) {
	q := f.query()
	set(q, "tenant_id", f.TenantID)
	set(q, "owner_id", f.OwnerID)
	set(q, "status", f.Status)
	var out apiv1.List[apiv1.Client]
	return out, c.do(ctx, http.MethodGet, "/clients", q, nil, &out)
}

func (c *Client) GetClient(ctx context.Context, id string) (apiv1.Client, error) {
	var out apiv1.Client
	return out, c.do(ctx, http.MethodGet, "/clients/"+pathID(id), nil, nil, &out)
}

func (c *Client) UpdateClient(ctx context.Context, id string, req apiv1.UpdateClient) (apiv1.Client, error) {
	var out apiv1.Client
	return out, c.do(ctx, http.MethodPatch, "/clients/"+pathID(id), nil, req, &out)
}

// RotateSecret gives the client a new secret (in ClientSecret, shown this
// once); the previous one keeps working for overlap (nil: the server's
// default, a day).
func (c *Client) RotateSecret(ctx context.Context, id string, overlap *time.Duration) (apiv1.Client, error) {
	var out apiv1.Client
	return out, c.do(ctx, http.MethodPost, "/clients/"+pathID(id)+"/rotate-secret", nil, apiv1.Rotate{Overlap: secondsPtr(overlap)}, &out)
}

func (c *Client) SuspendClient(ctx context.Context, id string) (apiv1.Client, error) {
	var out apiv1.Client
	return out, c.do(ctx, http.MethodPost, "/clients/"+pathID(id)+"/suspend", nil, nil, &out)
}

func (c *Client) ResumeClient(ctx context.Context, id string) (apiv1.Client, error) {
	var out apiv1.Client
	return out, c.do(ctx, http.MethodPost, "/clients/"+pathID(id)+"/resume", nil, nil, &out)
}

func (c *Client) DeleteClient(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/clients/"+pathID(id), nil, nil, nil)
}

// Legacy keys

// KeyFilter narrows ListKeys. ExpiringWithin selects keys that expire
// within that long from now.
type KeyFilter struct {
	TenantID, OwnerID, Status string
	ExpiringWithin            time.Duration
	Page
}

// IssueKey issues a legacy key; the answer's Key is the key, shown this once.
func (c *Client) IssueKey(ctx context.Context, req apiv1.IssueKey) (apiv1.LegacyKey, error) {
	var out apiv1.LegacyKey
	return out, c.do(ctx, http.MethodPost, "/keys", nil, req, &out)
}

func (c *Client) ListKeys(ctx context.Context, f KeyFilter) (apiv1.List[apiv1.LegacyKey], error) {
	q := f.query()
	set(q, "tenant_id", f.TenantID)
	set(q, "owner_id", f.OwnerID)
	set(q, "status", f.Status)
	if f.ExpiringWithin > 0 {
		q.Set("expiring_within", strconv.FormatInt(int64(f.ExpiringWithin.Seconds()), 10))
	}
	var out apiv1.List[apiv1.LegacyKey]
	return out, c.do(ctx, http.MethodGet, "/keys", q, nil, &out)
}

func (c *Client) GetKey(ctx context.Context, id string) (apiv1.LegacyKey, error) {
	var out apiv1.LegacyKey
	return out, c.do(ctx, http.MethodGet, "/keys/"+pathID(id), nil, nil, &out)
}

func (c *Client) RevokeKey(ctx context.Context, id, reason string) (apiv1.LegacyKey, error) {
	var out apiv1.LegacyKey
	return out, c.do(ctx, http.MethodPost, "/keys/"+pathID(id)+"/revoke", nil, apiv1.RevokeKey{Reason: reason}, &out)
}

// RotateKey issues a replacement key (its Key shown this once); the old one
// keeps working for overlap (nil: the server's default, a day).
func (c *Client) RotateKey(ctx context.Context, id string, overlap *time.Duration) (apiv1.RotatedKey, error) {
	var out apiv1.RotatedKey
	return out, c.do(ctx, http.MethodPost, "/keys/"+pathID(id)+"/rotate", nil, apiv1.Rotate{Overlap: secondsPtr(overlap)}, &out)
}

func (c *Client) ReassignKey(ctx context.Context, id, ownerID string) (apiv1.LegacyKey, error) {
	var out apiv1.LegacyKey
	return out, c.do(ctx, http.MethodPost, "/keys/"+pathID(id)+"/reassign", nil, apiv1.ReassignKey{OwnerID: ownerID}, &out)
}

// ImportKeys uploads one batch of parsed import rows.
func (c *Client) ImportKeys(ctx context.Context, rows []apiv1.ImportRow, dryRun bool) (apiv1.ImportSummary, error) {
	var out apiv1.ImportSummary
	return out, c.do(ctx, http.MethodPost, "/keys/import", nil, apiv1.ImportKeys{Rows: rows, DryRun: dryRun}, &out)
}

// RemapKeys uploads one batch of parsed remap rows.
func (c *Client) RemapKeys(ctx context.Context, rows []apiv1.RemapRow, dryRun bool) (apiv1.RemapSummary, error) {
	var out apiv1.RemapSummary
	return out, c.do(ctx, http.MethodPost, "/keys/remap", nil, apiv1.RemapKeys{Rows: rows, DryRun: dryRun}, &out)
}

// Signing keys

func (c *Client) ListSigningKeys(ctx context.Context) (apiv1.List[apiv1.SigningKey], error) {
	var out apiv1.List[apiv1.SigningKey]
	return out, c.do(ctx, http.MethodGet, "/signing-keys", nil, nil, &out)
}

// RotateSigningKey makes the next signing key current; it returns the new
// current key.
func (c *Client) RotateSigningKey(ctx context.Context) (apiv1.SigningKey, error) {
	var out apiv1.SigningKey
	return out, c.do(ctx, http.MethodPost, "/signing-keys/rotate", nil, nil, &out)
}

// WithdrawSigningKey removes a signing key from the JWKS at once.
func (c *Client) WithdrawSigningKey(ctx context.Context, kid string) error {
	return c.do(ctx, http.MethodPost, "/signing-keys/"+pathID(kid)+"/withdraw", nil, nil, nil)
}

// Audit

// AuditFilter narrows ListAudit. The newest events come first unless
// Ascending.
type AuditFilter struct {
	TenantID, Actor, Target, Action, Outcome, ErrorCode string
	Since, Until                                        time.Time
	Ascending                                           bool
	Page
}

func (c *Client) ListAudit(ctx context.Context, f AuditFilter) (apiv1.List[apiv1.AuditEvent], error) {
	q := f.query()
	set(q, "tenant_id", f.TenantID)
	set(q, "actor", f.Actor)
	set(q, "target", f.Target)
	set(q, "action", f.Action)
	set(q, "outcome", f.Outcome)
	set(q, "error_code", f.ErrorCode)
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	if f.Ascending {
		q.Set("order", "asc")
	}
	var out apiv1.List[apiv1.AuditEvent]
	return out, c.do(ctx, http.MethodGet, "/audit/events", q, nil, &out)
}

// VerifyAudit has the server walk the audit hash chain.
func (c *Client) VerifyAudit(ctx context.Context) (apiv1.AuditReport, error) {
	var out apiv1.AuditReport
	return out, c.do(ctx, http.MethodGet, "/audit/verify", nil, nil, &out)
}

// ExportAudit writes to w the audit segment of the events before until
// (JSONL: a header line, then one event per line with its hashes). It
// does not check what it wrote: audit.VerifySegment does.
func (c *Client) ExportAudit(ctx context.Context, until time.Time, w io.Writer) error {
	q := url.Values{}
	q.Set("until", until.UTC().Format(time.RFC3339Nano))
	return c.do(withoutTimeout(ctx), http.MethodGet, "/audit/export", q, nil, w)
}

// PruneAudit deletes the exported segment for until whose last hash is
// anchor, keeping anchor as the chain's new beginning. Like ExportAudit
// it is bounded by ctx only: deleting a large segment takes long.
func (c *Client) PruneAudit(ctx context.Context, until time.Time, anchor string) (apiv1.AuditPruned, error) {
	var out apiv1.AuditPruned
	return out, c.do(withoutTimeout(ctx), http.MethodPost, "/audit/prune", nil, apiv1.AuditPrune{Until: until.UTC(), Anchor: anchor}, &out)
}

// ResolveKeyConflict gives a legacy key claimed by several tenants to the
// claim of tenantID (authz:admin only); keyID is any claim of the conflict.
func (c *Client) ResolveKeyConflict(ctx context.Context, keyID, tenantID string) (apiv1.KeyConflictResolution, error) {
	var out apiv1.KeyConflictResolution
	return out, c.do(ctx, http.MethodPost, "/keys/"+pathID(keyID)+"/resolve-conflict", nil, apiv1.ResolveKeyConflict{TenantID: tenantID}, &out)
}

// CreateConsoleLink makes a one-time web-console sign-in link for a
// principal; ttl 0 is the server's default (15 minutes).
func (c *Client) CreateConsoleLink(ctx context.Context, principalID string, ttl time.Duration) (apiv1.ConsoleLink, error) {
	var out apiv1.ConsoleLink
	return out, c.do(ctx, http.MethodPost, "/console/links", nil, apiv1.CreateConsoleLink{PrincipalID: principalID, TTL: int64(ttl / time.Second)}, &out)
}
