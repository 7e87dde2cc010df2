package admin

import (
	"net/http"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/audit"
	"github.com/authz/authz/store"
)

func (h *handler) listAudit(w http.ResponseWriter, r *http.Request, c *call) error {
	p, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AuditFilter{
		Actor:     q.Get("actor"),
		Target:    q.Get("target"),
		Action:    q.Get("action"),
		Outcome:   q.Get("outcome"),
		ErrorCode: q.Get("error_code"),
	}
	switch q.Get("order") {
	case "", "desc":
		f.Descending = true
	case "asc":
	default:
		return invalid("order", "must be asc or desc")
	}
	if f.Outcome != "" && f.Outcome != audit.OutcomeSuccess && f.Outcome != audit.OutcomeRefused {
		return invalid("outcome", "must be %s or %s", audit.OutcomeSuccess, audit.OutcomeRefused)
	}
	if f.Since, err = parseTime("since", q.Get("since")); err != nil {
		return err
	}
	if f.Until, err = parseTime("until", q.Get("until")); err != nil {
		return err
	}
	tenant, ok := c.listTenant(q.Get("tenant_id"))
	if !ok {
		return reply(w, http.StatusOK, list([]apiv1.AuditEvent(nil), ""))
	}
	f.TenantID = tenant
	evs, next, err := h.st.ListAudit(r.Context(), f, p)
	if err != nil {
		return err
	}
	items := make([]apiv1.AuditEvent, 0, len(evs))
	for _, e := range evs {
		items = append(items, auditView(e))
	}
	return reply(w, http.StatusOK, list(items, next))
}

// verifyAudit walks the whole chain. Only authz:admin may: the chain spans
// every tenant, and a tenant admin must not learn about others' events.
func (h *handler) verifyAudit(w http.ResponseWriter, r *http.Request, _ *call) error {
	rep, err := audit.Verify(r.Context(), h.st)
	if err != nil {
		return err
	}
	out := apiv1.AuditReport{Events: rep.Events, Head: rep.Head, HeadHash: rep.HeadHash, OK: rep.OK}
	if b := rep.FirstBreak; b != nil {
		out.FirstBreak = &apiv1.AuditBreak{Seq: b.Seq, ID: b.ID, Problem: b.Problem, Detail: b.Detail}
	}
	return reply(w, http.StatusOK, out)
}
