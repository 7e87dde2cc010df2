package scim

import (
	"net/http"
	"strings"
)

// The discovery documents of RFC 7644 §4: what this service provider
// supports, so that an IdP's connector configures itself.

const (
	schemaSPC          = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
	schemaResourceType = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
	schemaSchema       = "urn:ietf:params:scim:schemas:core:2.0:Schema"
	schemaEnterprise   = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
)

func (h *handler) serviceProviderConfig(*http.Request, caller) (reply, error) {
	supported := func(b bool) map[string]bool { return map[string]bool{"supported": b} }
	return reply{status: http.StatusOK, body: map[string]any{
		"schemas":        []string{schemaSPC},
		"patch":          supported(true),
		"bulk":           map[string]any{"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
		"filter":         map[string]any{"supported": true, "maxResults": 1000},
		"changePassword": supported(false),
		"sort":           supported(false),
		"etag":           supported(false),
		"authenticationSchemes": []map[string]any{{
			"type": "oauthbearertoken", "name": "OAuth Bearer Token", "primary": true,
			"description": "The tenant's SCIM token (authz scim token create), as Authorization: Bearer <token>.",
		}},
		"meta": map[string]any{"resourceType": "ServiceProviderConfig", "location": h.base + "/ServiceProviderConfig"},
	}}, nil
}

func (h *handler) resourceTypeDocs() []map[string]any {
	return []map[string]any{
		{
			"schemas": []string{schemaResourceType}, "id": "User", "name": "User", "endpoint": "/Users",
			"description": "A principal of kind user", "schema": schemaUser,
			"schemaExtensions": []map[string]any{{"schema": schemaEnterprise, "required": false}},
			"meta":             map[string]any{"resourceType": "ResourceType", "location": h.base + "/ResourceTypes/User"},
		},
		{
			"schemas": []string{schemaResourceType}, "id": "Group", "name": "Group", "endpoint": "/Groups",
			"description": "A group whose members are bound to the roles mapped to its name", "schema": schemaGroup,
			"meta": map[string]any{"resourceType": "ResourceType", "location": h.base + "/ResourceTypes/Group"},
		},
	}
}

func (h *handler) resourceTypes(*http.Request, caller) (reply, error) {
	var items []any
	for _, d := range h.resourceTypeDocs() {
		items = append(items, d)
	}
	return reply{status: http.StatusOK, body: newList(int64(len(items)), 1, items)}, nil
}

func (h *handler) resourceType(r *http.Request, _ caller) (reply, error) {
	for _, d := range h.resourceTypeDocs() {
		if d["id"] == r.PathValue("id") {
			return reply{status: http.StatusOK, body: d}, nil
		}
	}
	return reply{}, notFound("ResourceType", r.PathValue("id"))
}

func attr(name, typ string, required bool, extra map[string]any) map[string]any {
	a := map[string]any{"name": name, "type": typ, "multiValued": false, "required": required, "caseExact": false,
		"mutability": "readWrite", "returned": "default", "uniqueness": "none"}
	for k, v := range extra {
		a[k] = v
	}
	return a
}

func (h *handler) schemaDocs() []map[string]any {
	sub := func(names ...string) []map[string]any {
		var out []map[string]any
		for _, n := range names {
			out = append(out, attr(n, "string", false, nil))
		}
		return out
	}
	return []map[string]any{
		{
			"id": schemaUser, "name": "User", "description": "A principal of kind user; authz keeps these attributes and accepts and ignores the others.",
			"attributes": []map[string]any{
				attr("userName", "string", true, map[string]any{"uniqueness": "server"}),
				attr("externalId", "string", false, map[string]any{"caseExact": true}),
				attr("active", "boolean", false, nil),
				attr("displayName", "string", false, nil),
				attr("name", "complex", false, map[string]any{"subAttributes": sub("formatted", "familyName", "givenName", "middleName", "honorificPrefix", "honorificSuffix")}),
				attr("emails", "complex", false, map[string]any{"multiValued": true, "subAttributes": sub("value", "type", "display")}),
			},
			"meta": map[string]any{"resourceType": "Schema", "location": h.base + "/Schemas/" + schemaUser},
		},
		{
			"id": schemaGroup, "name": "Group", "description": "A group; its members are bound to the roles mapped to its displayName (authz scim map-group).",
			"attributes": []map[string]any{
				attr("displayName", "string", true, map[string]any{"uniqueness": "server"}),
				attr("externalId", "string", false, map[string]any{"caseExact": true}),
				attr("members", "complex", false, map[string]any{"multiValued": true, "subAttributes": sub("value", "display", "$ref")}),
			},
			"meta": map[string]any{"resourceType": "Schema", "location": h.base + "/Schemas/" + schemaGroup},
		},
	}
}

func (h *handler) schemas(*http.Request, caller) (reply, error) {
	var items []any
	for _, d := range h.schemaDocs() {
		d["schemas"] = []string{schemaSchema}
		items = append(items, d)
	}
	return reply{status: http.StatusOK, body: newList(int64(len(items)), 1, items)}, nil
}

func (h *handler) schema(r *http.Request, _ caller) (reply, error) {
	for _, d := range h.schemaDocs() {
		if strings.EqualFold(d["id"].(string), r.PathValue("id")) {
			d["schemas"] = []string{schemaSchema}
			return reply{status: http.StatusOK, body: d}, nil
		}
	}
	return reply{}, notFound("Schema", r.PathValue("id"))
}
