package server

import (
	"net/http"

	"github.com/authz/authz/console"
	"github.com/authz/authz/outbound"
)

// ConsoleHandler returns the web console handler, nil without a console
// (for in-process tests).
func (s *Server) ConsoleHandler() http.Handler { return s.console }

// buildConsole builds the admin API and, with a ConsoleAddr, the web
// console that calls it in process and makes its sign-in links.
func (s *Server) buildConsole() error {
	if s.cfg.ConsoleAddr == "" {
		s.adminAPI = s.newAdminAPI(nil)
		return nil
	}
	links := console.NewLinks(s.cfg.ConsoleURL, s.cfg.Now)
	s.adminAPI = s.newAdminAPI(links)
	var oidc *console.OIDC
	if s.cfg.ConsoleOIDCIssuer != "" {
		// The provider is an address someone else chose, as a jwks_uri
		// is: its requests obey the same outbound rules.
		f := outbound.New(outbound.Config{Allow: s.cfg.outboundAllow, Logger: s.log})
		oidc = &console.OIDC{
			Issuer: s.cfg.ConsoleOIDCIssuer, ClientID: s.cfg.ConsoleOIDCClientID, ClientSecret: s.cfg.ConsoleOIDCClientSecret,
			Claim: s.cfg.ConsoleOIDCClaim, HTTPClient: f.Client(),
		}
	}
	c, err := console.New(console.Config{
		Store: s.Store, Admin: s.adminAPI, Links: links, BaseURL: s.cfg.ConsoleURL,
		Issuer: s.cfg.Issuer, Logger: s.log, Now: s.cfg.Now, Metrics: s.Registry, OIDC: oidc,
	})
	if err != nil {
		return err
	}
	s.console = s.middleware("console", c.Handler())
	return nil
}
