package scim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/authz/authz/store"
)

// userDoc is the part of a SCIM User authz keeps. Name and Emails are kept
// as the IdP sent them (an object, an array) and given back.
type userDoc struct {
	UserName    string
	ExternalID  string
	Active      *bool // nil: the request did not say
	DisplayName string
	Name        json.RawMessage
	Emails      json.RawMessage
}

// attrs is store.SCIMUser.Attributes. Active is the value the IdP pushed
// last, which decides whether active=true resumes (see applyActive).
type attrs struct {
	DisplayName string          `json:"displayName,omitempty"`
	Name        json.RawMessage `json:"name,omitempty"`
	Emails      json.RawMessage `json:"emails,omitempty"`
	Active      *bool           `json:"active,omitempty"`
}

func attrsOf(u store.SCIMUser) attrs {
	var a attrs
	_ = json.Unmarshal(u.Attributes, &a) // written by this package; an unreadable value is no attributes
	return a
}

func docOf(u store.SCIMUser) userDoc {
	a := attrsOf(u)
	return userDoc{UserName: u.UserName, ExternalID: u.ExternalID, Active: a.Active, DisplayName: a.DisplayName, Name: a.Name, Emails: a.Emails}
}

// parseUser reads a User for POST or PUT. Attributes authz does not keep
// (phoneNumbers, the enterprise extension's manager, ...) are accepted and
// ignored: a request that carries a deactivation must not fail on them.
func parseUser(body []byte) (userDoc, error) {
	m, err := object(body)
	if err != nil {
		return userDoc{}, err
	}
	var d userDoc
	for k, v := range m {
		if err := d.set("replace", strings.ToLower(k), "", v); err != nil {
			return userDoc{}, err
		}
	}
	if d.UserName == "" {
		return userDoc{}, badRequest(typeInvalidValue, "userName is required")
	}
	return d, nil
}

// set applies one attribute change: op add, replace or remove on attr
// (lower case) or its sub-attribute sub.
func (d *userDoc) set(op, attr, sub string, v json.RawMessage) error {
	switch attr {
	case "username":
		if op == "remove" {
			return badRequest(typeMutability, "userName is required and cannot be removed")
		}
		s, ok := stringValue(v)
		s = strings.TrimSpace(s)
		if !ok || s == "" || len(s) > 256 {
			return badRequest(typeInvalidValue, "userName must be a non-empty string of at most 256 bytes")
		}
		d.UserName = s
	case "externalid":
		if op == "remove" {
			d.ExternalID = ""
			return nil
		}
		s, ok := stringValue(v)
		if !ok || len(s) > 256 {
			return badRequest(typeInvalidValue, "externalId must be a string of at most 256 bytes")
		}
		d.ExternalID = s
	case "active":
		if op == "remove" {
			return nil
		}
		b, ok := boolValue(v)
		if !ok {
			return badRequest(typeInvalidValue, "active must be true or false (or \"True\"/\"False\")")
		}
		d.Active = &b
	case "displayname":
		if op == "remove" {
			d.DisplayName = ""
			return nil
		}
		s, ok := stringValue(v)
		if !ok {
			return badRequest(typeInvalidValue, "displayName must be a string")
		}
		d.DisplayName = s
	case "name":
		return d.setName(op, sub, v)
	case "emails":
		switch {
		case op == "remove":
			d.Emails = nil
		case sub != "":
			// emails.value and the like: a multi-valued attribute kept as
			// sent; its parts are not addressed.
		case isNull(v):
			d.Emails = nil
		case op == "add" && isArray(d.Emails) && isArray(v):
			var have, more []json.RawMessage
			_ = json.Unmarshal(d.Emails, &have)
			if json.Unmarshal(v, &more) != nil {
				return badRequest(typeInvalidValue, "emails must be an array")
			}
			d.Emails, _ = json.Marshal(append(have, more...))
		case isArray(v):
			d.Emails = compact(v)
		default:
			return badRequest(typeInvalidValue, "emails must be an array")
		}
	}
	return nil
}

func (d *userDoc) setName(op, sub string, v json.RawMessage) error {
	if sub == "" {
		switch {
		case op == "remove" || isNull(v):
			d.Name = nil
		case isObject(v):
			if op == "add" && isObject(d.Name) {
				// add merges into a complex attribute (RFC 7644 §3.5.2.1).
				var have, more map[string]json.RawMessage
				_ = json.Unmarshal(d.Name, &have)
				if json.Unmarshal(v, &more) != nil {
					return badRequest(typeInvalidValue, "name must be an object")
				}
				for k, x := range more {
					have[k] = x
				}
				d.Name, _ = json.Marshal(have)
				return nil
			}
			d.Name = compact(v)
		default:
			return badRequest(typeInvalidValue, "name must be an object")
		}
		return nil
	}
	have := map[string]json.RawMessage{}
	if isObject(d.Name) {
		_ = json.Unmarshal(d.Name, &have)
	}
	if op == "remove" {
		delete(have, sub)
	} else {
		have[sub] = compact(v)
	}
	d.Name, _ = json.Marshal(have)
	return nil
}

// compact re-encodes a JSON value without insignificant space (it is
// stored); an invalid value was refused by the decoder before.
func compact(v json.RawMessage) json.RawMessage {
	var x any
	if json.Unmarshal(v, &x) != nil {
		return nil
	}
	b, _ := json.Marshal(x)
	return b
}

// applyPatch applies a User PATCH to d. Paths into the enterprise
// extension and other schemas, and filtered paths into multi-valued
// attributes (emails[type eq "work"].value), are accepted and ignored.
func (d *userDoc) applyPatch(ops []patchOp) error {
	for _, op := range ops {
		if op.Path == nil {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(op.Value, &m); err != nil {
				return badRequest(typeInvalidValue, "a PATCH without a path needs an object of attributes")
			}
			for k, v := range m {
				// Entra ID sends "name.givenName" as a key of a path-less
				// value; an extension URN key holds attributes we ignore.
				if strings.HasPrefix(strings.ToLower(k), "urn:") {
					continue
				}
				attr, sub, _ := strings.Cut(strings.ToLower(k), ".")
				if err := d.set(op.Op, attr, sub, v); err != nil {
					return err
				}
			}
			continue
		}
		p := op.Path.AttributePath
		if p.URIPrefix != nil && !strings.EqualFold(*p.URIPrefix, schemaUser) {
			continue
		}
		if op.Path.ValueExpression != nil {
			continue
		}
		sub := strings.ToLower(p.SubAttributeName())
		if err := d.set(op.Op, strings.ToLower(p.AttributeName), sub, op.Value); err != nil {
			return err
		}
	}
	return nil
}

// userOut is a User resource as authz answers it.
type userOut struct {
	Schemas     []string        `json:"schemas"`
	ID          string          `json:"id"`
	ExternalID  string          `json:"externalId,omitempty"`
	UserName    string          `json:"userName"`
	DisplayName string          `json:"displayName,omitempty"`
	Name        json.RawMessage `json:"name,omitempty"`
	Emails      json.RawMessage `json:"emails,omitempty"`
	Active      bool            `json:"active"`
	Meta        meta            `json:"meta"`
}

func (h *handler) userOut(u store.SCIMUser) userOut {
	a := attrsOf(u)
	return userOut{
		Schemas: []string{schemaUser}, ID: u.PrincipalID, ExternalID: u.ExternalID, UserName: u.UserName,
		DisplayName: a.DisplayName, Name: a.Name, Emails: a.Emails,
		// active is authz's truth: a principal an operator suspended is
		// inactive whatever the IdP pushed.
		Active: u.Principal.Status == store.StatusActive,
		Meta:   meta{ResourceType: "User", Created: u.CreatedAt, LastModified: later(u.UpdatedAt, u.Principal.UpdatedAt), Location: h.base + "/Users/" + u.PrincipalID},
	}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// live returns the tenant's SCIM user of that id, or 404 for one that does
// not exist, is another tenant's or was deleted (by the IdP or by an
// operator).
func live(ctx context.Context, q store.Queries, c caller, id string) (store.SCIMUser, error) {
	u, err := q.GetSCIMUser(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return u, notFound("User", id)
	case err != nil:
		return u, err
	case u.TenantID != c.token.TenantID || u.DeletedAt != nil || u.Principal.Status == store.StatusDeleted:
		return u, notFound("User", id)
	}
	return u, nil
}

func (h *handler) listUsers(r *http.Request, c caller) (reply, error) {
	q, err := parseFilter(r.URL.Query().Get("filter"), schemaUser, "username", "externalid", "id")
	if err != nil {
		return reply{}, err
	}
	start, count, err := paging(r)
	if err != nil {
		return reply{}, err
	}
	if q.none {
		return reply{status: http.StatusOK, body: newList(0, start, nil)}, nil
	}
	f := store.SCIMUserFilter{TenantID: c.token.TenantID, UserName: q.eq["username"], ExternalID: q.eq["externalid"], PrincipalID: q.eq["id"]}
	if _, ok := q.eq["id"]; ok && f.PrincipalID == "" {
		return reply{status: http.StatusOK, body: newList(0, start, nil)}, nil
	}
	us, total, err := h.st.ListSCIMUsers(r.Context(), f, start-1, count)
	if err != nil {
		return reply{}, err
	}
	items := make([]any, 0, len(us))
	for _, u := range us {
		items = append(items, h.userOut(u))
	}
	return reply{status: http.StatusOK, body: newList(total, start, items)}, nil
}

func (h *handler) getUser(r *http.Request, c caller) (reply, error) {
	u, err := live(r.Context(), h.st, c, r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusOK, body: h.userOut(u)}, nil
}

// createUser provisions a user: it links to the tenant's principal whose
// external_id equals the push's externalId or userName, or creates a
// principal of kind user.
func (h *handler) createUser(r *http.Request, c caller) (reply, error) {
	body, err := readBody(r)
	if err != nil {
		return reply{}, err
	}
	d, err := parseUser(body)
	if err != nil {
		return reply{}, err
	}
	ctx := r.Context()
	tenant := c.token.TenantID
	now := h.stamp()
	var out store.SCIMUser
	err = h.st.Tx(ctx, func(tx store.Tx) error {
		if err := h.freeUserName(ctx, tx, c, d.UserName, now); err != nil {
			return err
		}
		p, linkedBy, err := linkTarget(ctx, tx, tenant, d)
		if err != nil {
			return err
		}
		if linkedBy == store.SCIMCreated {
			p = store.Principal{
				ID: store.NewID(store.PrefixPrincipal), TenantID: tenant, Kind: store.KindUser,
				DisplayName: displayName(d), ExternalID: d.ExternalID, Status: store.StatusActive,
				StatusChangedAt: now, StatusChangedBy: c.actor, CreatedAt: now, UpdatedAt: now,
			}
			if err := tx.CreatePrincipal(ctx, p); err != nil {
				if errors.Is(err, store.ErrConflict) {
					return conflict("a principal of this tenant already has external id %q", d.ExternalID)
				}
				return err
			}
		}
		pushed := d.Active
		if pushed == nil {
			t := true
			pushed = &t
		}
		u := store.SCIMUser{
			PrincipalID: p.ID, TenantID: tenant, UserName: d.UserName, ExternalID: d.ExternalID,
			Attributes: encodeAttrs(d, pushed), TokenID: c.token.ID, LinkedBy: linkedBy, CreatedAt: now, UpdatedAt: now,
		}
		if err := tx.CreateSCIMUser(ctx, u); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return conflict("userName %q is taken in this tenant", d.UserName)
			}
			return err
		}
		action := "principal.create"
		if linkedBy != store.SCIMCreated {
			action = "scim.link"
		}
		if err := h.life.Record(ctx, tx, c.actor, action, "principal:"+p.ID, tenant, nil, sourceView(u)); err != nil {
			return err
		}
		u.Principal = p
		if !*pushed && p.Status == store.StatusActive {
			if u.Principal, err = h.life.SetPrincipalStatus(ctx, tx, c.actor, tenant, p.ID, store.StatusSuspended); err != nil {
				return err
			}
		}
		out = u
		return nil
	})
	if err != nil {
		return reply{}, err
	}
	o := h.userOut(out)
	return reply{status: http.StatusCreated, body: o, location: o.Meta.Location}, nil
}

// freeUserName refuses a userName a live user of the tenant has (409
// uniqueness, as Okta and Entra ID expect), unless that user's principal
// was deleted by an operator: that user is gone, and is marked so.
func (h *handler) freeUserName(ctx context.Context, tx store.Tx, c caller, userName string, now time.Time) error {
	us, _, err := tx.ListSCIMUsers(ctx, store.SCIMUserFilter{TenantID: c.token.TenantID, UserName: userName}, 0, 1)
	if err != nil || len(us) == 0 {
		return err
	}
	if us[0].Principal.Status != store.StatusDeleted {
		return conflict("userName %q exists in this tenant (User %s)", userName, us[0].PrincipalID)
	}
	_, err = tx.UpdateSCIMUser(ctx, us[0].PrincipalID, func(u store.SCIMUser) (store.SCIMUser, error) {
		u.DeletedAt, u.UpdatedAt = &now, now
		return u, nil
	})
	return err
}

// linkTarget finds the existing principal a new user governs: the one whose
// external_id equals the push's externalId, or else its userName. Two
// different matches are ambiguous and refused; so is a match that another
// SCIM user already governs, or a service principal: nothing is merged by
// guesswork. No match: SCIMCreated.
func linkTarget(ctx context.Context, q store.Queries, tenant string, d userDoc) (store.Principal, string, error) {
	find := func(v string) (*store.Principal, error) {
		if v == "" {
			return nil, nil
		}
		p, err := q.GetPrincipalByExternalID(ctx, tenant, v)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return &p, err
	}
	byExt, err := find(d.ExternalID)
	if err != nil {
		return store.Principal{}, "", err
	}
	byName, err := find(d.UserName)
	if err != nil {
		return store.Principal{}, "", err
	}
	var p *store.Principal
	var by string
	switch {
	case byExt != nil && byName != nil && byExt.ID != byName.ID:
		return store.Principal{}, "", conflict("ambiguous: externalId %q matches principal %s and userName %q matches principal %s; "+
			"authz links to one existing principal only; give one of them another external id first", d.ExternalID, byExt.ID, d.UserName, byName.ID)
	case byExt != nil:
		p, by = byExt, store.SCIMLinkedExternalID
	case byName != nil:
		p, by = byName, store.SCIMLinkedUserName
	default:
		return store.Principal{}, store.SCIMCreated, nil
	}
	if p.Kind != store.KindUser {
		return store.Principal{}, "", conflict("%s %q matches principal %s, a service principal; a SCIM User links only to a principal of kind user", by, map[bool]string{true: d.ExternalID, false: d.UserName}[by == store.SCIMLinkedExternalID], p.ID)
	}
	if u, err := q.GetSCIMUser(ctx, p.ID); err == nil {
		return store.Principal{}, "", conflict("%s matches principal %s, which SCIM User %q already governs", by, p.ID, u.UserName)
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Principal{}, "", err
	}
	return *p, by, nil
}

// displayName is a new principal's name: the IdP's displayName, its
// formatted name, or the userName, cleaned to what a principal's name may
// hold.
func displayName(d userDoc) string {
	n := d.DisplayName
	if n == "" && isObject(d.Name) {
		var nm struct {
			Formatted  string `json:"formatted"`
			GivenName  string `json:"givenName"`
			FamilyName string `json:"familyName"`
		}
		_ = json.Unmarshal(d.Name, &nm)
		n = nm.Formatted
		if n == "" {
			n = strings.TrimSpace(nm.GivenName + " " + nm.FamilyName)
		}
	}
	if n == "" {
		n = d.UserName
	}
	n = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.TrimSpace(n))
	if len(n) > 200 {
		n = strings.ToValidUTF8(n[:200], "")
	}
	if n == "" {
		n = "scim user"
	}
	return n
}

func encodeAttrs(d userDoc, pushed *bool) json.RawMessage {
	b, _ := json.Marshal(attrs{DisplayName: d.DisplayName, Name: d.Name, Emails: d.Emails, Active: pushed})
	return b
}

// sourceView is what the audit trail records of a SCIM user.
func sourceView(u store.SCIMUser) map[string]any {
	v := map[string]any{"user_name": u.UserName, "token_id": u.TokenID}
	if u.ExternalID != "" {
		v["external_id"] = u.ExternalID
	}
	if u.LinkedBy != "" {
		v["linked_by"] = u.LinkedBy
	}
	return v
}

func (h *handler) replaceUser(r *http.Request, c caller) (reply, error) {
	body, err := readBody(r)
	if err != nil {
		return reply{}, err
	}
	d, err := parseUser(body)
	if err != nil {
		return reply{}, err
	}
	return h.updateUser(r, c, func(old userDoc) (userDoc, error) {
		n := d
		if n.Active == nil {
			// A PUT without active leaves the status alone: only an
			// explicit active=false deactivates.
			n.Active = old.Active
		}
		return n, nil
	})
}

func (h *handler) patchUser(r *http.Request, c caller) (reply, error) {
	body, err := readBody(r)
	if err != nil {
		return reply{}, err
	}
	ops, err := parsePatch(body)
	if err != nil {
		return reply{}, err
	}
	return h.updateUser(r, c, func(d userDoc) (userDoc, error) {
		return d, d.applyPatch(ops)
	})
}

// updateUser changes a user in one transaction: its attributes, then its
// principal's status as active says, through the admin operations.
func (h *handler) updateUser(r *http.Request, c caller, change func(userDoc) (userDoc, error)) (reply, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	now := h.stamp()
	// A reconciliation PUTs every user as it already is: answered from a
	// read, without taking the write lock. A change races nothing here,
	// since the transaction below decides again.
	if cur, err := live(ctx, h.st, c, id); err != nil {
		return reply{}, err
	} else if d, err := change(docOf(cur)); err != nil {
		return reply{}, err
	} else if unchanged(docOf(cur), d, cur.Principal) {
		return reply{status: http.StatusOK, body: h.userOut(cur), unchanged: true}, nil
	}
	var out store.SCIMUser
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		cur, err := live(ctx, tx, c, id)
		if err != nil {
			return err
		}
		before := docOf(cur)
		d, err := change(docOf(cur))
		if err != nil {
			return err
		}
		u, err := tx.UpdateSCIMUser(ctx, id, func(u store.SCIMUser) (store.SCIMUser, error) {
			u.UserName, u.ExternalID, u.Attributes = d.UserName, d.ExternalID, encodeAttrs(d, d.Active)
			if !sameDoc(before, d) {
				u.UpdatedAt = now
			}
			return u, nil
		})
		if errors.Is(err, store.ErrConflict) {
			return conflict("userName %q is taken in this tenant", d.UserName)
		}
		if err != nil {
			return err
		}
		if !sameDoc(before, d) {
			if err := h.life.Record(ctx, tx, c.actor, "scim.user.update", "principal:"+id, u.TenantID, docView(before), docView(d)); err != nil {
				return err
			}
		}
		if u.Principal, err = h.syncExternalID(ctx, tx, c, u.Principal, before.ExternalID, d.ExternalID, now); err != nil {
			return err
		}
		if u.Principal, err = h.applyActive(ctx, tx, c, u.Principal, before.Active, d.Active); err != nil {
			return err
		}
		out = u
		return nil
	})
	if err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusOK, body: h.userOut(out)}, nil
}

// syncExternalID gives the principal the IdP's new externalId when its
// external_id came from the IdP (it equals the user's previous externalId,
// or is empty). A principal linked by userName keeps the external id of
// the system it came from, and a removed externalId leaves the principal's
// alone: keys imported later still find their owner by it. A value that
// another principal of the tenant already has is refused (409 uniqueness):
// nothing is merged by guesswork, as when linking.
func (h *handler) syncExternalID(ctx context.Context, tx store.Tx, c caller, p store.Principal, was, now string, at time.Time) (store.Principal, error) {
	if now == was || now == "" || p.ExternalID == now || (p.ExternalID != "" && p.ExternalID != was) {
		return p, nil
	}
	other, err := tx.GetPrincipalByExternalID(ctx, p.TenantID, now)
	switch {
	case err == nil && other.ID != p.ID:
		return p, conflict("externalId %q is the external id of principal %s in this tenant; authz does not merge principals: "+
			"give that principal another external id first", now, other.ID)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return p, err
	}
	next, err := tx.UpdatePrincipal(ctx, p.ID, func(x store.Principal) (store.Principal, error) {
		x.ExternalID, x.UpdatedAt = now, at
		return x, nil
	})
	if errors.Is(err, store.ErrConflict) {
		return p, conflict("externalId %q is taken by another principal of this tenant", now)
	}
	if err != nil {
		return p, err
	}
	return next, h.life.Record(ctx, tx, c.actor, "principal.update", "principal:"+p.ID, p.TenantID,
		map[string]string{"external_id": p.ExternalID}, map[string]string{"external_id": now})
}

// applyActive suspends the principal when the IdP says active=false, and
// resumes it when the IdP says active=true after having said false, or
// when the suspension was SCIM's own. A principal an operator suspended
// stays suspended through the IdP's routine pushes of active=true: only a
// reactivation in the IdP lifts it.
func (h *handler) applyActive(ctx context.Context, tx store.Tx, c caller, p store.Principal, was, now *bool) (store.Principal, error) {
	if now == nil {
		return p, nil
	}
	switch {
	case !*now && p.Status == store.StatusActive:
		return h.life.SetPrincipalStatus(ctx, tx, c.actor, c.token.TenantID, p.ID, store.StatusSuspended)
	case *now && p.Status == store.StatusSuspended && ((was != nil && !*was) || strings.HasPrefix(p.StatusChangedBy, "scim:")):
		return h.life.SetPrincipalStatus(ctx, tx, c.actor, c.token.TenantID, p.ID, store.StatusActive)
	}
	return p, nil
}

// unchanged reports whether applying d to a user now at before with
// principal p would change nothing.
func unchanged(before, d userDoc, p store.Principal) bool {
	if !sameDoc(before, d) || !sameActive(before.Active, d.Active) {
		return false
	}
	switch {
	case d.Active == nil:
		return true
	case *d.Active:
		return p.Status == store.StatusActive || (p.Status == store.StatusSuspended && !strings.HasPrefix(p.StatusChangedBy, "scim:"))
	default:
		return p.Status != store.StatusActive
	}
}

func sameActive(a, b *bool) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func sameDoc(a, b userDoc) bool {
	x, _ := json.Marshal(docView(a))
	y, _ := json.Marshal(docView(b))
	return string(x) == string(y)
}

// docView is the audited form of a user's attributes (active is audited
// by the status change it causes).
func docView(d userDoc) map[string]any {
	return map[string]any{"user_name": d.UserName, "external_id": d.ExternalID, "display_name": d.DisplayName,
		"name": d.Name, "emails": d.Emails}
}

// deleteUser deletes the principal (a tombstone, deleted_by scim:<token>),
// frees the userName and drops the roles SCIM gave it.
func (h *handler) deleteUser(r *http.Request, c caller) (reply, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	now := h.stamp()
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		if _, err := live(ctx, tx, c, id); err != nil {
			return err
		}
		if _, err := tx.UpdateSCIMUser(ctx, id, func(u store.SCIMUser) (store.SCIMUser, error) {
			u.DeletedAt, u.UpdatedAt = &now, now
			return u, nil
		}); err != nil {
			return err
		}
		if _, err := h.life.SetPrincipalStatus(ctx, tx, c.actor, c.token.TenantID, id, store.StatusDeleted); err != nil {
			return err
		}
		return h.life.SyncBindings(ctx, tx, c.actor, c.token.TenantID, []string{id})
	})
	if err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusNoContent}, nil
}
