package server

import "net/http"

// adminHandler serves the admin API on its own listener.
func (s *Server) adminHandler() http.Handler {
	return s.middleware(http.NotFoundHandler())
}
