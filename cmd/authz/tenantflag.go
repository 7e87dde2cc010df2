package main

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"
)

// tenantChoice is which tenant's tokens `authz gateway` and `authz verify`
// accept (issue 18 §4). One issuer serves every tenant, so a token of
// tenant A can name tenant B's audience and carry a scope that A's own
// roles grant: only the token's tenant tells them apart. Both commands
// therefore refuse to start until the operator says --tenant T, or
// --any-tenant for a resource that really serves every tenant.
type tenantChoice struct {
	tenant string
	// legacy is the old --require-tenant, kept as a deprecated alias so
	// that existing deployments keep starting.
	legacy string
	any    bool
}

func (t *tenantChoice) addFlags(f *pflag.FlagSet) {
	f.StringVar(&t.tenant, "tenant", "", "accept only tokens of this tenant (the token's tenant claim); this or --any-tenant is required")
	f.BoolVar(&t.any, "any-tenant", false, "accept tokens of every tenant of the issuer (a resource shared by all tenants)")
	f.StringVar(&t.legacy, "require-tenant", "", "old name of --tenant")
	_ = f.MarkDeprecated("require-tenant", "use --tenant")
}

// errTenantChoice is the refusal to start without a tenant choice.
var errTenantChoice = errors.New("--tenant T or --any-tenant is required: one issuer serves every tenant, so without --tenant a token of any tenant that names the audience and carries the scope passes; give --any-tenant only for a resource that serves every tenant")

// resolve returns the tenant to require ("" with --any-tenant).
func (t *tenantChoice) resolve() (string, error) {
	tenant := t.tenant
	switch {
	case t.legacy != "" && tenant != "" && t.legacy != tenant:
		return "", fmt.Errorf("--tenant %q and --require-tenant %q disagree; give --tenant only", tenant, t.legacy)
	case t.legacy != "":
		tenant = t.legacy
	}
	switch {
	case tenant != "" && t.any:
		return "", errors.New("--tenant and --any-tenant exclude each other")
	case tenant == "" && !t.any:
		return "", errTenantChoice
	}
	return tenant, nil
}
