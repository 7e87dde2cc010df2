package policy

import (
	"slices"
	"sort"
	"strings"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// Admin permissions (SPEC §4).
const (
	PermAdmin       = "authz:admin"
	PermTenantAdmin = "authz:tenant-admin"
)

// Permissions returns the sorted union of the roles' permissions.
func Permissions(roles []store.Role) []string {
	var out []string
	for _, r := range roles {
		out = append(out, r.Permissions...)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// RoleNames returns the roles' names, sorted, for the roles claim.
func RoleNames(roles []store.Role) []string {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		out = append(out, r.Name)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// ParseScope splits an RFC 6749 §3.3 scope string. Duplicates are dropped.
func ParseScope(s string) []string {
	out := strings.Fields(s)
	sort.Strings(out)
	return slices.Compact(out)
}

// Grantable is what a subject may receive: its roles' permissions, narrowed
// by the allowed list of the client or key when that list is not empty.
func Grantable(roles []store.Role, allowed []string) []string {
	perms := Permissions(roles)
	if len(allowed) == 0 {
		return perms
	}
	out := perms[:0:0]
	for _, p := range perms {
		if slices.Contains(allowed, p) {
			out = append(out, p)
		}
	}
	return out
}

// EffectiveScope decides a token's scope. With nothing requested, the token
// gets everything grantable; otherwise every requested scope must be
// grantable, and asking for more is refused as a whole (SPEC §3) rather than
// silently narrowed, so that a caller never holds less than it believes.
func EffectiveScope(requested []string, roles []store.Role, allowed []string) ([]string, error) {
	grantable := Grantable(roles, allowed)
	if len(requested) == 0 {
		return grantable, nil
	}
	var missing []string
	for _, s := range requested {
		if !slices.Contains(grantable, s) {
			missing = append(missing, s)
		}
	}
	if len(missing) > 0 {
		return nil, errcode.Newf(errcode.ScopeNotGranted,
			"scope %q is not granted: the subject's roles and the allowed scopes grant only %q",
			strings.Join(missing, " "), strings.Join(grantable, " "))
	}
	out := slices.Clone(requested)
	sort.Strings(out)
	return slices.Compact(out), nil
}

// Audience decides a token's aud. Requested audiences must all be allowed;
// with none requested the token is for every allowed audience, or for def
// when the client or key has no list (RFC 9068 requires aud).
func Audience(requested, allowed, def []string) ([]string, error) {
	if len(requested) == 0 {
		if len(allowed) > 0 {
			return slices.Clone(allowed), nil
		}
		return slices.Clone(def), nil
	}
	for _, a := range requested {
		if !slices.Contains(allowed, a) && !(len(allowed) == 0 && slices.Contains(def, a)) {
			return nil, errcode.Newf(errcode.AudienceNotGranted, "audience %q is not allowed for this client or key", a)
		}
	}
	out := slices.Clone(requested)
	sort.Strings(out)
	return slices.Compact(out), nil
}
