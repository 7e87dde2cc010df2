package main

import (
	"errors"
	"fmt"
	"slices"

	"github.com/spf13/pflag"
)

// tenantChoice is which tenants' tokens `authz gateway` and `authz verify`
// accept (issue 18 §4). One issuer serves every tenant, so a token of
// tenant A can name tenant B's audience and carry a scope that A's own
// roles grant: only the token's tenant tells them apart. Both commands
// therefore refuse to start until the operator says --tenant T (repeated
// for the tenants the API's audience is shared with), or --any-tenant for
// a resource that really serves every tenant.
type tenantChoice struct {
	tenants []string
	// legacy is the old --require-tenant, kept as a deprecated alias so
	// that existing deployments keep starting.
	legacy string
	any    bool
}

func (t *tenantChoice) addFlags(f *pflag.FlagSet) {
	f.StringSliceVar(&t.tenants, "tenant", nil, "accept only tokens of this tenant (the token's tenant claim; repeat for tenants the audience is shared with); this or --any-tenant is required")
	f.BoolVar(&t.any, "any-tenant", false, "accept tokens of every tenant of the issuer (a resource shared by all tenants)")
	f.StringVar(&t.legacy, "require-tenant", "", "old name of --tenant")
	_ = f.MarkDeprecated("require-tenant", "use --tenant")
}

// errTenantChoice is the refusal to start without a tenant choice.
var errTenantChoice = errors.New("--tenant T or --any-tenant is required: one issuer serves every tenant, so without --tenant a token of any tenant that names the audience and carries the scope passes; give --any-tenant only for a resource that serves every tenant")

// resolve returns the tenants to require (none with --any-tenant).
func (t *tenantChoice) resolve() ([]string, error) {
	var tenants []string
	for _, tn := range t.tenants {
		if tn != "" {
			tenants = append(tenants, tn)
		}
	}
	switch {
	case t.legacy != "" && len(tenants) > 0 && !slices.Contains(tenants, t.legacy):
		return nil, fmt.Errorf("--require-tenant %q is not among --tenant %q; give --tenant only", t.legacy, tenants)
	case t.legacy != "" && len(tenants) == 0:
		tenants = []string{t.legacy}
	}
	switch {
	case len(tenants) > 0 && t.any:
		return nil, errors.New("--tenant and --any-tenant exclude each other")
	case len(tenants) == 0 && !t.any:
		return nil, errTenantChoice
	}
	slices.Sort(tenants)
	return slices.Compact(tenants), nil
}
