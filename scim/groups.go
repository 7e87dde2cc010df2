package scim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	filter "github.com/scim2/filter-parser/v2"

	"github.com/authz/authz/store"
)

// groupDoc is a Group as a request gives it.
type groupDoc struct {
	DisplayName string
	ExternalID  string
	Members     []string // principal ids; nil when the request did not say
}

type memberOut struct {
	Value   string `json:"value"`
	Display string `json:"display,omitempty"`
	Ref     string `json:"$ref"`
}

type groupOut struct {
	Schemas     []string    `json:"schemas"`
	ID          string      `json:"id"`
	ExternalID  string      `json:"externalId,omitempty"`
	DisplayName string      `json:"displayName"`
	Members     []memberOut `json:"members,omitempty"`
	Meta        meta        `json:"meta"`
}

// maxMembers bounds the members one request names.
const maxMembers = 10000

// memberIDs reads [{"value": "<user id>"}, ...].
func memberIDs(v json.RawMessage) ([]string, error) {
	if isNull(v) {
		return []string{}, nil
	}
	var ms []map[string]json.RawMessage
	if err := json.Unmarshal(v, &ms); err != nil {
		// A single member object is accepted too.
		var m map[string]json.RawMessage
		if json.Unmarshal(v, &m) != nil {
			return nil, badRequest(typeInvalidValue, `members must be an array of {"value": "<user id>"}`)
		}
		ms = append(ms, m)
	}
	if len(ms) > maxMembers {
		return nil, &Error{Status: http.StatusBadRequest, Type: typeTooMany, Detail: "more than 10000 members in one request"}
	}
	ids := make([]string, 0, len(ms))
	for _, m := range ms {
		raw, _ := member(m, "value")
		id, ok := stringValue(raw)
		if !ok || id == "" {
			return nil, badRequest(typeInvalidValue, `each member needs "value": the id of a User`)
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func parseGroup(body []byte) (groupDoc, error) {
	m, err := object(body)
	if err != nil {
		return groupDoc{}, err
	}
	var d groupDoc
	for k, v := range m {
		if err := d.set("replace", strings.ToLower(k), v); err != nil {
			return groupDoc{}, err
		}
	}
	if d.DisplayName == "" {
		return groupDoc{}, badRequest(typeInvalidValue, "displayName is required")
	}
	return d, nil
}

func (d *groupDoc) set(op, attr string, v json.RawMessage) error {
	switch attr {
	case "displayname":
		if op == "remove" {
			return badRequest(typeMutability, "displayName is required and cannot be removed")
		}
		s, ok := stringValue(v)
		s = strings.TrimSpace(s)
		if !ok || s == "" || len(s) > 256 {
			return badRequest(typeInvalidValue, "displayName must be a non-empty string of at most 256 bytes")
		}
		d.DisplayName = s
	case "externalid":
		if op == "remove" {
			d.ExternalID = ""
			return nil
		}
		s, ok := stringValue(v)
		if !ok || len(s) > 256 {
			return badRequest(typeInvalidValue, "externalId must be a string")
		}
		d.ExternalID = s
	case "members":
		if op == "remove" {
			d.Members = []string{}
			return nil
		}
		ids, err := memberIDs(v)
		if err != nil {
			return err
		}
		if op == "add" {
			for _, id := range ids {
				if !slices.Contains(d.Members, id) {
					d.Members = append(d.Members, id)
				}
			}
			return nil
		}
		d.Members = ids
	}
	return nil
}

// applyPatch applies a Group PATCH: members add/remove/replace, also as
// members[value eq "<id>"] (Entra ID, Okta), displayName and externalId.
func (d *groupDoc) applyPatch(ops []patchOp) error {
	for _, op := range ops {
		if op.Path == nil {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(op.Value, &m); err != nil {
				return badRequest(typeInvalidValue, "a PATCH without a path needs an object of attributes")
			}
			for k, v := range m {
				if err := d.set(op.Op, strings.ToLower(k), v); err != nil {
					return err
				}
			}
			continue
		}
		p := op.Path.AttributePath
		if p.URIPrefix != nil && !strings.EqualFold(*p.URIPrefix, schemaGroup) {
			continue
		}
		attr := strings.ToLower(p.AttributeName)
		if op.Path.ValueExpression == nil {
			if op.Op == "remove" && attr == "members" && op.Value != nil && !isNull(op.Value) {
				// remove with a value names the members to remove.
				ids, err := memberIDs(op.Value)
				if err != nil {
					return err
				}
				d.Members = slices.DeleteFunc(d.Members, func(id string) bool { return slices.Contains(ids, id) })
				continue
			}
			if err := d.set(op.Op, attr, op.Value); err != nil {
				return err
			}
			continue
		}
		if attr != "members" || op.Op != "remove" {
			return badRequest(typeInvalidPath, "authz accepts a filtered path only as remove of members[value eq \"<id>\"]; not %s %q", op.Op, describe(op.RawPath))
		}
		ids, err := memberFilter(op.Path.ValueExpression)
		if err != nil {
			return err
		}
		d.Members = slices.DeleteFunc(d.Members, func(id string) bool { return slices.Contains(ids, id) })
	}
	return nil
}

// memberFilter reads value eq "<id>" (or several joined with or).
func memberFilter(e filter.Expression) ([]string, error) {
	switch e := e.(type) {
	case *filter.LogicalExpression:
		if e.Operator != filter.OR {
			return nil, badRequest(typeInvalidFilter, "members[...] takes value eq \"<id>\", joined with or")
		}
		l, err := memberFilter(e.Left)
		if err != nil {
			return nil, err
		}
		r, err := memberFilter(e.Right)
		return append(l, r...), err
	case *filter.AttributeExpression:
		v, ok := e.CompareValue.(string)
		if !strings.EqualFold(e.AttributePath.AttributeName, "value") || e.AttributePath.SubAttribute != nil || e.Operator != filter.EQ || !ok {
			return nil, badRequest(typeInvalidFilter, "members[...] takes value eq \"<id>\"")
		}
		return []string{v}, nil
	}
	return nil, badRequest(typeInvalidFilter, "members[...] takes value eq \"<id>\"")
}

func liveGroup(ctx context.Context, q store.Queries, c caller, id string) (store.SCIMGroup, error) {
	g, err := q.GetSCIMGroup(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return g, notFound("Group", id)
	case err != nil:
		return g, err
	case g.TenantID != c.token.TenantID:
		return g, notFound("Group", id)
	}
	return g, nil
}

func (h *handler) groupOut(ctx context.Context, q store.Queries, g store.SCIMGroup, withMembers bool) (groupOut, error) {
	o := groupOut{Schemas: []string{schemaGroup}, ID: g.ID, ExternalID: g.ExternalID, DisplayName: g.DisplayName,
		Meta: meta{ResourceType: "Group", Created: g.CreatedAt, LastModified: g.UpdatedAt, Location: h.base + "/Groups/" + g.ID}}
	if !withMembers {
		return o, nil
	}
	ids, err := q.ListSCIMGroupMembers(ctx, g.ID)
	if err != nil {
		return o, err
	}
	for _, id := range ids {
		o.Members = append(o.Members, memberOut{Value: id, Ref: h.base + "/Users/" + id})
	}
	return o, nil
}

// wantsMembers: Entra ID asks excludedAttributes=members when it only
// checks that a group exists.
func wantsMembers(r *http.Request) bool {
	for _, a := range strings.Split(r.URL.Query().Get("excludedAttributes"), ",") {
		if strings.EqualFold(strings.TrimSpace(a), "members") {
			return false
		}
	}
	return true
}

func (h *handler) listGroups(r *http.Request, c caller) (reply, error) {
	q, err := parseFilter(r.URL.Query().Get("filter"), schemaGroup, "displayname", "externalid", "id")
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
	f := store.SCIMGroupFilter{TenantID: c.token.TenantID, DisplayName: q.eq["displayname"], ExternalID: q.eq["externalid"], ID: q.eq["id"]}
	if _, ok := q.eq["id"]; ok && f.ID == "" {
		return reply{status: http.StatusOK, body: newList(0, start, nil)}, nil
	}
	gs, total, err := h.st.ListSCIMGroups(r.Context(), f, start-1, count)
	if err != nil {
		return reply{}, err
	}
	items := make([]any, 0, len(gs))
	for _, g := range gs {
		o, err := h.groupOut(r.Context(), h.st, g, wantsMembers(r))
		if err != nil {
			return reply{}, err
		}
		items = append(items, o)
	}
	return reply{status: http.StatusOK, body: newList(total, start, items)}, nil
}

func (h *handler) getGroup(r *http.Request, c caller) (reply, error) {
	g, err := liveGroup(r.Context(), h.st, c, r.PathValue("id"))
	if err != nil {
		return reply{}, err
	}
	o, err := h.groupOut(r.Context(), h.st, g, wantsMembers(r))
	if err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusOK, body: o}, nil
}

// checkMembers refuses members that are not live users of the tenant: a
// membership never reaches another tenant, and nothing is half-applied.
func checkMembers(ctx context.Context, q store.Queries, c caller, ids []string) error {
	for _, id := range ids {
		if _, err := live(ctx, q, c, id); err != nil {
			var se *Error
			if errors.As(err, &se) && se.Status == http.StatusNotFound {
				return badRequest(typeInvalidValue, "member %q is not a User of this tenant", describe(id))
			}
			return err
		}
	}
	return nil
}

func groupView(d groupDoc) map[string]any {
	return map[string]any{"display_name": d.DisplayName, "external_id": d.ExternalID, "members": len(d.Members)}
}

func (h *handler) createGroup(r *http.Request, c caller) (reply, error) {
	body, err := readBody(r)
	if err != nil {
		return reply{}, err
	}
	d, err := parseGroup(body)
	if err != nil {
		return reply{}, err
	}
	ctx := r.Context()
	now := h.stamp()
	g := store.SCIMGroup{ID: store.NewID(store.PrefixSCIMGroup), TenantID: c.token.TenantID, DisplayName: d.DisplayName, ExternalID: d.ExternalID, CreatedAt: now, UpdatedAt: now}
	var out groupOut
	err = h.st.Tx(ctx, func(tx store.Tx) error {
		if err := checkMembers(ctx, tx, c, d.Members); err != nil {
			return err
		}
		if err := tx.CreateSCIMGroup(ctx, g); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return conflict("a Group named %q exists in this tenant", d.DisplayName)
			}
			return err
		}
		if err := tx.AddSCIMGroupMembers(ctx, g.ID, d.Members); err != nil {
			return err
		}
		if err := h.life.Record(ctx, tx, c.actor, "scim.group.create", "scim_group:"+g.ID, g.TenantID, nil, groupView(d)); err != nil {
			return err
		}
		if err := h.life.SyncBindings(ctx, tx, c.actor, g.TenantID, d.Members); err != nil {
			return err
		}
		out, err = h.groupOut(ctx, tx, g, true)
		return err
	})
	if err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusCreated, body: out, location: out.Meta.Location}, nil
}

func (h *handler) replaceGroup(r *http.Request, c caller) (reply, error) {
	body, err := readBody(r)
	if err != nil {
		return reply{}, err
	}
	d, err := parseGroup(body)
	if err != nil {
		return reply{}, err
	}
	return h.updateGroup(r, c, func(old groupDoc) (groupDoc, error) {
		n := d
		if n.Members == nil {
			n.Members = old.Members
		}
		return n, nil
	})
}

func (h *handler) patchGroup(r *http.Request, c caller) (reply, error) {
	body, err := readBody(r)
	if err != nil {
		return reply{}, err
	}
	ops, err := parsePatch(body)
	if err != nil {
		return reply{}, err
	}
	return h.updateGroup(r, c, func(d groupDoc) (groupDoc, error) { return d, d.applyPatch(ops) })
}

// updateGroup changes a group in one transaction and re-binds every member
// it gained or lost, and every member if its name (and so its mappings)
// changed.
func (h *handler) updateGroup(r *http.Request, c caller, change func(groupDoc) (groupDoc, error)) (reply, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	now := h.stamp()
	var out groupOut
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		g, err := liveGroup(ctx, tx, c, id)
		if err != nil {
			return err
		}
		members, err := tx.ListSCIMGroupMembers(ctx, id)
		if err != nil {
			return err
		}
		before := groupDoc{DisplayName: g.DisplayName, ExternalID: g.ExternalID, Members: slices.Clone(members)}
		if before.Members == nil {
			before.Members = []string{}
		}
		d, err := change(groupDoc{DisplayName: g.DisplayName, ExternalID: g.ExternalID, Members: slices.Clone(before.Members)})
		if err != nil {
			return err
		}
		var added, removed []string
		for _, m := range d.Members {
			if !slices.Contains(before.Members, m) {
				added = append(added, m)
			}
		}
		for _, m := range before.Members {
			if !slices.Contains(d.Members, m) {
				removed = append(removed, m)
			}
		}
		if err := checkMembers(ctx, tx, c, added); err != nil {
			return err
		}
		renamed := d.DisplayName != g.DisplayName
		if renamed || d.ExternalID != g.ExternalID || len(added)+len(removed) > 0 {
			g, err = tx.UpdateSCIMGroup(ctx, id, func(g store.SCIMGroup) (store.SCIMGroup, error) {
				g.DisplayName, g.ExternalID, g.UpdatedAt = d.DisplayName, d.ExternalID, now
				return g, nil
			})
			if errors.Is(err, store.ErrConflict) {
				return conflict("a Group named %q exists in this tenant", d.DisplayName)
			}
			if err != nil {
				return err
			}
			if err := tx.AddSCIMGroupMembers(ctx, id, added); err != nil {
				return err
			}
			if len(removed) > 0 {
				if err := tx.RemoveSCIMGroupMembers(ctx, id, removed); err != nil {
					return err
				}
			}
			after := groupView(d)
			after["added"], after["removed"] = added, removed
			if err := h.life.Record(ctx, tx, c.actor, "scim.group.update", "scim_group:"+id, g.TenantID, groupView(before), after); err != nil {
				return err
			}
			sync := append(added, removed...)
			if renamed {
				sync = append(slices.Clone(d.Members), removed...)
			}
			if err := h.life.SyncBindings(ctx, tx, c.actor, g.TenantID, sync); err != nil {
				return err
			}
		}
		out, err = h.groupOut(ctx, tx, g, true)
		return err
	})
	if err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusOK, body: out}, nil
}

func (h *handler) deleteGroup(r *http.Request, c caller) (reply, error) {
	ctx := r.Context()
	id := r.PathValue("id")
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		g, err := liveGroup(ctx, tx, c, id)
		if err != nil {
			return err
		}
		members, err := tx.ListSCIMGroupMembers(ctx, id)
		if err != nil {
			return err
		}
		if err := tx.DeleteSCIMGroup(ctx, id); err != nil {
			return err
		}
		if err := h.life.Record(ctx, tx, c.actor, "scim.group.delete", "scim_group:"+id, g.TenantID,
			groupView(groupDoc{DisplayName: g.DisplayName, ExternalID: g.ExternalID, Members: members}), nil); err != nil {
			return err
		}
		return h.life.SyncBindings(ctx, tx, c.actor, g.TenantID, members)
	})
	if err != nil {
		return reply{}, err
	}
	return reply{status: http.StatusNoContent}, nil
}
