package oauth

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// Lockout and rate-limit kinds (ratelimit.Kind*).
const (
	kindClient = "client"
	kindKey    = "key"
)

// guard refuses a client id or key id that is rate limited or locked out.
func (s *Server) guard(_ context.Context, kind, id string) error {
	if err := s.limit(kind, id); err != nil {
		return err
	}
	if s.deps.Lockout == nil {
		return nil
	}
	if locked, wait := s.deps.Lockout.Locked(kind, id); locked {
		secs := max(int((wait+time.Second-1)/time.Second), 1)
		return &errcode.Error{Code: errcode.RateLimited, RetryAfter: secs,
			Description: "Locked for " + strconv.Itoa(secs) + " s after repeated failed authentication; fix the credential and retry after that."}
	}
	return nil
}

// failed counts a failed authentication of a client id or key id; the
// failure that locks it is written to the audit log, where `authz key
// diagnose` and operators find it.
func (s *Server) failed(ctx context.Context, kind, id string) {
	if s.deps.Lockout == nil || !s.deps.Lockout.Failed(kind, id) {
		return
	}
	details, _ := json.Marshal(map[string]string{"reason": "repeated failed authentication"})
	ev := store.AuditEvent{
		Actor: "system", Action: kind + ".lockout", Target: kind + ":" + id,
		TenantID: stateFrom(ctx).tenantID, Outcome: "refused", ErrorCode: string(errcode.RateLimited), Details: details,
	}
	if err := s.deps.Audit.Record(ctx, ev); err != nil {
		s.cfg.Logger.WarnContext(ctx, "could not audit a lockout", "target", ev.Target, "err", err)
	}
}

func (s *Server) succeeded(kind, id string) {
	if s.deps.Lockout != nil {
		s.deps.Lockout.Succeeded(kind, id)
	}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
