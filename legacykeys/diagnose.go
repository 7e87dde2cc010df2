package legacykeys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// Diagnosis inputs.
const (
	InputKeyID       = "key_id"
	InputIssuedKey   = "issued_key"
	InputImportedKey = "imported_key"
)

// RefusalWindow is how far back Diagnose counts refusals; LockoutWindow is
// how recent a key.lockout event must be to count as active.
const (
	RefusalWindow = 30 * 24 * time.Hour
	LockoutWindow = 15 * time.Minute
)

// Diagnosis is the whole diagnostic path of one key in one answer: what
// `authz key diagnose` prints. It never contains the key or its hash.
type Diagnosis struct {
	// Input is InputKeyID, InputIssuedKey or InputImportedKey.
	Input string `json:"input"`
	// FormatOK is false when the input is not a syntactically valid key;
	// Format then says what is wrong.
	FormatOK   bool         `json:"format_ok"`
	Format     string       `json:"format"`
	Found      bool         `json:"found"`
	Key        *KeySummary  `json:"key,omitempty"`
	Owner      *OwnerState  `json:"owner,omitempty"`
	Tenant     *TenantState `json:"tenant,omitempty"`
	LastUsedAt *time.Time   `json:"last_used_at,omitempty"`
	UseCount   int64        `json:"use_count"`
	// RecentRefusals counts refused exchanges of this key by error code
	// since RefusalsSince (from the audit log).
	RecentRefusals map[string]int64 `json:"recent_refusals"`
	RefusalsSince  time.Time        `json:"refusals_since"`
	// Lockout is set while a key.lockout event is less than LockoutWindow old.
	Lockout *Lockout `json:"lockout,omitempty"`
	// Verdict is the code Decide gives now (no tenant requested), or "ok".
	Verdict            string `json:"verdict"`
	VerdictDescription string `json:"verdict_description"`
	// Conflict is the open cross-tenant conflict the key is part of.
	Conflict *ConflictState `json:"conflict,omitempty"`
	// Remedy is one sentence saying what to do.
	Remedy    string    `json:"remedy"`
	CheckedAt time.Time `json:"checked_at"`
}

// KeySummary is a key as Diagnose shows it.
type KeySummary struct {
	ID          string     `json:"id"`
	TenantID    string     `json:"tenant_id"`
	OwnerID     string     `json:"owner_id,omitempty"`
	OwnerRef    string     `json:"owner_ref,omitempty"`
	Scopes      []string   `json:"scopes"`
	Label       string     `json:"label,omitempty"`
	Environment string     `json:"environment,omitempty"`
	Source      string     `json:"source"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at,omitempty"`
	Expired     bool       `json:"expired"`
	// ExpiresInDays is whole days until expiry (negative once expired).
	ExpiresInDays *int       `json:"expires_in_days,omitempty"`
	RevokedAt     *time.Time `json:"revoked_at,omitempty"`
	RevokedBy     string     `json:"revoked_by,omitempty"`
	RevokedReason string     `json:"revoked_reason,omitempty"`
	RotatedFrom   string     `json:"rotated_from,omitempty"`
}

// OwnerState is the key's owner and its latest status change.
type OwnerState struct {
	ID          string        `json:"id"`
	Exists      bool          `json:"exists"`
	Kind        string        `json:"kind,omitempty"`
	DisplayName string        `json:"display_name,omitempty"`
	ExternalID  string        `json:"external_id,omitempty"`
	Status      string        `json:"status,omitempty"`
	Change      *StatusChange `json:"status_change,omitempty"`
	// Source is set when an IdP governs the owner through SCIM.
	Source *OwnerSource `json:"source,omitempty"`
}

// TenantState is the key's tenant, its latest status change and sunset.
type TenantState struct {
	ID       string        `json:"id"`
	Exists   bool          `json:"exists"`
	Name     string        `json:"name,omitempty"`
	Status   string        `json:"status,omitempty"`
	Change   *StatusChange `json:"status_change,omitempty"`
	SunsetAt *time.Time    `json:"sunset_at,omitempty"`
	// SunsetDaysLeft is whole days until the sunset (negative after it).
	SunsetDaysLeft *int `json:"sunset_days_left,omitempty"`
}

// StatusChange is who changed a status and when: from the audit log when
// it has the event, else from the object's own record.
type StatusChange struct {
	Action    string    `json:"action,omitempty"`
	At        time.Time `json:"at"`
	By        string    `json:"by,omitempty"`
	RequestID string    `json:"request_id,omitempty"`
	// Reason is the reason the change was given (--reason), if any.
	Reason string `json:"reason,omitempty"`
	Source string `json:"source"` // "audit" or "record"
	// Via names who changed it for people when By is a SCIM token:
	// "Okta via SCIM".
	Via string `json:"via,omitempty"`
}

// Lockout is a recent lockout of the key by the token endpoint after
// repeated failed exchanges (a key.lockout audit event less than
// LockoutWindow old).
type Lockout struct {
	At        time.Time `json:"at"`
	RequestID string    `json:"request_id,omitempty"`
	// ClientAddr is the address whose failures locked the key.
	ClientAddr string `json:"client_addr,omitempty"`
}

// Diagnose explains one key, given as a key id or as the key itself.
func (s *Service) Diagnose(ctx context.Context, keyOrID string) (Diagnosis, error) {
	now := s.clock()
	d := Diagnosis{CheckedAt: now, RecentRefusals: map[string]int64{}, RefusalsSince: now.Add(-RefusalWindow)}
	var k store.LegacyKey
	var found bool
	var err error
	looksLikeID := store.HasPrefix(keyOrID, store.PrefixKey)
	if looksLikeID {
		k, found, err = s.keyBy(ctx, func() (store.LegacyKey, error) { return s.st.GetLegacyKey(ctx, keyOrID) })
		if err != nil {
			return Diagnosis{}, err
		}
		d.Input, d.FormatOK, d.Format = InputKeyID, true, "a key id"
	}
	if !found {
		// Not a known id: it may still be a key (an old system's key can
		// look like anything).
		p, perr := Parse(keyOrID)
		switch {
		case perr != nil && looksLikeID:
		case perr != nil:
			e := errcode.Normalize(perr)
			d.Input = InputImportedKey
			if strings.HasPrefix(keyOrID, Prefix) {
				d.Input = InputIssuedKey
			}
			d.Format = e.Text()
			d.Verdict, d.VerdictDescription = string(e.Code), e.Text()
			d.Remedy = fmt.Sprintf("The key is not syntactically valid (%s); ask the holder to copy the key again, whole.", strings.TrimSuffix(e.Text(), "."))
			return d, nil
		default:
			k, found, err = s.keyBy(ctx, func() (store.LegacyKey, error) { return s.st.GetLegacyKeyByHash(ctx, s.hasher.Hash(p.Raw)) })
			if err != nil {
				return Diagnosis{}, err
			}
			if found || !looksLikeID {
				d.FormatOK = true
				if p.Issued {
					d.Input, d.Format = InputIssuedKey, "a well-formed authz key with id "+p.ID
				} else {
					d.Input, d.Format = InputImportedKey, "a well-formed imported key"
				}
			}
		}
	}
	if !found {
		d.Verdict, d.VerdictDescription = string(errcode.KeyUnknown), errcode.Lookup(errcode.KeyUnknown).Remedy
		if d.Input == InputKeyID {
			d.Remedy = fmt.Sprintf("No key has id %s; check the id with `authz key list`.", keyOrID)
		} else {
			d.Remedy = "No key with this value is stored; check that the holder sends the key they were given, and if it comes from the old system, import it with `authz key import`."
		}
		return d, nil
	}
	d.Found = true
	d.Key = summarize(k, now)
	d.LastUsedAt, d.UseCount = k.LastUsedAt, k.UseCount

	f := Facts{Key: &k, Now: now}
	if k.OwnerID != "" {
		o, err := s.st.GetPrincipal(ctx, k.OwnerID)
		switch {
		case err == nil:
			f.Owner = &o
		case !errors.Is(err, store.ErrNotFound):
			return Diagnosis{}, fmt.Errorf("legacykeys: diagnose: get owner %s: %w", k.OwnerID, err)
		}
	}
	d.Owner = &OwnerState{ID: k.OwnerID}
	if f.Owner != nil {
		o := f.Owner
		d.Owner = &OwnerState{ID: o.ID, Exists: true, Kind: string(o.Kind), DisplayName: o.DisplayName, ExternalID: o.ExternalID, Status: string(o.Status)}
		if d.Owner.Change, err = s.statusChange(ctx, "principal:"+o.ID, "principal.", o.StatusChangedAt, o.StatusChangedBy); err != nil {
			return Diagnosis{}, err
		}
		if d.Owner.Source, err = ownerSource(ctx, s.st, o.ID, d.Owner.Change); err != nil {
			return Diagnosis{}, err
		}
	}
	t, err := s.st.GetTenant(ctx, k.TenantID)
	switch {
	case err == nil:
		f.Tenant = &t
		d.Tenant = &TenantState{ID: t.ID, Exists: true, Name: t.Name, Status: string(t.Status), SunsetAt: t.LegacySunsetAt}
		if t.LegacySunsetAt != nil {
			d.Tenant.SunsetDaysLeft = ptrTo(daysUntil(now, *t.LegacySunsetAt))
		}
		if d.Tenant.Change, err = s.statusChange(ctx, "tenant:"+t.ID, "tenant.", t.StatusChangedAt, t.StatusChangedBy); err != nil {
			return Diagnosis{}, err
		}
	case errors.Is(err, store.ErrNotFound):
		d.Tenant = &TenantState{ID: k.TenantID}
	default:
		return Diagnosis{}, fmt.Errorf("legacykeys: diagnose: get tenant %s: %w", k.TenantID, err)
	}

	since := d.RefusalsSince
	counts, err := s.st.CountAuditByCode(ctx, store.AuditFilter{Target: credential(k.ID), Outcome: "refused", Since: &since})
	if err != nil {
		return Diagnosis{}, fmt.Errorf("legacykeys: diagnose: count refusals: %w", err)
	}
	for code, n := range counts {
		d.RecentRefusals[code] = n
	}
	lockSince := now.Add(-LockoutWindow)
	locks, _, err := s.st.ListAudit(ctx, store.AuditFilter{Target: credential(k.ID), Action: ActionLockout, Since: &lockSince, Descending: true}, store.Page{Limit: 1})
	if err != nil {
		return Diagnosis{}, fmt.Errorf("legacykeys: diagnose: read lockouts: %w", err)
	}
	if len(locks) > 0 {
		d.Lockout = &Lockout{At: locks[0].Time, RequestID: locks[0].RequestID, ClientAddr: locks[0].ClientAddr}
	}

	// Also for a key revoked during the conflict: the conflict is still
	// open, and the administrator must see it.
	if d.Conflict, err = s.conflictOf(ctx, k.ID); err != nil {
		return Diagnosis{}, err
	}
	if e := Decide(f); e != nil {
		d.Verdict, d.VerdictDescription = string(e.Code), e.Text()
	} else {
		d.Verdict, d.VerdictDescription = "ok", "The key may be exchanged for a token."
	}
	d.Remedy = remedy(d, k)
	return d, nil
}

func (s *Service) keyBy(ctx context.Context, get func() (store.LegacyKey, error)) (store.LegacyKey, bool, error) {
	k, err := get()
	switch {
	case err == nil:
		return k, true, nil
	case errors.Is(err, store.ErrNotFound):
		return store.LegacyKey{}, false, nil
	}
	return store.LegacyKey{}, false, fmt.Errorf("legacykeys: diagnose: look up key: %w", err)
}

// statusChange finds the latest successful status change of target in the
// audit log (actions with the given prefix: suspend, resume, delete,
// create), falling back to what the object itself records.
func (s *Service) statusChange(ctx context.Context, target, prefix string, at time.Time, by string) (*StatusChange, error) {
	evs, _, err := s.st.ListAudit(ctx, store.AuditFilter{Target: target, Outcome: "success", Descending: true}, store.Page{Limit: 50})
	if err != nil {
		return nil, fmt.Errorf("legacykeys: diagnose: read audit of %s: %w", target, err)
	}
	for _, ev := range evs {
		switch strings.TrimPrefix(ev.Action, prefix) {
		case "suspend", "resume", "delete", "create":
			if strings.HasPrefix(ev.Action, prefix) {
				return &StatusChange{Action: ev.Action, At: ev.Time, By: ev.Actor, RequestID: ev.RequestID, Reason: reasonOf(ev.Details), Source: "audit"}, nil
			}
		}
	}
	if at.IsZero() {
		return nil, nil
	}
	return &StatusChange{At: at, By: by, Source: "record"}, nil
}

func summarize(k store.LegacyKey, now time.Time) *KeySummary {
	ks := &KeySummary{
		ID: k.ID, TenantID: k.TenantID, OwnerID: k.OwnerID, OwnerRef: k.OwnerRef, Scopes: k.Scopes,
		Label: k.Label, Environment: k.Environment, Source: k.Source, Status: string(k.Status),
		CreatedAt: k.CreatedAt, ExpiresAt: k.ExpiresAt, RevokedAt: k.RevokedAt, RevokedBy: k.RevokedBy,
		RevokedReason: k.RevokedReason, RotatedFrom: k.RotatedFrom,
	}
	if ks.Scopes == nil {
		ks.Scopes = []string{}
	}
	if k.ExpiresAt != nil {
		ks.Expired = !now.Before(*k.ExpiresAt)
		ks.ExpiresInDays = ptrTo(daysUntil(now, *k.ExpiresAt))
	}
	return ks
}

// daysUntil counts whole days from now to t, rounding towards now's side:
// 0 means less than a day either way.
func daysUntil(now, t time.Time) int {
	return int(math.Trunc(t.Sub(now).Hours() / 24))
}

// remedy is the one sentence `key diagnose` ends with.
func remedy(d Diagnosis, k store.LegacyKey) string {
	who := func(c *StatusChange) string {
		if c == nil {
			return ""
		}
		s := " at " + c.At.UTC().Format(time.RFC3339)
		switch {
		case c.Via != "":
			s = " by " + c.Via + s
		case c.By != "":
			s += " by " + c.By
		}
		if c.Reason != "" {
			s += fmt.Sprintf(" (reason: %q)", c.Reason)
		}
		return s
	}
	switch errcode.Code(d.Verdict) {
	case errcode.KeyConflict:
		id := ""
		if d.Conflict != nil {
			id = " (conflict " + d.Conflict.ID + ")"
		}
		return fmt.Sprintf("The key was imported by more than one tenant%s and is refused until an authz:admin decides whose it is: `authz key resolve-conflict %s --tenant T`.", id, k.ID)
	case errcode.KeyRevoked:
		reason := ""
		if k.RevokedReason != "" {
			reason = fmt.Sprintf(" (%q)", k.RevokedReason)
		}
		return fmt.Sprintf("The key was revoked%s by %s%s; issue the holder a new key (`authz key issue --owner %s`) or move them to client credentials.", at(k.RevokedAt), orUnknown(k.RevokedBy), reason, orPlaceholder(k.OwnerID))
	case errcode.KeyExpired:
		return fmt.Sprintf("The key expired%s; rotate it (`authz key rotate %s --overlap 24h`) or move the holder to client credentials.", at(k.ExpiresAt), k.ID)
	case errcode.OwnerDeleted:
		return fmt.Sprintf("The owner %s was deleted%s; reassign the key to an active principal (`authz key reassign %s --owner P`).", k.OwnerID, who(d.Owner.Change), k.ID)
	case errcode.OwnerNotFound:
		if k.OwnerID == "" || (d.Owner != nil && !d.Owner.Exists) {
			return fmt.Sprintf("The key's owner reference %q matches no principal of tenant %s; fix it with `authz key remap FILE` (old_external_id,new_principal) or `authz key reassign %s --owner P`.", orPlaceholder(firstNonEmpty(k.OwnerRef, k.OwnerID)), k.TenantID, k.ID)
		}
		return fmt.Sprintf("The key's owner %s is not a principal of the key's tenant %s; reassign the key (`authz key reassign %s --owner P`).", k.OwnerID, k.TenantID, k.ID)
	case errcode.OwnerSuspended:
		if src := d.Owner.Source; src != nil && d.Owner.Change != nil && d.Owner.Change.Via != "" {
			return fmt.Sprintf("The owner %s was suspended%s: the identity provider deactivated user %s; reactivate them there (authz follows it), or reassign the key (`authz key reassign %s --owner P`).", k.OwnerID, who(d.Owner.Change), src.UserName, k.ID)
		}
		return fmt.Sprintf("The owner %s was suspended%s; resume the owner (`authz principal resume %s`) if that was a mistake, or reassign the key.", k.OwnerID, who(d.Owner.Change), k.OwnerID)
	case errcode.TenantSuspended:
		if d.Tenant == nil || !d.Tenant.Exists {
			return fmt.Sprintf("The key's tenant %s does not exist; revoke the key (`authz key revoke %s --reason ...`).", k.TenantID, k.ID)
		}
		return fmt.Sprintf("The tenant %s was suspended%s; resume it (`authz tenant resume %s`) if that was a mistake.", k.TenantID, who(d.Tenant.Change), k.TenantID)
	case errcode.KeySunset:
		return fmt.Sprintf("Tenant %s stopped accepting legacy keys%s; move the holder to client credentials (`authz client create --tenant %s --owner %s`), or move the sunset with `authz tenant set-sunset`.", k.TenantID, at(d.Tenant.SunsetAt), k.TenantID, orPlaceholder(k.OwnerID))
	}
	if d.Lockout != nil {
		source := "one address"
		if d.Lockout.ClientAddr != "" {
			source = "the address " + d.Lockout.ClientAddr
		}
		return fmt.Sprintf("The key is valid; at %s %s was locked out of it after repeated failed exchanges (callers from other addresses are not affected); the lockout ends by itself within minutes, so find out who sends bad requests with it (`authz audit list --target key:%s`).", d.Lockout.At.UTC().Format(time.RFC3339), source, k.ID)
	}
	if n := totalRefusals(d.RecentRefusals); n > 0 {
		return fmt.Sprintf("The key is valid now; its %d recent refusals (%s) came from the request (tenant, scope) or from a state since fixed.", n, refusalList(d.RecentRefusals))
	}
	if d.Tenant != nil && d.Tenant.SunsetDaysLeft != nil {
		return fmt.Sprintf("The key is valid; tenant %s stops accepting legacy keys in %d days, so move the holder to client credentials before then.", k.TenantID, *d.Tenant.SunsetDaysLeft)
	}
	return "The key is valid; nothing to do."
}

func totalRefusals(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func refusalList(m map[string]int64) string {
	codes := make([]string, 0, len(m))
	for c := range m {
		codes = append(codes, c)
	}
	sort.Slice(codes, func(i, j int) bool {
		return m[codes[i]] > m[codes[j]] || m[codes[i]] == m[codes[j]] && codes[i] < codes[j]
	})
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%s ×%d", c, m[c])
	}
	return strings.Join(parts, ", ")
}

func orUnknown(s string) string {
	if s == "" {
		return "an unknown actor"
	}
	return s
}

func orPlaceholder(s string) string {
	if s == "" {
		return "P"
	}
	return s
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// reasonOf reads the "reason" member of a status change's audit details
// (see offboarding), "" if there is none.
func reasonOf(details json.RawMessage) string {
	if len(details) == 0 {
		return ""
	}
	var d struct {
		Reason string `json:"reason"`
	}
	if json.Unmarshal(details, &d) != nil {
		return ""
	}
	return d.Reason
}
