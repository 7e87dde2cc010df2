package console

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/store"
)

// listLimit is the page size of the console's listings.
const listLimit = "200"

func (c *Console) home(w http.ResponseWriter, r *http.Request, s *session) error {
	c.render(w, r, s, http.StatusOK, "home", nil)
	return nil
}

// keyRow is a legacy key with its diagnosis.
type keyRow struct {
	Key       apiv1.LegacyKey
	Diagnosis legacykeys.Diagnosis
	Migration string
}

// migrationState says, in words, where a key's holder stands.
func migrationState(k apiv1.LegacyKey, activeClients int) string {
	switch {
	case k.Status != string(store.StatusActive):
		return "retired: this key no longer works"
	case activeClients > 0:
		return "dual: you have an OAuth client; switch this key's callers to it, then revoke the key"
	}
	return "legacy only: create an OAuth client and move this key's callers to tokens"
}

func (c *Console) keyRows(ctx context.Context, s *session, ks []apiv1.LegacyKey, clients int) ([]keyRow, error) {
	rows := make([]keyRow, 0, len(ks))
	for _, k := range ks {
		var d legacykeys.Diagnosis
		if err := c.call(ctx, s, "GET", "/keys/"+url.PathEscape(k.ID)+"/diagnosis", nil, nil, &d); err != nil {
			return nil, err
		}
		rows = append(rows, keyRow{Key: k, Diagnosis: d, Migration: migrationState(k, clients)})
	}
	return rows, nil
}

func (c *Console) ownClients(ctx context.Context, s *session, owner string) ([]apiv1.Client, int, error) {
	var cl apiv1.List[apiv1.Client]
	if err := c.call(ctx, s, "GET", "/clients", url.Values{"owner_id": {owner}, "limit": {listLimit}}, nil, &cl); err != nil {
		return nil, 0, err
	}
	active := 0
	for _, x := range cl.Items {
		if x.Status == string(store.StatusActive) {
			active++
		}
	}
	return cl.Items, active, nil
}

func (c *Console) myKeys(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	var kl apiv1.List[apiv1.LegacyKey]
	if err := c.call(ctx, s, "GET", "/keys", url.Values{"owner_id": {s.Principal.ID}, "limit": {listLimit}}, nil, &kl); err != nil {
		return err
	}
	_, active, err := c.ownClients(ctx, s, s.Principal.ID)
	if err != nil {
		return err
	}
	rows, err := c.keyRows(ctx, s, kl.Items, active)
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "keys", map[string]any{"Rows": rows})
	return nil
}

func (c *Console) keyPage(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	var k apiv1.LegacyKey
	if err := c.call(ctx, s, "GET", "/keys/"+url.PathEscape(r.PathValue("id")), nil, nil, &k); err != nil {
		return err
	}
	clients, active, err := c.ownClients(ctx, s, k.OwnerID)
	if err != nil {
		return err
	}
	rows, err := c.keyRows(ctx, s, []apiv1.LegacyKey{k}, active)
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "key", map[string]any{"Row": rows[0], "Clients": clients, "Issuer": c.cfg.Issuer})
	return nil
}

func (c *Console) myClients(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.clientsPage(w, r, s, http.StatusOK, nil)
}

// clientsPage lists the principal's clients; fresh, when set, is a client
// whose secret was just made: the only time the secret is shown.
func (c *Console) clientsPage(w http.ResponseWriter, r *http.Request, s *session, status int, fresh *apiv1.Client) error {
	clients, _, err := c.ownClients(r.Context(), s, s.Principal.ID)
	if err != nil {
		return err
	}
	data := map[string]any{"Clients": clients, "Fresh": fresh, "TokenURL": c.cfg.Issuer + "/oauth2/token"}
	if fresh != nil {
		// After a rotation, the previous secret's end of overlap.
		for _, sec := range fresh.Secrets {
			if sec.ExpiresAt != nil {
				data["Rotated"] = sec.ExpiresAt
			}
		}
	}
	c.render(w, r, s, status, "clients", data)
	return nil
}

func (c *Console) createClient(w http.ResponseWriter, r *http.Request, s *session) error {
	name := strings.TrimSpace(r.PostForm.Get("name"))
	req := apiv1.CreateClient{TenantID: s.Principal.TenantID, OwnerID: s.Principal.ID, Name: name, Scopes: strings.Fields(r.PostForm.Get("scopes"))}
	var cl apiv1.Client
	if err := c.call(r.Context(), s, "POST", "/clients", nil, req, &cl); err != nil {
		return err
	}
	return c.clientsPage(w, r, s, http.StatusCreated, &cl)
}

// maxOverlapHours bounds the overlap a holder may choose (30 days).
const maxOverlapHours = 720

func (c *Console) rotateClient(w http.ResponseWriter, r *http.Request, s *session) error {
	req := apiv1.Rotate{}
	if v := strings.TrimSpace(r.PostForm.Get("overlap_hours")); v != "" {
		h, err := strconv.Atoi(v)
		if err != nil || h < 0 || h > maxOverlapHours {
			return errcode.Newf(errcode.RequestInvalid, "The overlap must be a whole number of hours from 0 to %d, not %q; nothing changed.", maxOverlapHours, v)
		}
		sec := int64(h) * 3600
		req.Overlap = &sec
	}
	var cl apiv1.Client
	if err := c.call(r.Context(), s, "POST", "/clients/"+url.PathEscape(r.PathValue("id"))+"/rotate-secret", nil, req, &cl); err != nil {
		return err
	}
	return c.clientsPage(w, r, s, http.StatusOK, &cl)
}

// operator refuses a plain principal's request for an operator page
// before any admin call, with the admin API's own words.
func operator(s *session) error {
	if !s.Access.IsAdmin() {
		return errcode.New(errcode.Forbidden, "This page is for administrators (permission authz:admin, or authz:tenant-admin for your tenant). Your own keys and clients are under My keys and My clients.")
	}
	return nil
}

func (c *Console) dashboard(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := operator(s); err != nil {
		return err
	}
	var rep legacykeys.MigrationReport
	// The same admin operation, hence the same function, as
	// `authz report migration`.
	if err := c.call(r.Context(), s, "GET", "/reports/migration", nil, nil, &rep); err != nil {
		return err
	}
	states := []legacykeys.HolderState{legacykeys.HolderLegacyOnly, legacykeys.HolderDual, legacykeys.HolderTokenOnly, legacykeys.HolderRetired}
	tenant := strings.TrimSpace(r.URL.Query().Get("tenant_id"))
	hq := url.Values{"days": {strconv.Itoa(historyDays)}}
	if tenant != "" {
		hq.Set("tenant_id", tenant)
	}
	var hist apiv1.List[legacykeys.MigrationDay]
	if err := c.call(r.Context(), s, "GET", "/reports/migration/history", hq, nil, &hist); err != nil {
		return err
	}
	exchanged, capped, err := c.keyExchanges(r.Context(), s, tenant)
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "dashboard", map[string]any{
		"Report": rep, "States": states, "Chart": holderChart(rep, states),
		"History": historyChart(c.now(), hist.Items, states, historyDays), "HistoryDays": historyDays, "Tenant": tenant,
		"Exchanged": exchanged, "ExchangedCapped": capped,
	})
	return nil
}

// historyDays is how far back the dashboard's history line goes.
const historyDays = 90

// exchangePages bounds the audit pages read for the 24-hour figure (1000
// events a page); past it the dashboard says "at least".
const exchangePages = 50

// keyExchanges counts the legacy key exchanges of the last 24 hours: the
// audit log's successful token.issue events whose target is a key, read
// through the admin API's audit listing (so a tenant admin counts only its
// tenant's). Each issued token is one event, written before the token
// leaves, so the figure is exact, across replicas and restarts, unlike
// the per-process Prometheus counter; a key's hourly use counts
// (store.AlertQueries.UsesSince) would need one query per key.
func (c *Console) keyExchanges(ctx context.Context, s *session, tenant string) (n int, capped bool, err error) {
	q := url.Values{"action": {"token.issue"}, "outcome": {"success"}, "since": {c.now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)}, "limit": {"1000"}}
	if tenant != "" {
		q.Set("tenant_id", tenant)
	}
	for range exchangePages {
		var evs apiv1.List[apiv1.AuditEvent]
		if err := c.call(ctx, s, "GET", "/audit/events", q, nil, &evs); err != nil {
			return 0, false, err
		}
		for _, e := range evs.Items {
			if strings.HasPrefix(e.Target, "key:") {
				n++
			}
		}
		if evs.Next == "" {
			return n, false, nil
		}
		q.Set("after", evs.Next)
	}
	return n, true, nil
}

func (c *Console) orphans(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := operator(s); err != nil {
		return err
	}
	var os apiv1.List[legacykeys.Orphan]
	if err := c.call(r.Context(), s, "GET", "/reports/orphans", nil, nil, &os); err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "orphans", map[string]any{"Orphans": os.Items})
	return nil
}

func orphanAction(a string) error {
	if a != "reassign" && a != "revoke" {
		return errcode.Newf(errcode.NotFound, "There is no orphan action %q; use reassign or revoke from the orphans page.", a)
	}
	return nil
}

// confirmOrphan is the confirmation page of a reassign or revoke.
func (c *Console) confirmOrphan(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := operator(s); err != nil {
		return err
	}
	action := r.PathValue("action")
	if err := orphanAction(action); err != nil {
		return err
	}
	var k apiv1.LegacyKey
	if err := c.call(r.Context(), s, "GET", "/keys/"+url.PathEscape(r.PathValue("id")), nil, nil, &k); err != nil {
		return err
	}
	var ps apiv1.List[apiv1.Principal]
	if action == "reassign" {
		if err := c.call(r.Context(), s, "GET", "/principals", url.Values{"tenant_id": {k.TenantID}, "status": {"active"}, "limit": {listLimit}}, nil, &ps); err != nil {
			return err
		}
	}
	c.render(w, r, s, http.StatusOK, "confirm", map[string]any{"Key": k, "Action": action, "Principals": ps.Items})
	return nil
}

func (c *Console) actOrphan(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := operator(s); err != nil {
		return err
	}
	action, id := r.PathValue("action"), r.PathValue("id")
	if err := orphanAction(action); err != nil {
		return err
	}
	if r.PostForm.Get("confirm") != "yes" {
		return errcode.New(errcode.RequestInvalid, "The action was not confirmed; nothing changed. Use the confirmation page's button.")
	}
	var k apiv1.LegacyKey
	var err error
	if action == "reassign" {
		owner := strings.TrimSpace(r.PostForm.Get("owner_id"))
		if owner == "" {
			return errcode.New(errcode.RequestInvalid, "Choose the principal that gets the key; nothing changed.")
		}
		err = c.call(r.Context(), s, "POST", "/keys/"+url.PathEscape(id)+"/reassign", nil, apiv1.ReassignKey{OwnerID: owner}, &k)
	} else {
		reason := strings.TrimSpace(r.PostForm.Get("reason"))
		err = c.call(r.Context(), s, "POST", "/keys/"+url.PathEscape(id)+"/revoke", nil, apiv1.RevokeKey{Reason: reason}, &k)
	}
	if err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "done", map[string]any{"Message": "Key " + k.ID + " was " + map[string]string{"reassign": "reassigned to " + k.OwnerID, "revoke": "revoked"}[action] + ".", "Back": "/orphans"})
	return nil
}

func (c *Console) principalPage(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := operator(s); err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("id")
	var p apiv1.Principal
	if err := c.call(ctx, s, "GET", "/principals/"+url.PathEscape(id), nil, nil, &p); err != nil {
		return err
	}
	var ks apiv1.List[apiv1.LegacyKey]
	var bs apiv1.List[apiv1.Binding]
	var evs apiv1.List[apiv1.AuditEvent]
	if err := c.call(ctx, s, "GET", "/keys", url.Values{"owner_id": {p.ID}, "tenant_id": {p.TenantID}, "limit": {listLimit}}, nil, &ks); err != nil {
		return err
	}
	clients, _, err := c.ownClients(ctx, s, p.ID)
	if err != nil {
		return err
	}
	if err := c.call(ctx, s, "GET", "/bindings", url.Values{"principal_id": {p.ID}, "limit": {listLimit}}, nil, &bs); err != nil {
		return err
	}
	if err := c.call(ctx, s, "GET", "/audit/events", url.Values{"target": {"principal:" + p.ID}, "tenant_id": {p.TenantID}, "limit": {"50"}}, nil, &evs); err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "principal", map[string]any{"P": p, "Keys": ks.Items, "Clients": clients, "Bindings": bs.Items, "Events": evs.Items})
	return nil
}

// principalAction refuses any action but suspend, resume and delete.
func principalAction(a string) error {
	if a != "suspend" && a != "resume" && a != "delete" {
		return errcode.Newf(errcode.NotFound, "There is no principal action %q; use suspend, resume or delete.", a)
	}
	return nil
}

// changePrincipal is the admin API's suspension, resumption or deletion
// (package offboarding, as for the CLI and SCIM), with the reason (kept
// in the audit event and shown by every key diagnosis) and, on a dry run,
// the credentials that would stop working.
func (c *Console) changePrincipal(ctx context.Context, s *session, id, action, reason string, dryRun bool) (apiv1.PrincipalChanged, error) {
	var out apiv1.PrincipalChanged
	method, path := "POST", "/principals/"+url.PathEscape(id)+"/"+action
	if action == "delete" {
		method, path = "DELETE", "/principals/"+url.PathEscape(id)
	}
	err := c.call(ctx, s, method, path, nil, apiv1.PrincipalStatusChange{Reason: reason, DryRun: dryRun}, &out)
	return out, err
}

// already refuses, as a conflict, an action whose dry run finds the
// principal with the status it would set: there is nothing to confirm.
func already(out apiv1.PrincipalChanged, action string) error {
	to := map[string]string{"suspend": "suspended", "resume": "active", "delete": "deleted"}[action]
	if out.Status == to {
		return errcode.Newf(errcode.Conflict, "Principal %s is already %s; nothing changed.", out.ID, to)
	}
	return nil
}

// confirmed is whether an action needs the confirmation page's button:
// a suspension stops credentials and a deletion cannot be undone.
func confirmed(action string) bool { return action == "suspend" || action == "delete" }

// confirmPrincipal is the confirmation page of a suspension or resumption:
// the admin API's dry run says which credentials stop working.
func (c *Console) confirmPrincipal(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := operator(s); err != nil {
		return err
	}
	action, id := r.PathValue("action"), r.PathValue("id")
	if err := principalAction(action); err != nil {
		return err
	}
	reason := strings.TrimSpace(r.URL.Query().Get("reason"))
	out, err := c.changePrincipal(r.Context(), s, id, action, reason, true)
	if err != nil {
		return err
	}
	if err := already(out, action); err != nil {
		return err
	}
	c.render(w, r, s, http.StatusOK, "confirmprincipal", map[string]any{"Out": out, "Action": action, "Reason": reason})
	return nil
}

func (c *Console) actPrincipal(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := operator(s); err != nil {
		return err
	}
	action, id := r.PathValue("action"), r.PathValue("id")
	if err := principalAction(action); err != nil {
		return err
	}
	ctx := r.Context()
	reason := strings.TrimSpace(r.PostForm.Get("reason"))
	if confirmed(action) {
		// The dry run first, so that a principal the operator may not
		// see answers 404 and a deleted one 409, as the change would.
		dry, err := c.changePrincipal(ctx, s, id, action, reason, true)
		if err != nil {
			return err
		}
		if err := already(dry, action); err != nil {
			return err
		}
		if r.PostForm.Get("confirm") != "yes" {
			return errcode.Newf(errcode.RequestInvalid, "The %s was not confirmed; nothing changed. Use the confirmation page's button, which lists what stops working.", map[string]string{"suspend": "suspension", "delete": "deletion"}[action])
		}
		if action == "delete" && reason == "" {
			return errcode.New(errcode.RequestInvalid, "A deletion cannot be undone, so it needs a reason (kept in the audit trail); nothing changed. Give one on the confirmation page.")
		}
	}
	out, err := c.changePrincipal(ctx, s, id, action, reason, false)
	if err != nil {
		return err
	}
	http.Redirect(w, r, "/principals/"+url.PathEscape(out.ID), http.StatusSeeOther)
	return nil
}

// auditFilters are the filters of `authz audit list`, passed through to
// the admin API, which validates them.
var auditFilters = []string{"actor", "target", "action", "outcome", "error_code", "since", "until", "tenant_id"}

// auditPageSize is the audit page's default number of events a page.
const auditPageSize = "100"

// auditPage lists the audit trail a page at a time with the admin API's
// own cursor: "after" is the listing's next, passed through as is (the
// admin API refuses one it did not make), and "limit" its page size.
func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := operator(s); err != nil {
		return err
	}
	q := url.Values{"limit": {auditPageSize}}
	form := map[string]string{}
	keep := url.Values{} // the filters (and page size) the page links carry
	for _, k := range append(auditFilters, "limit") {
		if v := strings.TrimSpace(r.URL.Query().Get(k)); v != "" {
			q.Set(k, v)
			form[k] = v
			keep.Set(k, v)
		}
	}
	after := r.URL.Query().Get("after")
	if after != "" {
		q.Set("after", after)
	}
	var evs apiv1.List[apiv1.AuditEvent]
	if err := c.call(r.Context(), s, "GET", "/audit/events", q, nil, &evs); err != nil {
		return err
	}
	data := map[string]any{"Events": evs.Items, "F": form, "Paged": after != ""}
	if after != "" {
		data["First"] = "/audit?" + keep.Encode()
	}
	if evs.Next != "" {
		next := url.Values{}
		for k, v := range keep {
			next[k] = v
		}
		next.Set("after", evs.Next)
		data["Next"] = "/audit?" + next.Encode()
	}
	c.render(w, r, s, http.StatusOK, "audit", data)
	return nil
}

// refusalWindow is how far back the refusals page and the usage chart look.
const refusalWindow = 30 * 24 * time.Hour

func (c *Console) refusals(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := operator(s); err != nil {
		return err
	}
	// The chart's 30 days start at midnight UTC, 29 days before today, so
	// that the table below it sums exactly what the chart draws.
	now := c.now().UTC()
	first := now.AddDate(0, 0, -29)
	since := time.Date(first.Year(), first.Month(), first.Day(), 0, 0, 0, 0, time.UTC)
	// Refused token requests are the usage flush's refusal counts: the
	// increments of authz_token_requests_total{outcome="refused"} per
	// tenant, hour and error_code, from every replica. (The audit log's
	// token.refuse events, which the table links to, are only samples of
	// malformed and rate-limited refusals.) A tenant admin reads only its
	// tenant's; a global administrator every tenant's, and those of
	// requests that named no known tenant.
	f := store.RefusalFilter{Since: since, TenantID: s.Access.Tenant, AllTenants: s.Access.Global}
	rcs, err := c.cfg.Store.ListRefusalCounts(r.Context(), f)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	days := map[string]map[string]int{}
	for _, rc := range rcs {
		counts[rc.ErrorCode] += int(rc.N)
		d := rc.Hour.UTC().Format("2006-01-02")
		if days[d] == nil {
			days[d] = map[string]int{}
		}
		days[d][rc.ErrorCode] += int(rc.N)
	}
	type row struct {
		Code  string
		Count int
	}
	var rows []row
	for k, v := range counts {
		rows = append(rows, row{k, v})
	}
	sort.Slice(rows, func(i, j int) bool {
		return rows[i].Count > rows[j].Count || (rows[i].Count == rows[j].Count && rows[i].Code < rows[j].Code)
	})
	data := map[string]any{"Rows": rows, "Chart": dayChart(now, days, "refusals per day")}
	// The counter has no tenant label: it is every tenant's, so only a
	// global administrator sees it; a tenant admin would otherwise read
	// other tenants' refusals.
	if c.cfg.Metrics != nil && s.Access.Global {
		live, err := refusalCounters(c.cfg.Metrics)
		if err != nil {
			return err
		}
		data["Counters"] = live
		data["ShowCounters"] = true
	}
	c.render(w, r, s, http.StatusOK, "refusals", data)
	return nil
}

func (c *Console) usage(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	since := c.now().Add(-refusalWindow).UTC()
	var kl apiv1.List[apiv1.LegacyKey]
	if err := c.call(ctx, s, "GET", "/keys", url.Values{"owner_id": {s.Principal.ID}, "limit": {listLimit}}, nil, &kl); err != nil {
		return err
	}
	clients, _, err := c.ownClients(ctx, s, s.Principal.ID)
	if err != nil {
		return err
	}
	// The principal's own credentials' token decisions, from the audit
	// log (which a plain principal cannot list through the admin API: the
	// console reads exactly its own targets).
	days := map[string]map[string]int{}
	codes := map[string]int{}
	count := func(target, kind string) error {
		f := store.AuditFilter{Target: target, Since: &since, TenantID: s.Principal.TenantID}
		p := store.Page{Limit: store.MaxLimit}
		for {
			evs, next, err := c.cfg.Store.ListAudit(ctx, f, p)
			if err != nil {
				return err
			}
			for _, e := range evs {
				d := e.Time.UTC().Format("2006-01-02")
				if days[d] == nil {
					days[d] = map[string]int{}
				}
				series := kind
				if e.Outcome == "refused" {
					series = "refused"
					codes[e.ErrorCode]++
				}
				days[d][series]++
			}
			if next == "" {
				return nil
			}
			p.After = next
		}
	}
	for _, k := range kl.Items {
		if err := count("key:"+k.ID, "legacy exchange"); err != nil {
			return err
		}
	}
	for _, cl := range clients {
		if err := count("client:"+cl.ID, "client credentials"); err != nil {
			return err
		}
	}
	c.render(w, r, s, http.StatusOK, "usage", map[string]any{"Chart": dayChart(c.now(), days, "requests per day"), "Codes": codes})
	return nil
}
