package legacykeys

import (
	"context"
	"fmt"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// HistoryRetention is how long the daily counts by holder state are kept.
const HistoryRetention = 366 * 24 * time.Hour

// MaxHistoryDays bounds `report migration --history`: the days kept.
const MaxHistoryDays = 366

// historyEvery is how often RunHistory records today's counts: the row of
// a day holds the last count taken that day.
const historyEvery = time.Hour

// MigrationDay is one tenant's counts by holder state on one UTC day.
type MigrationDay struct {
	TenantID   string              `json:"tenant_id"`
	Day        string              `json:"day"` // YYYY-MM-DD, UTC
	Holders    map[HolderState]int `json:"holders"`
	ActiveKeys int64               `json:"active_keys"`
	// UpdatedAt is when the counts were taken (the last time that day).
	UpdatedAt time.Time `json:"updated_at"`
}

// RecordHistory takes today's counts of every tenant from the migration
// report, stores them as today's row (replacing an earlier count of the
// same day) and prunes the rows older than HistoryRetention.
func (s *Service) RecordHistory(ctx context.Context) error {
	rep, err := s.MigrationReport(ctx, "")
	if err != nil {
		return err
	}
	day := rep.GeneratedAt.UTC().Truncate(24 * time.Hour)
	days := make([]store.MigrationDay, 0, len(rep.Tenants))
	for _, t := range rep.Tenants {
		counts := make(map[string]int64, len(HolderStates()))
		for _, st := range HolderStates() {
			counts[string(st)] = int64(t.Holders[st])
		}
		days = append(days, store.MigrationDay{TenantID: t.TenantID, Day: day, Counts: counts, ActiveKeys: t.ActiveKeys, UpdatedAt: rep.GeneratedAt})
	}
	if err := s.st.PutMigrationDays(ctx, days); err != nil {
		return fmt.Errorf("legacykeys: store migration history: %w", err)
	}
	if _, err := s.st.PruneMigrationHistory(ctx, day.Add(-HistoryRetention)); err != nil {
		return fmt.Errorf("legacykeys: prune migration history: %w", err)
	}
	return nil
}

// RunHistory records the history now and every hour until ctx ends. A
// failed recording is logged and retried at the next tick.
func (s *Service) RunHistory(ctx context.Context) error {
	t := time.NewTicker(historyEvery)
	defer t.Stop()
	for {
		if err := s.RecordHistory(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("legacykeys: migration history not recorded", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// MigrationHistory returns the daily counts of the last days days
// (today included) of one tenant ("" = all), oldest first.
func (s *Service) MigrationHistory(ctx context.Context, tenantID string, days int) ([]MigrationDay, error) {
	if days < 1 || days > MaxHistoryDays {
		return nil, errcode.Newf(errcode.RequestInvalid, "days must be from 1 to %d (the history is kept a year); got %d", MaxHistoryDays, days)
	}
	today := s.clock().UTC().Truncate(24 * time.Hour)
	rows, err := s.st.ListMigrationHistory(ctx, tenantID, today.AddDate(0, 0, 1-days))
	if err != nil {
		return nil, fmt.Errorf("legacykeys: list migration history: %w", err)
	}
	out := make([]MigrationDay, 0, len(rows))
	for _, r := range rows {
		d := MigrationDay{TenantID: r.TenantID, Day: r.Day.UTC().Format(time.DateOnly), Holders: map[HolderState]int{}, ActiveKeys: r.ActiveKeys, UpdatedAt: r.UpdatedAt}
		for k, v := range r.Counts {
			d.Holders[HolderState(k)] = int(v)
		}
		out = append(out, d)
	}
	return out, nil
}
