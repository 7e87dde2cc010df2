package storetest

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

// testAuditRetention: the anchor moves only forward, the segment end is
// the latest event stamped before until (a late-stamped event included),
// PruneAudit deletes exactly what lies at or below the anchor, in batches,
// and appends go on after it.
func testAuditRetention(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	a, err := s.AuditAnchor(ctx)
	must(t, err)
	if a.Seq != 0 || a.Hash != nil || !a.Time.IsZero() {
		t.Fatalf("anchor of a log never pruned = %+v", a)
	}
	// Events 1..10 at t0, t0+1m, ..., t0+9m.
	evs := appendAudit(t, s, 10, nil)

	for _, c := range []struct {
		name    string
		after   int64
		until   time.Time
		wantSeq int64
	}{
		{"before everything", 0, at(0), 0},
		{"first four", 0, at(4 * time.Minute), 4},
		{"exactly at an event excludes it", 0, at(3 * time.Minute), 3},
		{"a microsecond later includes it", 0, at(3*time.Minute + time.Microsecond), 4},
		{"after the anchor only", 5, at(4 * time.Minute), 0},
		{"all", 0, at(time.Hour), 10},
	} {
		end, err := s.AuditSegmentEnd(ctx, c.after, c.until)
		must(t, err)
		if end.Seq != c.wantSeq {
			t.Errorf("%s: segment end %d, want %d", c.name, end.Seq, c.wantSeq)
			continue
		}
		if c.wantSeq > 0 {
			w := evs[c.wantSeq-1]
			if !bytes.Equal(end.Hash, w.Hash) || !end.Time.Equal(w.Time) {
				t.Errorf("%s: segment end %+v, want the hash and time of event %d", c.name, end, c.wantSeq)
			}
		}
	}
	// Event 11 is stamped between events 2 and 3 but chained last: the
	// latest stamp before t0+2m is its, so the segment runs to it.
	late := appendAudit(t, s, 1, func(_ int, e *store.AuditEvent) { e.Time = at(time.Minute + 30*time.Second) })
	end, err := s.AuditSegmentEnd(ctx, 0, at(2*time.Minute))
	must(t, err)
	if end.Seq != 11 || !bytes.Equal(end.Hash, late[0].Hash) {
		t.Fatalf("segment end with a late-stamped event = %d, want 11", end.Seq)
	}

	anchor := store.AuditAnchor{Seq: 4, Hash: evs[3].Hash, Time: evs[3].Time, PrunedAt: at(time.Hour)}
	must(t, s.Tx(ctx, func(tx store.Tx) error {
		cur, err := tx.LockAuditAnchor(ctx)
		if err != nil || cur.Seq != 0 {
			t.Errorf("locked anchor = %+v, %v", cur, err)
		}
		return tx.SetAuditAnchor(ctx, anchor)
	}))
	for _, back := range []int64{4, 3} {
		err := s.Tx(ctx, func(tx store.Tx) error {
			return tx.SetAuditAnchor(ctx, store.AuditAnchor{Seq: back, Hash: evs[back-1].Hash, Time: at(0), PrunedAt: at(0)})
		})
		wantErr(t, err, store.ErrConflict, "moving the anchor back or nowhere")
	}
	got, err := s.AuditAnchor(ctx)
	must(t, err)
	if d := diff(got, anchor); d != "" {
		t.Fatalf("anchor:%s", d)
	}
	// The anchor moved, nothing was deleted yet.
	all, _, err := s.ListAudit(ctx, store.AuditFilter{}, store.Page{Limit: store.MaxLimit})
	must(t, err)
	if len(all) != 11 {
		t.Fatalf("%d events after moving the anchor, want all 11 until PruneAudit", len(all))
	}

	res, err := s.PruneAudit(ctx, 3)
	must(t, err)
	if res.Rows+int64(res.Partitions) == 0 || res.Rows > 4 {
		t.Fatalf("PruneAudit = %+v, want the 4 events at or below the anchor", res)
	}
	all, _, err = s.ListAudit(ctx, store.AuditFilter{}, store.Page{Limit: store.MaxLimit})
	must(t, err)
	if len(all) != 7 || all[0].Seq != 5 || all[6].Seq != 11 {
		t.Fatalf("after PruneAudit: %d events from %d, want 5..11", len(all), all[0].Seq)
	}
	res, err = s.PruneAudit(ctx, 3)
	must(t, err)
	if res.Rows != 0 || res.Partitions != 0 {
		t.Fatalf("second PruneAudit = %+v, want nothing left to delete", res)
	}
	// The head is untouched: appends continue the chain.
	more := appendAudit(t, s, 2, nil)
	if more[0].Seq != 12 || !bytes.Equal(more[0].PrevHash, late[0].Hash) {
		t.Fatalf("append after a prune got seq %d", more[0].Seq)
	}
	end, err = s.AuditSegmentEnd(ctx, anchor.Seq, at(time.Hour))
	must(t, err)
	if end.Seq != 13 {
		t.Fatalf("segment end after the anchor = %d, want 13", end.Seq)
	}
}

// testLeases: a lease is one holder's until it expires or is released,
// and of holders racing for a free lease exactly one gets it.
func testLeases(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	steps := []struct {
		op     string // take, release
		holder string
		at     time.Duration
		want   bool
	}{
		{"take", "a", 0, true},
		{"take", "b", 0, false},
		{"take", "a", 30 * time.Second, true}, // renewed until 1m30s
		{"take", "b", 80 * time.Second, false},
		{"take", "b", 90 * time.Second, true}, // expired: taken over
		{"release", "a", 0, false},            // not a's: no effect
		{"take", "a", 100 * time.Second, false},
		{"release", "b", 0, false},
		{"take", "a", 100 * time.Second, true},
	}
	for i, st := range steps {
		if st.op == "release" {
			must(t, s.ReleaseLease(ctx, "job", st.holder))
			continue
		}
		got, err := s.TryLease(ctx, "job", st.holder, at(st.at), time.Minute)
		must(t, err)
		if got != st.want {
			t.Fatalf("step %d: %s takes the lease at +%v: %v, want %v", i, st.holder, st.at, got, st.want)
		}
	}
	// Another name is another lease.
	got, err := s.TryLease(ctx, "other", "b", at(0), time.Minute)
	must(t, err)
	if !got {
		t.Fatal("a second lease name was not free")
	}

	const racers = 8
	var wg sync.WaitGroup
	wins := make([]bool, racers)
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() {
			wins[i], errs[i] = s.TryLease(ctx, "race", string(rune('a'+i)), at(0), time.Minute)
		})
	}
	wg.Wait()
	n := 0
	for i := range racers {
		must(t, errs[i])
		if wins[i] {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d of %d racers got one lease", n, racers)
	}
}
