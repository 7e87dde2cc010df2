package legacykeys

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// HolderState is where a key holder is in the move from keys to tokens,
// judged by what it did in the last UsageWindow. Only token-only means
// "ready to revoke", and only for a holder authz has watched for a whole
// window: calling a holder ready that merely had not been seen yet would
// cause exactly the outage authz exists to prevent.
type HolderState string

const (
	// HolderLegacyOnly used a key in the window and no client.
	HolderLegacyOnly HolderState = "legacy-only"
	// HolderDual used a key and a client in the window.
	HolderDual HolderState = "dual"
	// HolderTokenOnly obtained a token through a client in the window,
	// used no key, and every active key was watched a whole window: its
	// keys are ready to revoke.
	HolderTokenOnly HolderState = "token-only"
	// HolderNew used no key in the window and has an active key that
	// entered authz (issued or imported) within it: not yet judged.
	HolderNew HolderState = "new"
	// HolderIdle has active keys, watched a whole window, and used
	// neither a key nor a client in it: nothing proves it moved.
	HolderIdle HolderState = "idle"
	// HolderRetired has no active key left.
	HolderRetired HolderState = "retired"
)

// HolderStates lists every state in the report's column order.
func HolderStates() []HolderState {
	return []HolderState{HolderLegacyOnly, HolderDual, HolderNew, HolderIdle, HolderTokenOnly, HolderRetired}
}

// UsageWindow is the period the holder states are judged over.
const UsageWindow = 30 * 24 * time.Hour

// MigrationReport is `authz report migration`: per tenant, how much the
// legacy keys are still used and how long they have left; per holder, its
// state.
type MigrationReport struct {
	GeneratedAt time.Time         `json:"generated_at"`
	Tenants     []TenantMigration `json:"tenants"`
	Holders     []HolderMigration `json:"holders"`
}

// TenantMigration is one tenant's line of the migration report.
type TenantMigration struct {
	TenantID   string     `json:"tenant_id"`
	TenantName string     `json:"tenant_name,omitempty"`
	ActiveKeys int64      `json:"active_keys"`
	Used7d     int64      `json:"used_7d"`
	Used30d    int64      `json:"used_30d"`
	NeverUsed  int64      `json:"never_used"`
	SunsetAt   *time.Time `json:"sunset_at,omitempty"`
	// SunsetDaysLeft is whole days until the sunset (negative after it).
	SunsetDaysLeft *int `json:"sunset_days_left,omitempty"`
	// Holders counts the tenant's key holders by state.
	Holders map[HolderState]int `json:"holders"`
}

// HolderMigration is one key holder's line of the migration report.
type HolderMigration struct {
	TenantID    string      `json:"tenant_id"`
	PrincipalID string      `json:"principal_id"`
	State       HolderState `json:"state"`
	ActiveKeys  int64       `json:"active_keys"`
	KeysUsed30d int64       `json:"keys_used_30d"`
	// ClientsUsed30d counts the holder's clients used in the window.
	ClientsUsed30d int64      `json:"clients_used_30d"`
	LastKeyUse     *time.Time `json:"last_key_use,omitempty"`
	// LastKeyAdded is when the holder's newest active key entered authz.
	LastKeyAdded *time.Time `json:"last_key_added,omitempty"`
}

// StateOf derives a holder's state from its activity since the start of
// the window (now - UsageWindow). The order matters: use of a key decides
// first; then a key too recent to judge; only then the clients.
func StateOf(h store.HolderStats, since time.Time) HolderState {
	switch {
	case h.ActiveKeys == 0:
		return HolderRetired
	case h.KeysUsedSince > 0 && h.ClientsUsedSince > 0:
		return HolderDual
	case h.KeysUsedSince > 0:
		return HolderLegacyOnly
	case h.LastKeyAdded == nil || !h.LastKeyAdded.Before(since):
		// A key that entered authz within the window has not been watched
		// for a whole one. (No time at all cannot happen for a holder with
		// active keys; it is judged the careful way.)
		return HolderNew
	case h.ClientsUsedSince > 0:
		return HolderTokenOnly
	}
	return HolderIdle
}

// MigrationReport builds the migration report for one tenant ("" = all).
func (s *Service) MigrationReport(ctx context.Context, tenantID string) (MigrationReport, error) {
	now := s.clock()
	rep := MigrationReport{GeneratedAt: now, Tenants: []TenantMigration{}, Holders: []HolderMigration{}}
	stats, err := s.st.LegacyKeyStats(ctx, tenantID, now)
	if err != nil {
		return MigrationReport{}, fmt.Errorf("legacykeys: key stats: %w", err)
	}
	since := now.Add(-UsageWindow)
	holders, err := s.st.HolderStats(ctx, tenantID, since)
	if err != nil {
		return MigrationReport{}, fmt.Errorf("legacykeys: holder stats: %w", err)
	}
	byTenant := map[string]*TenantMigration{}
	line := func(id string) (*TenantMigration, error) {
		if t := byTenant[id]; t != nil {
			return t, nil
		}
		t := &TenantMigration{TenantID: id, Holders: map[HolderState]int{}}
		ten, err := s.st.GetTenant(ctx, id)
		switch {
		case err == nil:
			t.TenantName, t.SunsetAt = ten.Name, ten.LegacySunsetAt
			if ten.LegacySunsetAt != nil {
				t.SunsetDaysLeft = ptrTo(daysUntil(now, *ten.LegacySunsetAt))
			}
		case !errors.Is(err, store.ErrNotFound):
			return nil, fmt.Errorf("legacykeys: get tenant %s: %w", id, err)
		}
		byTenant[id] = t
		return t, nil
	}
	for _, st := range stats {
		t, err := line(st.TenantID)
		if err != nil {
			return MigrationReport{}, err
		}
		t.ActiveKeys, t.Used7d, t.Used30d, t.NeverUsed = st.Active, st.Used7d, st.Used30d, st.NeverUsed
	}
	for _, h := range holders {
		t, err := line(h.TenantID)
		if err != nil {
			return MigrationReport{}, err
		}
		state := StateOf(h, since)
		t.Holders[state]++
		rep.Holders = append(rep.Holders, HolderMigration{
			TenantID: h.TenantID, PrincipalID: h.PrincipalID, State: state, ActiveKeys: h.ActiveKeys,
			KeysUsed30d: h.KeysUsedSince, ClientsUsed30d: h.ClientsUsedSince, LastKeyUse: h.LastKeyUse,
			LastKeyAdded: h.LastKeyAdded,
		})
	}
	for _, t := range byTenant {
		rep.Tenants = append(rep.Tenants, *t)
	}
	sort.Slice(rep.Tenants, func(i, j int) bool { return rep.Tenants[i].TenantID < rep.Tenants[j].TenantID })
	sort.Slice(rep.Holders, func(i, j int) bool {
		a, b := rep.Holders[i], rep.Holders[j]
		if a.TenantID != b.TenantID {
			return a.TenantID < b.TenantID
		}
		return a.PrincipalID < b.PrincipalID
	})
	return rep, nil
}

// Orphan is an active key that cannot be exchanged until an administrator
// repairs its owner chain, with the refusal it gets.
type Orphan struct {
	KeyID        string       `json:"key_id"`
	TenantID     string       `json:"tenant_id"`
	OwnerID      string       `json:"owner_id,omitempty"`
	OwnerRef     string       `json:"owner_ref,omitempty"`
	Label        string       `json:"label,omitempty"`
	Environment  string       `json:"environment,omitempty"`
	Source       string       `json:"source"`
	Code         errcode.Code `json:"code"`
	OwnerStatus  string       `json:"owner_status,omitempty"`
	TenantStatus string       `json:"tenant_status,omitempty"`
	CreatedAt    time.Time    `json:"created_at"`
	LastUsedAt   *time.Time   `json:"last_used_at,omitempty"`
	// BrokenRecently: the key was used in the last 7 days, so someone
	// depends on it right now (principal.credentials_broken). These are
	// listed first.
	BrokenRecently bool `json:"broken_recently"`
}

// RecentUse is how recent a use makes an orphan "broken recently".
const RecentUse = 7 * 24 * time.Hour

// OrphansPage lists one page of the active keys whose owner is deleted,
// missing or suspended, or whose tenant is suspended, for one tenant ("" =
// all): first those used in the RecentUse before the first page was asked
// for (credentials someone depends on right now), then the others, each part
// by key id; next is the cursor of the following page, "" after the last.
// The cursor carries the part and the boundary of "recent" fixed at the
// first page, so that a report read page by page over hours still lists
// every orphan exactly once. No call holds more than store.MaxLimit.
func (s *Service) OrphansPage(ctx context.Context, tenantID string, page store.Page) ([]Orphan, string, error) {
	cur, err := parseOrphanCursor(page.After)
	if err != nil {
		return nil, "", err
	}
	if cur.since.IsZero() {
		cur = orphanCursor{recent: true, since: s.clock().Add(-RecentUse).UTC().Truncate(time.Microsecond)}
	}
	limit := page.Limit
	if limit <= 0 {
		limit = store.DefaultLimit
	}
	limit = min(limit, store.MaxLimit)
	var out []Orphan
	for {
		os, next, err := s.st.ListOrphanKeys(ctx, store.OrphanKeyFilter{TenantID: tenantID, UsedSince: cur.since, Used: cur.recent},
			store.Page{Limit: max(limit-len(out), 1), After: cur.after})
		if err != nil {
			return nil, "", fmt.Errorf("legacykeys: list orphan keys: %w", err)
		}
		if len(out) == limit {
			// The page is full: os only told whether the other part
			// has anything left.
			if len(os) == 0 {
				return out, "", nil
			}
			return out, cur.String(), nil
		}
		for _, o := range os {
			out = append(out, orphanOf(o, cur.recent))
		}
		if next != "" {
			cur.after = next
			return out, cur.String(), nil
		}
		if !cur.recent {
			return out, "", nil
		}
		cur = orphanCursor{since: cur.since}
	}
}

func orphanOf(o store.OrphanKey, recent bool) Orphan {
	k := o.Key
	return Orphan{
		KeyID: k.ID, TenantID: k.TenantID, OwnerID: k.OwnerID, OwnerRef: k.OwnerRef,
		Label: k.Label, Environment: k.Environment, Source: k.Source,
		Code: orphanCode(o), OwnerStatus: string(o.OwnerStatus), TenantStatus: string(o.TenantStatus),
		CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, BrokenRecently: recent,
	}
}

// orphanCursor is where the orphans report goes on: the part (recent or
// not), the boundary of "recent" fixed at the first page, and the last key
// id listed in that part ("" = the part's start). Written
// "recent|rest:<unix microseconds>:<key id>".
type orphanCursor struct {
	recent bool
	since  time.Time
	after  string
}

func (c orphanCursor) String() string {
	part := "rest"
	if c.recent {
		part = "recent"
	}
	return part + ":" + strconv.FormatInt(c.since.UnixMicro(), 10) + ":" + c.after
}

func parseOrphanCursor(s string) (orphanCursor, error) {
	if s == "" {
		return orphanCursor{}, nil
	}
	bad := errcode.New(errcode.RequestInvalid, "after: not a cursor the orphans report returned; start without after and follow next")
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || (parts[0] != "recent" && parts[0] != "rest") {
		return orphanCursor{}, bad
	}
	us, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || us <= 0 {
		return orphanCursor{}, bad
	}
	return orphanCursor{recent: parts[0] == "recent", since: time.UnixMicro(us).UTC(), after: parts[2]}, nil
}

// Orphans lists every orphan of one tenant ("" = all), in OrphansPage's
// order: for tests and small stores; the admin API pages with OrphansPage.
func (s *Service) Orphans(ctx context.Context, tenantID string) ([]Orphan, error) {
	out := []Orphan{}
	page := store.Page{Limit: store.MaxLimit}
	for {
		os, next, err := s.OrphansPage(ctx, tenantID, page)
		if err != nil {
			return nil, err
		}
		out = append(out, os...)
		if next == "" {
			return out, nil
		}
		page.After = next
	}
}

// orphanCode is the refusal Decide gives such a key, in Decide's order.
func orphanCode(o store.OrphanKey) errcode.Code {
	switch o.OwnerStatus {
	case store.StatusDeleted:
		return errcode.OwnerDeleted
	case "":
		return errcode.OwnerNotFound
	case store.StatusSuspended:
		return errcode.OwnerSuspended
	}
	return errcode.TenantSuspended
}

// ExpiringPage lists one page of the active keys of one tenant ("" = all)
// that expire within the given time from now (already expired keys are
// not listed), soonest first; next is the cursor of the following page.
// It reads the keys in the window through the expiry index and no others.
func (s *Service) ExpiringPage(ctx context.Context, tenantID string, within time.Duration, page store.Page) ([]store.LegacyKey, string, error) {
	if within <= 0 {
		return nil, "", errcode.Newf(errcode.RequestInvalid, "within must be positive (got %v)", within)
	}
	if page.After != "" && !validExpiryCursor(page.After) {
		return nil, "", errcode.Newf(errcode.RequestInvalid, "after: %q is not a cursor of this report; pass the next value a previous page returned", page.After)
	}
	now := s.clock()
	ks, next, err := s.st.ListExpiringKeys(ctx, tenantID, now, now.Add(within), page)
	if err != nil {
		return nil, "", fmt.Errorf("legacykeys: list expiring keys: %w", err)
	}
	for i := range ks {
		ks[i] = redact(ks[i])
	}
	return ks, next, nil
}

// validExpiryCursor checks the form of the store's expiring-keys cursor,
// "<Unix µs>.<key id>", so that a mangled one is the caller's error.
func validExpiryCursor(s string) bool {
	us, id, ok := strings.Cut(s, ".")
	_, err := strconv.ParseInt(us, 10, 64)
	return ok && err == nil && id != ""
}

// Expiring lists every active key of one tenant ("" = all) that expires
// within the given time from now, soonest first.
func (s *Service) Expiring(ctx context.Context, tenantID string, within time.Duration) ([]store.LegacyKey, error) {
	out := []store.LegacyKey{}
	page := store.Page{Limit: store.MaxLimit}
	for {
		ks, next, err := s.ExpiringPage(ctx, tenantID, within, page)
		if err != nil {
			return nil, err
		}
		out = append(out, ks...)
		if next == "" || len(ks) == 0 {
			return out, nil
		}
		page.After = next
	}
}

// eachKey pages through the keys matching f.
func (s *Service) eachKey(ctx context.Context, f store.LegacyKeyFilter, fn func(store.LegacyKey) error) error {
	page := store.Page{Limit: store.MaxLimit}
	for {
		ks, next, err := s.st.ListLegacyKeys(ctx, f, page)
		if err != nil {
			return fmt.Errorf("legacykeys: list keys: %w", err)
		}
		for _, k := range ks {
			if err := fn(k); err != nil {
				return err
			}
		}
		if next == "" || len(ks) == 0 {
			return nil
		}
		page.After = next
	}
}
