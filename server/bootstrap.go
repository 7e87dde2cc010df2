package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/clientsecret"
	"github.com/authz/authz/policy"
	"github.com/authz/authz/store"
)

// Names of what the first start creates in the system tenant.
const (
	BootstrapPrincipalID = "prn_bootstrap_admin"
	BootstrapRoleName    = "authz-admin"
	settingBootstrap     = "bootstrap_client_id"
)

// Bootstrap is the admin client created on this start.
type Bootstrap struct {
	ClientID string
	// ClientSecret is set only when the server generated it: it is shown
	// once and never stored.
	ClientSecret string
}

// bootstrap creates, on first start, the system tenant, a service principal
// bound to a role with authz:admin, and the bootstrap admin client (SPEC
// §5): the operator's AUTHZ_BOOTSTRAP_CLIENT_ID/SECRET if set, as
// Keycloak's KC_BOOTSTRAP_ADMIN_CLIENT_* do, or generated ones printed
// once. On later starts it creates the configured client only if it does
// not exist, so an operator who lost every admin credential can start once
// with new ones. Replicas starting together create one set.
func bootstrap(ctx context.Context, st store.Store, secrets *clientsecret.Hasher, cfg Config, log *slog.Logger) (*Bootstrap, error) {
	if (cfg.BootstrapClientID == "") != (cfg.BootstrapClientSecret == "") {
		return nil, errors.New("set both AUTHZ_BOOTSTRAP_CLIENT_ID and AUTHZ_BOOTSTRAP_CLIENT_SECRET, or neither")
	}
	if cfg.BootstrapClientID != "" && !store.WellFormedClientID(cfg.BootstrapClientID) {
		return nil, fmt.Errorf("AUTHZ_BOOTSTRAP_CLIENT_ID must be 1 to %d visible ASCII characters without spaces", store.MaxClientIDLen)
	}
	if cfg.BootstrapClientSecret != "" && len(cfg.BootstrapClientSecret) < clientsecret.MinBootstrapLen {
		return nil, fmt.Errorf("AUTHZ_BOOTSTRAP_CLIENT_SECRET must be at least %d characters", clientsecret.MinBootstrapLen)
	}
	var out *Bootstrap
	attempt := func() error {
		out = nil
		return st.Tx(ctx, func(tx store.Tx) error {
			b, err := bootstrapTx(ctx, tx, secrets, cfg)
			out = b
			return err
		})
	}
	err := attempt()
	if errors.Is(err, store.ErrConflict) { // another replica bootstrapped at the same moment
		err = attempt()
	}
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	if out != nil {
		if out.ClientSecret != "" {
			fmt.Fprintf(cfg.Out, "\nBootstrap admin client created (permission %s). Shown once; store it safely:\n  AUTHZ_CLIENT_ID=%s\n  AUTHZ_CLIENT_SECRET=%s\n\n", policy.PermAdmin, out.ClientID, out.ClientSecret)
		}
		log.Info("bootstrap admin client created", "client_id", out.ClientID)
	}
	return out, nil
}

func bootstrapTx(ctx context.Context, tx store.Tx, secrets *clientsecret.Hasher, cfg Config) (*Bootstrap, error) {
	now := time.Now().UTC()
	_, err := tx.GetSetting(ctx, settingBootstrap)
	switch {
	case err == nil && cfg.BootstrapClientID == "":
		return nil, nil // bootstrapped before, nothing configured
	case err == nil:
		if _, err := tx.GetClient(ctx, cfg.BootstrapClientID); err == nil {
			return nil, nil // the configured client exists: leave it alone
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	var events []store.AuditEvent
	ev := func(action, target string) {
		events = append(events, store.AuditEvent{Actor: audit.ActorSystem, Action: action, Target: target, TenantID: store.SystemTenantID, Outcome: audit.OutcomeSuccess})
	}
	if _, err := tx.GetTenant(ctx, store.SystemTenantID); errors.Is(err, store.ErrNotFound) {
		if err := tx.CreateTenant(ctx, store.Tenant{ID: store.SystemTenantID, Name: "system", Status: store.StatusActive, StatusChangedAt: now, StatusChangedBy: audit.ActorSystem, CreatedAt: now, UpdatedAt: now}); err != nil {
			return nil, err
		}
		ev("tenant.create", "tenant:"+store.SystemTenantID)
	} else if err != nil {
		return nil, err
	}
	if _, err := tx.GetPrincipal(ctx, BootstrapPrincipalID); errors.Is(err, store.ErrNotFound) {
		if err := tx.CreatePrincipal(ctx, store.Principal{ID: BootstrapPrincipalID, TenantID: store.SystemTenantID, Kind: store.KindService, DisplayName: "bootstrap admin", Status: store.StatusActive, StatusChangedAt: now, StatusChangedBy: audit.ActorSystem, CreatedAt: now, UpdatedAt: now}); err != nil {
			return nil, err
		}
		ev("principal.create", "principal:"+BootstrapPrincipalID)
	} else if err != nil {
		return nil, err
	}
	role, err := tx.GetRoleByName(ctx, store.SystemTenantID, BootstrapRoleName)
	if errors.Is(err, store.ErrNotFound) {
		role = store.Role{ID: store.NewID(store.PrefixRole), TenantID: store.SystemTenantID, Name: BootstrapRoleName, Permissions: []string{policy.PermAdmin}, CreatedAt: now, UpdatedAt: now}
		if err := tx.CreateRole(ctx, role); err != nil {
			return nil, err
		}
		ev("role.create", "role:"+role.ID)
	} else if err != nil {
		return nil, err
	}
	bound, _, err := tx.ListBindings(ctx, store.BindingFilter{PrincipalID: BootstrapPrincipalID, RoleID: role.ID}, store.Page{})
	if err != nil {
		return nil, err
	}
	if len(bound) == 0 {
		if err := tx.CreateBinding(ctx, store.Binding{PrincipalID: BootstrapPrincipalID, RoleID: role.ID, TenantID: store.SystemTenantID, CreatedAt: now}); err != nil {
			return nil, err
		}
		ev("binding.create", "binding:"+BootstrapPrincipalID+"/"+role.ID)
	}

	b := &Bootstrap{ClientID: cfg.BootstrapClientID}
	var secret store.ClientSecret
	if b.ClientID != "" {
		if secret, err = secrets.FromOperator(cfg.BootstrapClientSecret, now); err != nil {
			return nil, err
		}
	} else {
		b.ClientID = store.NewID(store.PrefixClient)
		b.ClientSecret, secret = secrets.New(now)
	}
	c := store.Client{
		ID: b.ClientID, TenantID: store.SystemTenantID, OwnerID: BootstrapPrincipalID, Name: "bootstrap admin",
		AuthMethod: store.AuthSecretBasic, Secrets: []store.ClientSecret{secret},
		GrantTypes: []string{store.GrantClientCredentials}, Scopes: []string{policy.PermAdmin},
		Status: store.StatusActive, StatusChangedAt: now, StatusChangedBy: audit.ActorSystem, CreatedAt: now, UpdatedAt: now,
	}
	if err := tx.CreateClient(ctx, c); err != nil {
		return nil, err
	}
	ev("client.create", "client:"+c.ID)
	if err := tx.SetSetting(ctx, settingBootstrap, c.ID); err != nil {
		return nil, err
	}
	if err := audit.Append(ctx, tx, events...); err != nil {
		return nil, err
	}
	return b, nil
}
