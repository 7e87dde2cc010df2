package oauth

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/ratelimit"
	"github.com/authz/authz/reqmeta"
	"github.com/authz/authz/store"
)

// Lockout and rate-limit kinds (ratelimit.Kind*).
const (
	kindClient = ratelimit.KindClient
	kindKey    = ratelimit.KindKey
)

// attempt is an authentication of credential (kind, id) by this request's
// caller, whose address (reqmeta, through --trusted-proxy) is the source
// that failures count against.
func attempt(ctx context.Context, kind, id string) ratelimit.Attempt {
	a := ratelimit.Attempt{Kind: kind, ID: id, Addr: reqmeta.From(ctx).ClientAddr}
	if kind == kindKey && id == ratelimit.ImportedKeys {
		a.Weak = true
	}
	return a
}

// guard refuses a request that is rate limited under limitKey, or whose
// source is locked out of credential (kind, id). The caller presenting the
// right credential from an address that did not fail is never refused here
// because someone else failed.
func (s *Server) guard(ctx context.Context, kind, id, limitKey string) error {
	if err := s.limit(kind, limitKey); err != nil {
		return err
	}
	if s.deps.Lockout == nil {
		return nil
	}
	if locked, wait := s.deps.Lockout.Locked(attempt(ctx, kind, id)); locked {
		secs := max(int((wait+time.Second-1)/time.Second), 1)
		return &errcode.Error{Code: errcode.RateLimited, RetryAfter: secs,
			Description: "Locked for " + strconv.Itoa(secs) + " s after repeated failed authentication from this address; fix the credential and retry after that."}
	}
	return nil
}

// failed counts a failed authentication of a client id or key id by this
// request's source. A lockout and a distributed-guessing alarm are each
// written to the audit log once, where `authz key diagnose`, operators and
// alerting find them.
func (s *Server) failed(ctx context.Context, kind, id string, notGuessable bool) {
	if s.deps.Lockout == nil {
		return
	}
	a := attempt(ctx, kind, id)
	a.NotGuessable = notGuessable
	out := s.deps.Lockout.Failed(ctx, a)
	if out.Locked != "" {
		s.metrics.lockouts.WithLabelValues(kind, out.Locked).Inc()
		reason := "repeated failed authentication from this source"
		if out.Locked == ratelimit.ScopeCredential {
			reason = "repeated failed authentication from many sources: the credential is locked for everyone (--lockout-weak-keys)"
		}
		s.auditLock(ctx, kind+".lockout", kind, id, map[string]string{"reason": reason, "scope": out.Locked, "source": a.Addr})
	}
	if out.Alert {
		s.metrics.guessing.WithLabelValues(kind).Inc()
		s.cfg.Logger.WarnContext(ctx, "distributed guessing: many failed authentications of one credential from many sources",
			"credential", kind+":"+id)
		s.auditLock(ctx, kind+".guessing", kind, id, map[string]string{"reason": "failed authentications of this credential from all sources reached the alert threshold"})
	}
}

func (s *Server) auditLock(ctx context.Context, action, kind, id string, details map[string]string) {
	raw, _ := json.Marshal(details)
	ev := store.AuditEvent{
		Actor: "system", Action: action, Target: kind + ":" + id,
		TenantID: stateFrom(ctx).tenantID, Outcome: "refused", ErrorCode: string(errcode.RateLimited), Details: raw,
	}
	if err := s.deps.Audit.Record(ctx, ev); err != nil {
		s.cfg.Logger.WarnContext(ctx, "could not audit a lockout", "target", ev.Target, "action", action, "err", err)
	}
}

// succeeded forgets the failures of this source for the credential. Never
// for the class of imported keys: a caller holding one valid imported key
// would otherwise reset its count between guesses at the others.
func (s *Server) succeeded(ctx context.Context, kind, id string) {
	if s.deps.Lockout != nil && id != ratelimit.ImportedKeys {
		s.deps.Lockout.Succeeded(ctx, attempt(ctx, kind, id))
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
