package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/policy"
	"github.com/authz/authz/store"
)

// KeyService is the part of *legacykeys.Service the admin API drives. The
// service commits each change with its audit event (and key.revoked
// webhook); the admin API decides who may ask for it.
type KeyService interface {
	Issue(ctx context.Context, req legacykeys.IssueRequest) (string, store.LegacyKey, error)
	Revoke(ctx context.Context, id, reason string) (store.LegacyKey, error)
	Rotate(ctx context.Context, id string, overlap time.Duration) (string, store.LegacyKey, store.LegacyKey, error)
	Reassign(ctx context.Context, id, newOwnerID string) (store.LegacyKey, error)
	Import(ctx context.Context, rows []legacykeys.ImportRow, dryRun bool) (legacykeys.ImportSummary, error)
	Remap(ctx context.Context, rows []legacykeys.RemapRow, dryRun bool) (legacykeys.RemapSummary, error)
	Diagnose(ctx context.Context, keyOrID string) (legacykeys.Diagnosis, error)
	ResolveConflict(ctx context.Context, keyID, winnerTenant string) (legacykeys.Resolution, error)
	MigrationReport(ctx context.Context, tenantID string) (legacykeys.MigrationReport, error)
	OrphansPage(ctx context.Context, tenantID string, page store.Page) ([]legacykeys.Orphan, string, error)
	ExpiringPage(ctx context.Context, tenantID string, within time.Duration, page store.Page) ([]store.LegacyKey, string, error)
	MigrationHistory(ctx context.Context, tenantID string, days int) ([]legacykeys.MigrationDay, error)
}

var errNoKeyService = errcode.New(errcode.Unavailable, "legacy keys are not managed by this admin API instance")

// maxImportRows bounds one import or remap batch; the CLI sends batches of
// a few thousand rows.
const maxImportRows = 20000

// importWriteTimeout replaces the server's write timeout (30 s) for an
// import or remap batch: a batch waits for the one writer behind the
// batch before it, and on a loaded machine a large batch took longer than
// 30 s and was cut off mid-import (issue 19). The CLI waits as long
// (cmd/authz importTimeout).
const importWriteTimeout = 5 * time.Minute

// extendWriteDeadline gives a bulk request importWriteTimeout to answer.
// A ResponseWriter without deadlines (a test recorder) keeps none.
func extendWriteDeadline(w http.ResponseWriter) {
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(importWriteTimeout))
}

// visibleKey returns the key if the caller sees its tenant, and not found
// otherwise.
func (h *handler) visibleKey(ctx context.Context, c *call, id string) (store.LegacyKey, error) {
	k, err := h.st.GetLegacyKey(ctx, id)
	if err != nil {
		return k, storeErr(err, "key", id, "")
	}
	if !c.owns(k.TenantID, k.OwnerID) {
		return k, notFound("key", id)
	}
	return k, nil
}

// visiblePrincipal returns the principal if the caller sees its tenant.
func (h *handler) visiblePrincipal(ctx context.Context, c *call, field, id string) (store.Principal, error) {
	if id == "" {
		return store.Principal{}, invalid(field, "required")
	}
	p, err := h.st.GetPrincipal(ctx, id)
	if err != nil {
		return p, storeErr(err, "principal", id, "")
	}
	if !c.sees(p.TenantID) {
		return p, notFound("principal", id)
	}
	return p, nil
}

func (h *handler) issueKey(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.keys == nil {
		return errNoKeyService
	}
	var req apiv1.IssueKey
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	ctx := r.Context()
	owner, err := h.visiblePrincipal(ctx, c, "owner_id", req.OwnerID)
	if err != nil {
		return err
	}
	scopes, err := checkGrants("scopes", req.Scopes, owner.TenantID)
	if err != nil {
		return err
	}
	expiresIn, err := seconds(req.ExpiresIn, "expires_in")
	if err != nil {
		return err
	}
	secret, k, err := h.keys.Issue(ctx, legacykeys.IssueRequest{OwnerID: owner.ID, Scopes: scopes, ExpiresIn: expiresIn, Label: req.Label, Environment: req.Environment})
	if err != nil {
		return err
	}
	v := keyView(k)
	v.Key = secret
	return reply(w, http.StatusCreated, v)
}

func (h *handler) listKeys(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	status, err := statusParam(r, store.StatusActive, store.StatusRevoked, store.StatusConflicted)
	if err != nil {
		return err
	}
	owner, ok := c.listOwner(q.Get("owner_id"))
	if !ok {
		return reply(w, http.StatusOK, list([]apiv1.LegacyKey(nil), ""))
	}
	f := store.LegacyKeyFilter{OwnerID: owner, Status: status}
	if s := q.Get("expiring_within"); s != "" {
		within, err := parseDuration("expiring_within", s)
		if err != nil {
			return err
		}
		before := h.stamp().Add(within)
		f.ExpiresBefore = &before
	}
	tenant, ok := c.listTenant(q.Get("tenant_id"))
	if !ok {
		return reply(w, http.StatusOK, list([]apiv1.LegacyKey(nil), ""))
	}
	f.TenantID = tenant
	ks, next, err := h.st.ListLegacyKeys(r.Context(), f, p)
	if err != nil {
		return err
	}
	items := make([]apiv1.LegacyKey, 0, len(ks))
	for _, k := range ks {
		items = append(items, keyView(k))
	}
	return reply(w, http.StatusOK, list(items, next))
}

func (h *handler) getKey(w http.ResponseWriter, r *http.Request, c *call) error {
	k, err := h.visibleKey(r.Context(), c, r.PathValue("id"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, keyView(k))
}

func (h *handler) revokeKey(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.keys == nil {
		return errNoKeyService
	}
	var req apiv1.RevokeKey
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	if err := checkName("reason", req.Reason, 500); err != nil {
		return err
	}
	if _, err := h.visibleKey(r.Context(), c, r.PathValue("id")); err != nil {
		return err
	}
	k, err := h.keys.Revoke(r.Context(), r.PathValue("id"), req.Reason)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, keyView(k))
}

func (h *handler) rotateKey(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.keys == nil {
		return errNoKeyService
	}
	var req apiv1.Rotate
	if err := decode(w, r, &req, maxBody, true); err != nil {
		return err
	}
	overlap := apiv1.DefaultOverlap
	if req.Overlap != nil {
		var err error
		if overlap, err = seconds(*req.Overlap, "overlap"); err != nil {
			return err
		}
	}
	if _, err := h.visibleKey(r.Context(), c, r.PathValue("id")); err != nil {
		return err
	}
	secret, fresh, old, err := h.keys.Rotate(r.Context(), r.PathValue("id"), overlap)
	if err != nil {
		return err
	}
	v := apiv1.RotatedKey{LegacyKey: keyView(fresh), Previous: keyView(old)}
	v.Key = secret
	return reply(w, http.StatusOK, v)
}

func (h *handler) reassignKey(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.keys == nil {
		return errNoKeyService
	}
	var req apiv1.ReassignKey
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	ctx := r.Context()
	k, err := h.visibleKey(ctx, c, r.PathValue("id"))
	if err != nil {
		return err
	}
	owner, err := h.visiblePrincipal(ctx, c, "owner_id", req.OwnerID)
	if err != nil {
		return err
	}
	if owner.TenantID != k.TenantID {
		return invalid("owner_id", "principal %s is in tenant %s, key %s in tenant %s; a key stays in its tenant", owner.ID, owner.TenantID, k.ID, k.TenantID)
	}
	k, err = h.keys.Reassign(ctx, k.ID, owner.ID)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, keyView(k))
}

func (h *handler) diagnoseKeyByID(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.keys == nil {
		return errNoKeyService
	}
	if _, err := h.visibleKey(r.Context(), c, r.PathValue("id")); err != nil {
		return err
	}
	d, err := h.keys.Diagnose(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, c.conflictView(d))
}

// conflictView leaves a tenant admin only its own tenant's claims of a
// conflicted key: it learns that the key is contested, not by whom.
func (c *call) conflictView(d legacykeys.Diagnosis) legacykeys.Diagnosis {
	if !c.global && d.Conflict != nil {
		d.Conflict = d.Conflict.OnlyTenant(c.tenant)
	}
	return d
}

// resolveKeyConflict gives a key claimed by several tenants to one of
// them (authz:admin only: the caller decides between tenants).
func (h *handler) resolveKeyConflict(w http.ResponseWriter, r *http.Request, _ *call) error {
	if h.keys == nil {
		return errNoKeyService
	}
	var req apiv1.ResolveKeyConflict
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	if req.TenantID == "" {
		return invalid("tenant_id", "required: the tenant whose claim of the key stands")
	}
	res, err := h.keys.ResolveConflict(r.Context(), r.PathValue("id"), req.TenantID)
	if err != nil {
		return err
	}
	out := apiv1.KeyConflictResolution{ConflictID: res.ConflictID, Winner: keyView(res.Winner), Dropped: []apiv1.LegacyKey{}}
	for _, k := range res.Dropped {
		out.Dropped = append(out.Dropped, keyView(k))
	}
	return reply(w, http.StatusOK, out)
}

func (h *handler) diagnoseKey(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.keys == nil {
		return errNoKeyService
	}
	var req apiv1.DiagnoseKey
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	if req.Key == "" {
		return invalid("key", "required: the API key (or key id) to diagnose")
	}
	d, err := h.keys.Diagnose(r.Context(), req.Key)
	if err != nil {
		return err
	}
	if d.Key != nil && !c.sees(d.Key.TenantID) {
		// The key is held in another tenant. If the caller's tenant
		// claimed it too, its claim is what the caller sees.
		mine := ""
		if d.Conflict != nil {
			for _, cl := range d.Conflict.Claims {
				if c.sees(cl.TenantID) {
					mine = cl.KeyID
				}
			}
		}
		if mine == "" {
			return reply(w, http.StatusOK, unknownKey(d, req.Key))
		}
		input, format := d.Input, d.Format
		if d, err = h.keys.Diagnose(r.Context(), mine); err != nil {
			return err
		}
		d.Input, d.Format = input, format
	}
	return reply(w, http.StatusOK, c.conflictView(d))
}

// unknownKey is the diagnosis of a key that does not exist, given in place
// of the diagnosis of another tenant's key so that a tenant admin learns
// nothing about it, not even that it exists.
func unknownKey(d legacykeys.Diagnosis, input string) legacykeys.Diagnosis {
	out := legacykeys.Diagnosis{
		Input:              d.Input,
		FormatOK:           d.FormatOK,
		Format:             d.Format,
		RecentRefusals:     map[string]int64{},
		RefusalsSince:      d.RefusalsSince,
		Verdict:            string(errcode.KeyUnknown),
		VerdictDescription: errcode.Lookup(errcode.KeyUnknown).Remedy,
		CheckedAt:          d.CheckedAt,
	}
	if d.Input == legacykeys.InputKeyID {
		out.Remedy = fmt.Sprintf("No key has id %s; check the id with `authz key list`.", input)
	} else {
		out.Remedy = "No key with this value is stored; check that the holder sends the key they were given, and if it comes from the old system, import it with `authz key import`."
	}
	return out
}

func (h *handler) importKeys(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.keys == nil {
		return errNoKeyService
	}
	extendWriteDeadline(w)
	var req apiv1.ImportKeys
	if err := decode(w, r, &req, maxImportBody, false); err != nil {
		return err
	}
	if len(req.Rows) > maxImportRows {
		return invalid("rows", "at most %d rows per request; send smaller batches", maxImportRows)
	}
	ctx := r.Context()
	hidden := h.hiddenPrincipals(ctx, c)
	ownName := ""
	if !c.global {
		own, err := h.st.GetTenant(ctx, c.tenant)
		if err != nil {
			return storeErr(err, "tenant", c.tenant, "")
		}
		ownName = own.Name
	}
	rows := make([]legacykeys.ImportRow, len(req.Rows))
	for i, row := range req.Rows {
		if !c.global {
			// A tenant admin imports into its own tenant only, named by id
			// or by name.
			switch row.Tenant {
			case "", c.tenant, ownName:
				row.Tenant = c.tenant
			default:
				return notFound("tenant", row.Tenant)
			}
			if row.Problem == "" && row.OwnerID != "" {
				bad, err := hidden(row.OwnerID)
				if err != nil {
					return err
				}
				if bad {
					row.Problem = fmt.Sprintf("owner_id: no principal %q in tenant %s", row.OwnerID, c.tenant)
				}
			}
		}
		if row.Problem == "" && row.Tenant != store.SystemTenantID && slices.Contains(row.Scopes, policy.PermAdmin) {
			row.Problem = fmt.Sprintf("scopes: %s can only be granted in the system tenant", policy.PermAdmin)
		}
		rows[i] = legacykeys.ImportRow{
			Line: row.Line, Key: row.Key, KeySHA256: row.KeySHA256,
			OwnerExternalID: row.OwnerExternalID, OwnerID: row.OwnerID, Tenant: row.Tenant,
			Scopes: row.Scopes, Label: row.Label, Environment: row.Environment,
			CreatedAt: row.CreatedAt, ExpiresAt: row.ExpiresAt, Problem: row.Problem,
		}
	}
	sum, err := h.keys.Import(ctx, rows, req.DryRun)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, apiv1.ImportSummary{
		Imported: sum.Imported, AlreadyPresent: sum.AlreadyPresent, Orphans: sum.Orphans,
		Rejected: rejections(sum.Rejected), DryRun: sum.DryRun,
	})
}

// hiddenPrincipals returns a memoised check of whether a principal id is
// one a tenant admin must not reference. A missing principal counts as
// hidden too: were only other tenants' principals refused, the difference
// would confirm that they exist.
func (h *handler) hiddenPrincipals(ctx context.Context, c *call) func(id string) (bool, error) {
	seen := map[string]bool{}
	return func(id string) (bool, error) {
		if c.global {
			return false, nil
		}
		if v, ok := seen[id]; ok {
			return v, nil
		}
		p, err := h.st.GetPrincipal(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			seen[id] = true
		case err != nil:
			return false, err
		default:
			seen[id] = !c.sees(p.TenantID)
		}
		return seen[id], nil
	}
}

func (h *handler) remapKeys(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.keys == nil {
		return errNoKeyService
	}
	extendWriteDeadline(w)
	var req apiv1.RemapKeys
	if err := decode(w, r, &req, maxImportBody, false); err != nil {
		return err
	}
	if len(req.Rows) > maxImportRows {
		return invalid("rows", "at most %d rows per request; send smaller batches", maxImportRows)
	}
	ctx := r.Context()
	rows := make([]legacykeys.RemapRow, len(req.Rows))
	for i, row := range req.Rows {
		rows[i] = legacykeys.RemapRow{Line: row.Line, OldExternalID: row.OldExternalID, NewPrincipal: row.NewPrincipal, Problem: row.Problem}
		if !c.global {
			// A tenant admin remaps within its tenant: new_principal is
			// looked for there only, and a principal of another tenant is
			// answered exactly as one that does not exist.
			rows[i].Tenant = c.tenant
		}
	}
	sum, err := h.keys.Remap(ctx, rows, req.DryRun)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, apiv1.RemapSummary{Rows: sum.Rows, KeysRemapped: sum.KeysRemapped, Rejected: rejections(sum.Rejected), DryRun: sum.DryRun})
}

func rejections(rs []legacykeys.Rejection) []apiv1.Rejection {
	out := make([]apiv1.Rejection, 0, len(rs))
	for _, r := range rs {
		out = append(out, apiv1.Rejection{Line: r.Line, Reason: r.Reason})
	}
	return out
}
