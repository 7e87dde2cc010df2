package admin

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/authz/authz/admin/apiv1"
)

type openAPIDoc struct {
	OpenAPI    string                                `json:"openapi"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"schemas"`
	} `json:"components"`
}

func loadOpenAPI(t *testing.T) openAPIDoc {
	t.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	return doc
}

// TestOpenAPICoversRoutes: every route is documented and every documented
// operation is routed.
func TestOpenAPICoversRoutes(t *testing.T) {
	doc := loadOpenAPI(t)
	routed := map[string]bool{}
	for _, rt := range routes() {
		routed[strings.ToLower(rt.Method)+" "+Prefix+rt.Path] = true
	}
	documented := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			if method == "parameters" {
				continue
			}
			documented[method+" "+path] = true
		}
	}
	var missing, extra []string
	for op := range routed {
		if !documented[op] {
			missing = append(missing, op)
		}
	}
	for op := range documented {
		if !routed[op] {
			extra = append(extra, op)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("routes missing from openapi.json: %s", strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		t.Errorf("openapi.json documents operations that are not routed: %s", strings.Join(extra, ", "))
	}
}

// TestOpenAPISchemasMatchWireTypes: the documented objects have exactly the
// JSON fields of the apiv1 types the server sends and accepts.
func TestOpenAPISchemasMatchWireTypes(t *testing.T) {
	doc := loadOpenAPI(t)
	types := map[string]any{
		"Tenant": apiv1.Tenant{}, "CreateTenant": apiv1.CreateTenant{}, "SetSunset": apiv1.SetSunset{},
		"Principal": apiv1.Principal{}, "CreatePrincipal": apiv1.CreatePrincipal{},
		"Role": apiv1.Role{}, "CreateRole": apiv1.CreateRole{}, "UpdateRole": apiv1.UpdateRole{},
		"Audience": apiv1.Audience{}, "CreateAudience": apiv1.CreateAudience{}, "ShareAudience": apiv1.ShareAudience{},
		"Binding": apiv1.Binding{}, "CreateBinding": apiv1.CreateBinding{},
		"Client": apiv1.Client{}, "SecretInfo": apiv1.SecretInfo{}, "CreateClient": apiv1.CreateClient{}, "UpdateClient": apiv1.UpdateClient{},
		"Rotate": apiv1.Rotate{}, "LegacyKey": apiv1.LegacyKey{}, "RotatedKey": apiv1.RotatedKey{}, "IssueKey": apiv1.IssueKey{},
		"RevokeKey": apiv1.RevokeKey{}, "ReassignKey": apiv1.ReassignKey{},
		"ResolveKeyConflict": apiv1.ResolveKeyConflict{}, "KeyConflictResolution": apiv1.KeyConflictResolution{}, "DiagnoseKey": apiv1.DiagnoseKey{},
		"ImportRow": apiv1.ImportRow{}, "ImportKeys": apiv1.ImportKeys{}, "ImportSummary": apiv1.ImportSummary{}, "Rejection": apiv1.Rejection{},
		"RemapRow": apiv1.RemapRow{}, "RemapKeys": apiv1.RemapKeys{}, "RemapSummary": apiv1.RemapSummary{},
		"SigningKey": apiv1.SigningKey{}, "AuditEvent": apiv1.AuditEvent{}, "AuditReport": apiv1.AuditReport{}, "AuditBreak": apiv1.AuditBreak{},
		"PrincipalSource": apiv1.PrincipalSource{}, "SCIMToken": apiv1.SCIMToken{}, "CreateSCIMToken": apiv1.CreateSCIMToken{},
		"SCIMGroupMapping": apiv1.SCIMGroupMapping{}, "CreateSCIMGroupMapping": apiv1.CreateSCIMGroupMapping{},
	}
	for name, v := range types {
		schema, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("schema %s is missing", name)
			continue
		}
		want := jsonFields(reflect.TypeOf(v))
		var got []string
		for f := range schema.Properties {
			got = append(got, f)
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("schema %s has fields %v, the Go type %v", name, got, want)
		}
	}
}

// jsonFields lists the JSON member names of a struct type, following
// embedded structs as encoding/json does.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, jsonFields(f.Type)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}
