package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// ConsoleLinks makes one-time sign-in links of the web console
// (*console.Console satisfies it).
type ConsoleLinks interface {
	// NewLink stores, in tx, a link for the principal valid for ttl and
	// returns its URL and expiry.
	NewLink(ctx context.Context, tx store.Tx, principalID, createdBy string, ttl time.Duration) (string, time.Time, error)
}

// Bounds of a sign-in link's lifetime: long enough to paste into a
// browser, short enough that a link forgotten in a chat log is dead.
const (
	defaultConsoleLinkTTL = 15 * time.Minute
	maxConsoleLinkTTL     = 24 * time.Hour
)

func (h *handler) createConsoleLink(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.console == nil {
		return errcode.New(errcode.Unavailable, "the web console is off on this server (start it with --console-addr)")
	}
	var req apiv1.CreateConsoleLink
	if err := decode(w, r, &req, maxBody, false); err != nil {
		return err
	}
	ttl := defaultConsoleLinkTTL
	if req.TTL != 0 {
		if req.TTL < 0 || time.Duration(req.TTL)*time.Second > maxConsoleLinkTTL {
			return invalid("ttl", "must be 1 to %d seconds", int64(maxConsoleLinkTTL.Seconds()))
		}
		ttl = time.Duration(req.TTL) * time.Second
	}
	ctx := r.Context()
	var out apiv1.ConsoleLink
	err := h.st.Tx(ctx, func(tx store.Tx) error {
		p, err := tx.GetPrincipal(ctx, req.PrincipalID)
		if err != nil {
			if req.PrincipalID == "" {
				return invalid("principal_id", "required")
			}
			return storeErr(err, "principal", req.PrincipalID, "")
		}
		if !c.sees(p.TenantID) {
			return notFound("principal", req.PrincipalID)
		}
		if p.Status == store.StatusDeleted {
			return errcode.Newf(errcode.Conflict, "principal %s was deleted; it cannot sign in", p.ID)
		}
		url, exp, err := h.console.NewLink(ctx, tx, p.ID, c.actor, ttl)
		if err != nil {
			return err
		}
		out = apiv1.ConsoleLink{URL: url, PrincipalID: p.ID, ExpiresAt: exp}
		return h.record(ctx, tx, c, "console.link", "principal:"+p.ID, p.TenantID, nil, map[string]any{"expires_at": exp})
	})
	if err != nil {
		return err
	}
	return reply(w, http.StatusCreated, out)
}
