package policy

import (
	"slices"
	"testing"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

var roles = []store.Role{
	{Name: "writer", Permissions: []string{"orders:write", "orders:read"}},
	{Name: "reader", Permissions: []string{"orders:read", "stock:read"}},
}

func TestEffectiveScope(t *testing.T) {
	tests := []struct {
		name      string
		requested []string
		roles     []store.Role
		allowed   []string
		want      []string
		refused   bool
	}{
		{"nothing requested: all the roles grant", nil, roles, nil, []string{"orders:read", "orders:write", "stock:read"}, false},
		{"nothing requested: narrowed by allowed", nil, roles, []string{"orders:read", "billing:read"}, []string{"orders:read"}, false},
		{"subset requested", []string{"stock:read"}, roles, nil, []string{"stock:read"}, false},
		{"requested twice", []string{"stock:read", "stock:read"}, roles, nil, []string{"stock:read"}, false},
		{"beyond the roles", []string{"billing:read"}, roles, nil, nil, true},
		{"role grants it but allowed list does not", []string{"orders:write"}, roles, []string{"orders:read"}, nil, true},
		{"allowed lists it but no role grants it", []string{"billing:read"}, roles, []string{"billing:read"}, nil, true},
		{"no roles: nothing", nil, nil, []string{"orders:read"}, []string{}, false},
		{"no roles: anything requested is refused", []string{"orders:read"}, nil, nil, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EffectiveScope(tt.requested, tt.roles, tt.allowed)
			if tt.refused {
				if errcode.Of(err) != errcode.ScopeNotGranted {
					t.Fatalf("err = %v, want scope_not_granted", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("scope = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAudience(t *testing.T) {
	def := []string{"https://issuer.example"}
	tests := []struct {
		name               string
		requested, allowed []string
		want               []string
		refused            bool
	}{
		{"default to allowed", nil, []string{"api-a", "api-b"}, []string{"api-a", "api-b"}, false},
		{"default to issuer when no list", nil, nil, def, false},
		{"allowed one", []string{"api-b"}, []string{"api-a", "api-b"}, []string{"api-b"}, false},
		{"not allowed", []string{"api-c"}, []string{"api-a"}, nil, true},
		{"no list: only the default", []string{"api-a"}, nil, nil, true},
		{"no list: the default may be named", def, nil, def, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Audience(tt.requested, tt.allowed, def)
			if tt.refused {
				if errcode.Of(err) != errcode.AudienceNotGranted {
					t.Fatalf("err = %v, want audience_not_granted", err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("Audience = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestRoleNamesAndParseScope(t *testing.T) {
	if got := RoleNames(append(roles, roles[0])); !slices.Equal(got, []string{"reader", "writer"}) {
		t.Fatalf("RoleNames = %q", got)
	}
	if got := ParseScope("  b a\tb "); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("ParseScope = %q", got)
	}
}
