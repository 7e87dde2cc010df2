package server

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/authz/authz/admin"
	"github.com/authz/authz/store"
)

// adminHandler serves the admin API on its own listener.
func (s *Server) adminHandler() http.Handler {
	return s.middleware("admin", s.adminAPI)
}

// newAdminAPI builds the admin API; links is nil without a console.
func (s *Server) newAdminAPI(links admin.ConsoleLinks) http.Handler {
	return admin.New(admin.Config{
		Store:            s.Store,
		Auth:             bearerAuth{s},
		Secrets:          s.Secrets,
		Keys:             s.Legacy,
		SigningKeys:      s.Keys,
		Notifier:         s.Notifier,
		Offboarding:      s.Offboarding,
		MaxTokenLifetime: s.cfg.MaxTokenLifetime,
		Registerer:       s.Registry,
		Logger:           s.log,
		Now:              s.cfg.Now,

		// The issuer is the aud of tokens that name no resource server
		// (oauth.Config.DefaultAudience): no tenant registers it.
		OpenAudiences: []string{strings.TrimRight(s.cfg.Issuer, "/")},
		Console:       links,
	})
}

// bearerAuth lets the admin API accept this server's own access tokens,
// checked live (signature, expiry, revocation, and the client, owner and
// tenant still active) by the token service.
type bearerAuth struct{ s *Server }

func (b bearerAuth) AuthenticateAdmin(ctx context.Context, bearer string) (admin.Caller, error) {
	c, err := b.s.OAuth.AuthenticateBearer(ctx, bearer)
	if err != nil {
		return admin.Caller{}, err
	}
	owner := c.Subject // a token from a legacy key: the key's owner
	if !c.FromLegacyKey() {
		cl, err := b.s.Directory.GetClient(ctx, c.ClientID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return admin.Caller{}, err
		}
		owner = cl.OwnerID
	}
	return admin.Caller{ClientID: c.ClientID, Owner: owner, Subject: c.Subject, TenantID: c.Tenant, Scopes: c.Scopes()}, nil
}
