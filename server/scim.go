package server

import (
	"net/http"

	"github.com/authz/authz/admin"
	"github.com/authz/authz/scim"
)

// scimHandler is the SCIM 2.0 service provider of the public listener (an
// IdP must reach it; the admin listener stays private). Its status changes
// are the admin API's own (admin.Lifecycle).
func (s *Server) scimHandler() http.Handler {
	return scim.New(scim.Config{
		Store:  s.Store,
		Tokens: s.Directory,
		Hasher: s.Secrets,
		Lifecycle: admin.NewLifecycle(admin.Config{
			Store: s.Store, Secrets: s.Secrets, Notifier: s.Notifier, Offboarding: s.Offboarding, Logger: s.log, Now: s.cfg.Now,
		}),
		Audit:      s.Audit,
		BaseURL:    s.cfg.Issuer,
		Registerer: s.Registry,
		Logger:     s.log,
		Now:        s.cfg.Now,
	})
}
