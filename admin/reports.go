package admin

import (
	"net/http"
	"strconv"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
)

// reportTenant reads ?tenant_id= for a report: "" is every tenant the
// caller sees. ok is false when the caller asked for a tenant it does not
// see.
func reportTenant(r *http.Request, c *call) (string, bool) {
	return c.listTenant(r.URL.Query().Get("tenant_id"))
}

func (h *handler) migrationReport(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.keys == nil {
		return errNoKeyService
	}
	tenant, ok := reportTenant(r, c)
	if !ok {
		return notFound("tenant", r.URL.Query().Get("tenant_id"))
	}
	rep, err := h.keys.MigrationReport(r.Context(), tenant)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, rep)
}

func (h *handler) orphansReport(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.keys == nil {
		return errNoKeyService
	}
	tenant, ok := reportTenant(r, c)
	if !ok {
		return notFound("tenant", r.URL.Query().Get("tenant_id"))
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	os, next, err := h.keys.OrphansPage(r.Context(), tenant, p)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, list(os, next))
}

// defaultExpiringWithin is the window of the expiring report when none is
// given.
const defaultExpiringWithin = 30 * 24 * time.Hour

func (h *handler) expiringReport(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.keys == nil {
		return errNoKeyService
	}
	within := defaultExpiringWithin
	if s := r.URL.Query().Get("within"); s != "" {
		var err error
		if within, err = parseDuration("within", s); err != nil {
			return err
		}
	}
	tenant, ok := reportTenant(r, c)
	if !ok {
		return notFound("tenant", r.URL.Query().Get("tenant_id"))
	}
	p, err := page(r)
	if err != nil {
		return err
	}
	ks, next, err := h.keys.ExpiringPage(r.Context(), tenant, within, p)
	if err != nil {
		return err
	}
	items := make([]apiv1.LegacyKey, 0, len(ks))
	for _, k := range ks {
		items = append(items, keyView(k))
	}
	return reply(w, http.StatusOK, list(items, next))
}

// defaultHistoryDays is how far back the migration history goes when no
// days are given.
const defaultHistoryDays = 90

func (h *handler) migrationHistory(w http.ResponseWriter, r *http.Request, c *call) error {
	if h.keys == nil {
		return errNoKeyService
	}
	days := defaultHistoryDays
	if s := r.URL.Query().Get("days"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > legacykeys.MaxHistoryDays {
			return errcode.Newf(errcode.RequestInvalid, "days: must be a whole number from 1 to %d", legacykeys.MaxHistoryDays)
		}
		days = n
	}
	tenant, ok := reportTenant(r, c)
	if !ok {
		return notFound("tenant", r.URL.Query().Get("tenant_id"))
	}
	rows, err := h.keys.MigrationHistory(r.Context(), tenant, days)
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, list(rows, ""))
}
