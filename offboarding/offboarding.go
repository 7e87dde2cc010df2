package offboarding

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// Defaults.
const (
	// RecentUse is how recently a credential must have been used for its
	// breakage to be announced (SPEC §5 principal.credentials_broken).
	RecentUse = 7 * 24 * time.Hour
	// DefaultTokenWindow is the outstanding-token window when none is
	// configured: the admin API's default maximum token lifetime.
	DefaultTokenWindow = 24 * time.Hour
	// MaxDetailed bounds the credentials whose 24-hour uses and
	// outstanding tokens are looked up (two indexed queries each), most
	// recently used first; the rest are listed with their last use only
	// and counted in the totals. A principal with 100,000 imported keys
	// must not turn a suspension into 200,000 queries.
	MaxDetailed = 200
	// MaxReason bounds a reason's length.
	MaxReason = 500
)

// Notifier queues a webhook in the caller's transaction (*notify.Notifier).
type Notifier interface {
	Enqueue(ctx context.Context, m store.Mutations, eventType string, data any) error
}

// Watcher sees every committed-to-be suspension and deletion inside its
// transaction (alerts.AdminBurst). broke is the number of credentials used
// recently that the change stops.
type Watcher interface {
	PrincipalOffboarded(ctx context.Context, tx store.Tx, actor string, p store.Principal, broke int) error
}

// Config configures a Service. Store is required.
type Config struct {
	Store    store.Store
	Notifier Notifier // nil: no webhooks
	Watcher  Watcher  // nil: no admin-burst detection
	// TokenWindow is the longest lifetime a token of this server can have
	// (0: DefaultTokenWindow): tokens issued longer ago have expired.
	TokenWindow time.Duration
	// View is the form of a principal in audit details (nil: the stored
	// form), so that the admin API keeps its audit shape.
	View func(store.Principal) any
	Now  func() time.Time
}

// Service applies principal status changes.
type Service struct {
	st       store.Store
	notifier Notifier
	watcher  Watcher
	window   time.Duration
	view     func(store.Principal) any
	now      func() time.Time
}

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{st: cfg.Store, notifier: cfg.Notifier, watcher: cfg.Watcher, window: cfg.TokenWindow, view: cfg.View, now: cfg.Now}
	if s.window <= 0 {
		s.window = DefaultTokenWindow
	}
	if s.view == nil {
		s.view = func(p store.Principal) any { return p }
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// Change asks for one principal's status to change. Its zero extras
// (Reason, DryRun, Visible) mean: none, apply, all tenants visible.
type Change struct {
	PrincipalID string
	// To is store.StatusSuspended, store.StatusActive (resume) or
	// store.StatusDeleted.
	To store.Status
	// Actor is who asks: "admin:<client id>", "scim:<token id>", "cli".
	Actor  string
	Reason string
	DryRun bool
	// Visible, if set, reports whether the caller may see a tenant; a
	// principal of another tenant is then not found.
	Visible func(tenantID string) bool
}

// Credential is one legacy key or client the principal owns.
type Credential struct {
	Type       string     `json:"type"` // "legacy_key" or "client"
	ID         string     `json:"id"`
	Name       string     `json:"name,omitempty"` // a key's label, a client's name
	Status     string     `json:"status"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	// Uses24h is the uses in the last 24 hours (hourly counts; nil when
	// not looked up, beyond MaxDetailed).
	Uses24h *int64 `json:"uses_24h,omitempty"`
	// OutstandingTokens estimates the tokens still valid: those issued
	// within the token window (nil when not looked up).
	OutstandingTokens *int64 `json:"outstanding_tokens,omitempty"`
	// UsedRecently: used in the last 7 days.
	UsedRecently bool   `json:"used_recently"`
	Remedy       string `json:"remedy,omitempty"`
}

// Impact is what a suspension or deletion stops.
type Impact struct {
	Credentials []Credential `json:"credentials"`
	ActiveKeys  int          `json:"active_keys"`
	// ActiveClients counts active clients.
	ActiveClients int `json:"active_clients"`
	// UsedRecently counts the credentials used in the last 7 days.
	UsedRecently int `json:"used_recently"`
	// TokenWindow is the window of OutstandingTokens.
	TokenWindow string    `json:"token_window"`
	AsOf        time.Time `json:"as_of"`
}

// Outcome is the result of Apply.
type Outcome struct {
	Before, After store.Principal
	// Changed is false for a dry run and for a change to the status the
	// principal already has (nothing is written then).
	Changed bool
	Impact  Impact
}

// Errors of Apply besides store errors.
var errUnchanged = errors.New("offboarding: unchanged")

// CheckReason validates a reason: bounded, printable, one line.
func CheckReason(reason string) error {
	if !utf8.ValidString(reason) {
		return errcode.New(errcode.RequestInvalid, "reason: not valid UTF-8")
	}
	if len(reason) > MaxReason {
		return errcode.Newf(errcode.RequestInvalid, "reason: at most %d bytes", MaxReason)
	}
	for _, r := range reason {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			return errcode.New(errcode.RequestInvalid, "reason: control characters are not allowed")
		}
	}
	return nil
}

// Apply makes the change in a transaction of its own. A dry run reads
// outside any transaction, so that it never holds the writer lock while it
// counts uses.
func (s *Service) Apply(ctx context.Context, ch Change) (Outcome, error) {
	if ch.DryRun {
		return s.preview(ctx, s.st, ch)
	}
	var out Outcome
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		var err error
		out, err = s.ApplyTx(ctx, tx, ch)
		return err
	})
	return out, err
}

// preview checks the change and lists its impact, writing nothing.
func (s *Service) preview(ctx context.Context, q store.Queries, ch Change) (Outcome, error) {
	if err := CheckReason(ch.Reason); err != nil {
		return Outcome{}, err
	}
	if _, ok := actions[ch.To]; !ok {
		return Outcome{}, fmt.Errorf("offboarding: no change to status %q", ch.To)
	}
	p, err := q.GetPrincipal(ctx, ch.PrincipalID)
	if err != nil {
		return Outcome{}, err
	}
	if ch.Visible != nil && !ch.Visible(p.TenantID) {
		return Outcome{}, fmt.Errorf("principal %s: %w", ch.PrincipalID, store.ErrNotFound)
	}
	if _, err := next(p, ch, s.now()); err != nil && !errors.Is(err, errUnchanged) {
		return Outcome{}, err
	}
	out := Outcome{Before: p, After: p}
	out.Impact, err = s.Impact(ctx, q, p)
	return out, err
}

// ApplyTx makes the change inside the caller's transaction (SCIM batches
// its own writes with it). On a dry run it writes nothing.
func (s *Service) ApplyTx(ctx context.Context, tx store.Tx, ch Change) (Outcome, error) {
	out, err := s.preview(ctx, tx, ch)
	if err != nil || ch.DryRun {
		return out, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	p := out.Before
	after, err := tx.UpdatePrincipal(ctx, ch.PrincipalID, func(cur store.Principal) (store.Principal, error) {
		return next(cur, ch, now)
	})
	if errors.Is(err, errUnchanged) {
		return out, nil
	}
	if err != nil {
		return Outcome{}, err
	}
	out.After, out.Changed = after, true
	if err := audit.Append(ctx, tx, store.AuditEvent{
		Time: now, Actor: ch.Actor, Action: actions[ch.To], Target: "principal:" + p.ID, TenantID: p.TenantID,
		Outcome: audit.OutcomeSuccess, Details: withReason(audit.Changes(s.view(out.Before), s.view(after)), ch.Reason),
	}); err != nil {
		return Outcome{}, err
	}
	if err := s.announce(ctx, tx, ch, out, now); err != nil {
		return Outcome{}, err
	}
	return out, nil
}

var actions = map[store.Status]string{
	store.StatusSuspended: "principal.suspend",
	store.StatusActive:    "principal.resume",
	store.StatusDeleted:   "principal.delete",
}

// next is the principal after the change, errUnchanged if it already has
// that status, or a refusal.
func next(p store.Principal, ch Change, now time.Time) (store.Principal, error) {
	if p.Status == ch.To {
		return p, errUnchanged
	}
	if p.Status == store.StatusDeleted {
		return p, errcode.Newf(errcode.Conflict, "principal %s was deleted; a deleted principal cannot be suspended or resumed", p.ID)
	}
	p.Status, p.StatusChangedAt, p.StatusChangedBy, p.UpdatedAt = ch.To, now, ch.Actor, now
	if ch.To == store.StatusDeleted {
		// A tombstone, not a removal: a key or client that still points
		// here is refused as owner_deleted, not as a mystery.
		p.DeletedAt, p.DeletedBy = &now, ch.Actor
	}
	return p, nil
}

// withReason adds the reason to audit details.
func withReason(details json.RawMessage, reason string) json.RawMessage {
	if reason == "" {
		return details
	}
	m := map[string]any{}
	if len(details) > 0 {
		if err := json.Unmarshal(details, &m); err != nil {
			m = map[string]any{"changes": details}
		}
	}
	m["reason"] = reason
	raw, err := json.Marshal(m)
	if err != nil {
		return details
	}
	return raw
}

// Impact lists what the principal's suspension or deletion stops: its
// active keys and clients, most recently used first.
func (s *Service) Impact(ctx context.Context, q store.Queries, p store.Principal) (Impact, error) {
	now := s.now().UTC()
	im := Impact{Credentials: []Credential{}, TokenWindow: s.window.String(), AsOf: now.Truncate(time.Microsecond)}
	pg := store.Page{Limit: store.MaxLimit}
	for {
		ks, nextPage, err := q.ListLegacyKeys(ctx, store.LegacyKeyFilter{OwnerID: p.ID, Status: store.StatusActive}, pg)
		if err != nil {
			return Impact{}, err
		}
		for _, k := range ks {
			if k.TenantID != p.TenantID {
				continue // an owner id of another tenant does not act for it
			}
			im.ActiveKeys++
			im.Credentials = append(im.Credentials, Credential{Type: "legacy_key", ID: k.ID, Name: k.Label, Status: string(k.Status), LastUsedAt: k.LastUsedAt,
				Remedy: fmt.Sprintf("authz key reassign %s --owner <service principal>", k.ID)})
		}
		if nextPage == "" {
			break
		}
		pg.After = nextPage
	}
	pg = store.Page{Limit: store.MaxLimit}
	for {
		cs, nextPage, err := q.ListClients(ctx, store.ClientFilter{OwnerID: p.ID, TenantID: p.TenantID, Status: store.StatusActive}, pg)
		if err != nil {
			return Impact{}, err
		}
		for _, c := range cs {
			im.ActiveClients++
			im.Credentials = append(im.Credentials, Credential{Type: "client", ID: c.ID, Name: c.Name, Status: string(c.Status), LastUsedAt: c.LastUsedAt,
				Remedy: fmt.Sprintf("authz client create --tenant %s --owner <service principal> (then move the workload from %s to it)", c.TenantID, c.ID)})
		}
		if nextPage == "" {
			break
		}
		pg.After = nextPage
	}
	slices.SortStableFunc(im.Credentials, func(a, b Credential) int {
		switch {
		case a.LastUsedAt == nil && b.LastUsedAt == nil:
			return strings.Compare(a.ID, b.ID)
		case a.LastUsedAt == nil:
			return 1
		case b.LastUsedAt == nil:
			return -1
		}
		if c := b.LastUsedAt.Compare(*a.LastUsedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	for i := range im.Credentials {
		c := &im.Credentials[i]
		if c.LastUsedAt != nil && now.Sub(*c.LastUsedAt) <= RecentUse {
			c.UsedRecently = true
			im.UsedRecently++
		}
		if i >= MaxDetailed {
			continue
		}
		cred := credential(*c)
		uses, err := q.UsesSince(ctx, cred, now.Add(-24*time.Hour))
		if err != nil {
			return Impact{}, err
		}
		since := now.Add(-s.window)
		issued, err := q.CountAuditByCode(ctx, store.AuditFilter{Target: cred, Action: "token.issue", Since: &since})
		if err != nil {
			return Impact{}, err
		}
		var n int64
		for _, v := range issued {
			n += v
		}
		c.Uses24h, c.OutstandingTokens = &uses, &n
	}
	return im, nil
}

// credential is the name the usage counts and audit targets use.
func credential(c Credential) string {
	if c.Type == "client" {
		return "client:" + c.ID
	}
	return "key:" + c.ID
}
