package server

import (
	"context"
	"net/http"

	"github.com/authz/authz/admin"
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
		MaxTokenLifetime: s.cfg.MaxTokenLifetime,
		Registerer:       s.Registry,
		Logger:           s.log,
		Now:              s.cfg.Now,
		Console:          links,
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
	return admin.Caller{ClientID: c.ClientID, Subject: c.Subject, TenantID: c.Tenant, Scopes: c.Scopes()}, nil
}
