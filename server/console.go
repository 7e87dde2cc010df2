package server

import (
	"net/http"

	"github.com/authz/authz/console"
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
	c, err := console.New(console.Config{
		Store: s.Store, Admin: s.adminAPI, Links: links, BaseURL: s.cfg.ConsoleURL,
		Issuer: s.cfg.Issuer, Logger: s.log, Now: s.cfg.Now, Metrics: s.Registry,
	})
	if err != nil {
		return err
	}
	s.console = s.middleware("console", c.Handler())
	return nil
}
