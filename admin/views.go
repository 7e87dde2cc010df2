package admin

import (
	"encoding/hex"
	"encoding/json"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/offboarding"
	"github.com/authz/authz/store"
)

// The views are the wire form of the store's objects. They are also what
// audit details are computed over, so a hash or a sealed key can never
// reach the audit log: the views do not have them.

func tenantView(t store.Tenant) apiv1.Tenant {
	return apiv1.Tenant{
		ID:              t.ID,
		Name:            t.Name,
		Status:          string(t.Status),
		LegacySunsetAt:  utcPtr(t.LegacySunsetAt),
		StatusChangedAt: optTime(t.StatusChangedAt),
		StatusChangedBy: t.StatusChangedBy,
		CreatedAt:       t.CreatedAt.UTC(),
		UpdatedAt:       t.UpdatedAt.UTC(),
	}
}

func principalView(p store.Principal) apiv1.Principal {
	return apiv1.Principal{
		ID:              p.ID,
		TenantID:        p.TenantID,
		Kind:            string(p.Kind),
		Name:            p.DisplayName,
		ExternalID:      p.ExternalID,
		Status:          string(p.Status),
		StatusChangedAt: optTime(p.StatusChangedAt),
		StatusChangedBy: p.StatusChangedBy,
		DeletedAt:       utcPtr(p.DeletedAt),
		DeletedBy:       p.DeletedBy,
		CreatedAt:       p.CreatedAt.UTC(),
		UpdatedAt:       p.UpdatedAt.UTC(),
	}
}

func roleView(r store.Role) apiv1.Role {
	return apiv1.Role{
		ID:          r.ID,
		TenantID:    r.TenantID,
		Name:        r.Name,
		Permissions: orEmpty(r.Permissions),
		CreatedAt:   r.CreatedAt.UTC(),
		UpdatedAt:   r.UpdatedAt.UTC(),
	}
}

func bindingID(principalID, roleID string) string { return principalID + ":" + roleID }

func bindingView(b store.Binding) apiv1.Binding {
	return apiv1.Binding{
		ID:          bindingID(b.PrincipalID, b.RoleID),
		PrincipalID: b.PrincipalID,
		RoleID:      b.RoleID,
		TenantID:    b.TenantID,
		CreatedAt:   b.CreatedAt.UTC(),
	}
}

func clientView(c store.Client) apiv1.Client {
	v := apiv1.Client{
		ID:                  c.ID,
		TenantID:            c.TenantID,
		OwnerID:             c.OwnerID,
		Name:                c.Name,
		AuthMethod:          c.AuthMethod,
		GrantTypes:          orEmpty(c.GrantTypes),
		Scopes:              orEmpty(c.Scopes),
		Audiences:           orEmpty(c.Audiences),
		AccessTokenLifetime: int64(c.AccessTokenTTL.Seconds()),
		JWKS:                c.JWKS,
		JWKSURI:             c.JWKSURI,
		Secrets:             []apiv1.SecretInfo{},
		Status:              string(c.Status),
		StatusChangedAt:     optTime(c.StatusChangedAt),
		StatusChangedBy:     c.StatusChangedBy,
		LastUsedAt:          utcPtr(c.LastUsedAt),
		CreatedAt:           c.CreatedAt.UTC(),
		UpdatedAt:           c.UpdatedAt.UTC(),
	}
	for _, s := range c.Secrets {
		v.Secrets = append(v.Secrets, apiv1.SecretInfo{ID: s.ID, CreatedAt: s.CreatedAt.UTC(), ExpiresAt: utcPtr(s.ExpiresAt), LastUsedAt: utcPtr(s.LastUsedAt)})
	}
	return v
}

func keyView(k store.LegacyKey) apiv1.LegacyKey {
	return apiv1.LegacyKey{
		ID:            k.ID,
		TenantID:      k.TenantID,
		OwnerID:       k.OwnerID,
		OwnerRef:      k.OwnerRef,
		Scopes:        orEmpty(k.Scopes),
		Label:         k.Label,
		Environment:   k.Environment,
		Source:        k.Source,
		Status:        string(k.Status),
		CreatedAt:     k.CreatedAt.UTC(),
		ExpiresAt:     utcPtr(k.ExpiresAt),
		RevokedAt:     utcPtr(k.RevokedAt),
		RevokedBy:     k.RevokedBy,
		RevokedReason: k.RevokedReason,
		RotatedFrom:   k.RotatedFrom,
		LastUsedAt:    utcPtr(k.LastUsedAt),
		UseCount:      k.UseCount,
		UpdatedAt:     k.UpdatedAt.UTC(),
	}
}

func auditView(e store.AuditEvent) apiv1.AuditEvent {
	return apiv1.AuditEvent{
		ID:         e.ID,
		Seq:        e.Seq,
		Time:       e.Time.UTC(),
		Actor:      e.Actor,
		Action:     e.Action,
		Target:     e.Target,
		TenantID:   e.TenantID,
		Outcome:    e.Outcome,
		ErrorCode:  e.ErrorCode,
		RequestID:  e.RequestID,
		ClientAddr: e.ClientAddr,
		Details:    details(e.Details),
		PrevHash:   hex.EncodeToString(e.PrevHash),
		Hash:       hex.EncodeToString(e.Hash),
	}
}

// details passes the stored details through, unless they are not JSON (a
// row edited in the database): they are then quoted, so that listing the
// log still works and shows what is there.
func details(d []byte) json.RawMessage {
	if len(d) == 0 || json.Valid(d) {
		return d
	}
	q, _ := json.Marshal(string(d))
	return q
}

// PrincipalAuditView is the form of a principal in audit details, for
// offboarding.Config.View: the admin API's own view, so that changes made
// by the admin API and by SCIM read alike.
func PrincipalAuditView(p store.Principal) any { return principalView(p) }

func principalChangedView(out offboarding.Outcome, req apiv1.PrincipalStatusChange) apiv1.PrincipalChanged {
	v := apiv1.PrincipalChanged{Principal: principalView(out.After), DryRun: req.DryRun, Changed: out.Changed, Reason: req.Reason}
	im := out.Impact
	v.Impact = &apiv1.OffboardingImpact{
		Credentials: make([]apiv1.OwnedCredential, 0, len(im.Credentials)),
		ActiveKeys:  im.ActiveKeys, ActiveClients: im.ActiveClients, UsedRecently: im.UsedRecently,
		TokenWindow: im.TokenWindow, AsOf: im.AsOf,
	}
	for _, c := range im.Credentials {
		v.Impact.Credentials = append(v.Impact.Credentials, apiv1.OwnedCredential{
			Type: c.Type, ID: c.ID, Name: c.Name, Status: c.Status, LastUsedAt: c.LastUsedAt,
			Uses24h: c.Uses24h, OutstandingTokens: c.OutstandingTokens, UsedRecently: c.UsedRecently, Remedy: c.Remedy,
		})
	}
	return v
}
