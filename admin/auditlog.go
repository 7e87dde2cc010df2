package admin

import (
	"net/http"
	"time"

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
	out := apiv1.AuditReport{Events: rep.Events, AnchorSeq: rep.AnchorSeq, AnchorHash: rep.AnchorHash,
		Head: rep.Head, HeadHash: rep.HeadHash, OK: rep.OK}
	if b := rep.FirstBreak; b != nil {
		out.FirstBreak = &apiv1.AuditBreak{Seq: b.Seq, ID: b.ID, Problem: b.Problem, Detail: b.Detail}
	}
	return reply(w, http.StatusOK, out)
}

// exportAudit streams the segment up to until as JSONL (audit.Export).
// Errors found before the first byte is sent are answered as usual; one
// found later (a break met mid-way, a store failure) aborts the
// connection, so that the client sees a truncated download rather than a
// segment that looks complete.
func (h *handler) exportAudit(w http.ResponseWriter, r *http.Request, _ *call) error {
	q := r.URL.Query()
	if q.Get("until") == "" {
		return invalid("until", "required: export the events before this RFC 3339 time")
	}
	until, err := parseTime("until", q.Get("until"))
	if err != nil {
		return err
	}
	// A large segment takes longer than the listener's write timeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	lw := &lazyWriter{w: w}
	if _, err := audit.Export(r.Context(), h.st, *until, h.now(), lw); err != nil {
		if !lw.started {
			return err
		}
		h.log.ErrorContext(r.Context(), "audit export stopped mid-way; the download is cut short", "err", err)
		panic(http.ErrAbortHandler)
	}
	if !lw.started {
		lw.start()
	}
	return nil
}

// lazyWriter sends the status line with the first byte.
type lazyWriter struct {
	w       http.ResponseWriter
	started bool
}

func (l *lazyWriter) start() {
	l.started = true
	l.w.Header().Set("Content-Type", "application/x-ndjson")
	l.w.Header().Set("Cache-Control", "no-store")
	l.w.WriteHeader(http.StatusOK)
}

func (l *lazyWriter) Write(b []byte) (int, error) {
	if !l.started {
		l.start()
	}
	return l.w.Write(b)
}

// pruneAudit deletes an exported segment (audit.Prune): only when the
// anchor is the segment's last hash.
func (h *handler) pruneAudit(w http.ResponseWriter, r *http.Request, _ *call) error {
	var in apiv1.AuditPrune
	if err := decode(w, r, &in, 4<<10, false); err != nil {
		return err
	}
	if in.Until.IsZero() {
		return invalid("until", "required: the until the segment was exported for")
	}
	// Deleting a large segment outlasts the listener's write timeout.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	res, err := audit.Prune(r.Context(), h.st, in.Until, in.Anchor, h.now())
	if err != nil {
		return err
	}
	return reply(w, http.StatusOK, apiv1.AuditPruned{AnchorSeq: res.AnchorSeq, AnchorHash: res.AnchorHash,
		RowsDeleted: res.Rows, PartitionsDropped: res.Partitions})
}
