package postgres_test

import (
	"context"
	"database/sql"
	"io/fs"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/postgres"
	"github.com/authz/authz/store/storetest"
)

// TestAuditPartitions upgrades a schema holding an audit log to the
// partitioned table (migration 12), then prunes across partitions: the
// migrated table and a whole day go as partitions, the rest row by row,
// and the chain verifies from the anchor before and after.
func TestAuditPartitions(t *testing.T) {
	ctx := t.Context()
	dsn := storetest.PostgresURL(t)
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sub, err := fs.Sub(postgres.Migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	exists := func(table string) bool {
		var ok bool
		if err := db.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	now := time.Now().UTC()
	day := func(d int) time.Time { return now.Truncate(24*time.Hour).AddDate(0, 0, d) }
	add := func(times ...time.Time) {
		for _, at := range times {
			err := s.Tx(ctx, func(tx store.Tx) error {
				return audit.Append(ctx, tx, store.AuditEvent{Time: at, Action: "token.issue", Target: "client:cli_1", Outcome: audit.OutcomeSuccess})
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}

	// The schema as it was before partitioning, with a log of three days
	// ending five days ago: events 1..3.
	if _, err := p.ApplyVersion(ctx, 12, false); err != nil {
		t.Fatal(err)
	}
	add(day(-7).Add(time.Hour), day(-6).Add(time.Hour), day(-5).Add(time.Hour))
	if _, err := p.ApplyVersion(ctx, 12, true); err != nil {
		t.Fatal(err)
	}
	legacy := "audit_events_before_" + day(-4).Format("20060102")
	if !exists(legacy) {
		t.Fatalf("the migrated table is not the partition %s", legacy)
	}
	rep, err := audit.Verify(ctx, s)
	if err != nil || !rep.OK || rep.Events != 3 {
		t.Fatalf("verify after the migration: %+v, %v", rep, err)
	}

	// Partitions of the days from three days ago on; events 4..7, one of
	// them (7) stamped before event 6 but chained after it.
	if err := s.PrepareAudit(ctx, day(-3)); err != nil {
		t.Fatal(err)
	}
	for d := -3; d <= 4; d++ {
		if name := "audit_events_p" + day(d).Format("20060102"); !exists(name) {
			t.Fatalf("PrepareAudit made no partition %s", name)
		}
	}
	add(day(-3).Add(time.Hour), day(-2).Add(time.Hour), day(-2).Add(3*time.Hour), day(-2).Add(2*time.Hour))

	// Prune up to event 5, the first of day -2: the migrated table, day -3
	// and the empty day -1 are dropped; day -2 still holds events above
	// the anchor, today and the days ahead are kept.
	until := day(-2).Add(time.Hour + time.Minute)
	var seg = new(segmentBuffer)
	exp, err := audit.Export(ctx, s, until, now, seg)
	if err != nil {
		t.Fatal(err)
	}
	if exp.LastSeq != 5 {
		t.Fatalf("segment up to %s ends at %d, want 5", until, exp.LastSeq)
	}
	res, err := audit.Prune(ctx, s, until, exp.LastHash, now)
	if err != nil {
		t.Fatal(err)
	}
	if res.Partitions != 3 || res.Rows != 1 || res.AnchorSeq != 5 {
		t.Fatalf("prune = %+v, want 3 partitions dropped and event 5, in day -2, deleted as a row", res)
	}
	for d, want := range map[int]bool{-3: false, -2: true, -1: false, 0: true, 1: true, 4: true} {
		if got := exists("audit_events_p" + day(d).Format("20060102")); got != want || exists(legacy) {
			t.Fatalf("partition of day %d exists: %v, want %v (the migrated one: %v)", d, got, want, exists(legacy))
		}
	}
	all, _, err := s.ListAudit(ctx, store.AuditFilter{}, store.Page{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	seqs := make([]int64, 0, len(all))
	for _, e := range all {
		seqs = append(seqs, e.Seq)
	}
	// 8 is the audit.prune event itself, stamped now.
	if !slices.Equal(seqs, []int64{6, 7, 8}) {
		t.Fatalf("after the prune the log holds %v, want [6 7 8]", seqs)
	}
	rep, err = audit.Verify(ctx, s)
	if err != nil || !rep.OK || rep.AnchorSeq != 5 || rep.Events != 3 {
		t.Fatalf("verify after the prune: %+v, %v", rep, err)
	}

	// Back down to one table and up again: the kept events survive both.
	if _, err := p.ApplyVersion(ctx, 12, false); err != nil {
		t.Fatal(err)
	}
	if _, err := p.ApplyVersion(ctx, 12, true); err != nil {
		t.Fatal(err)
	}
	all2, _, err := s.ListAudit(context.Background(), store.AuditFilter{}, store.Page{Limit: store.MaxLimit})
	if err != nil || len(all2) != 3 {
		t.Fatalf("after down and up: %d events, %v", len(all2), err)
	}
}

type segmentBuffer struct{ b []byte }

func (s *segmentBuffer) Write(p []byte) (int, error) { s.b = append(s.b, p...); return len(p), nil }
