package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/authz/authz/store"
)

// countingStore counts the two ways a commit reaches the store, and can
// make AppendAudit fail after the append committed (afterAppend): the
// answer lost on the way back.
type countingStore struct {
	store.Store
	txs, appends atomic.Int64
	afterAppend  atomic.Pointer[error]
}

func (c *countingStore) Tx(ctx context.Context, fn func(store.Tx) error) error {
	c.txs.Add(1)
	return c.Store.Tx(ctx, fn)
}

func (c *countingStore) AppendAudit(ctx context.Context, evs []store.AuditEvent) error {
	c.appends.Add(1)
	err := c.Store.AppendAudit(ctx, evs)
	if e := c.afterAppend.Swap(nil); e != nil && err == nil {
		return *e
	}
	return err
}

// recordTargets records one event per target, in turn, and fails the test
// on an error.
func recordTargets(t *testing.T, r *Recorder, targets ...string) {
	t.Helper()
	for _, target := range targets {
		ev := event("token.issue")
		ev.Target = target
		if err := r.Record(context.Background(), ev); err != nil {
			t.Fatalf("Record %s: %v", target, err)
		}
	}
}

// exactlyOnce fails unless the log holds every one of targets exactly once
// and nothing else, in one chain that verifies.
func exactlyOnce(t *testing.T, st store.Store, targets []string) {
	t.Helper()
	seen := map[string]int{}
	for _, ev := range allEvents(t, st) {
		seen[ev.Target]++
	}
	for _, target := range targets {
		if seen[target] != 1 {
			t.Errorf("%s is in the log %d times, want once", target, seen[target])
		}
		delete(seen, target)
	}
	for target, n := range seen {
		t.Errorf("%s is in the log %d times, want none", target, n)
	}
	mustVerify(t, st, int64(len(targets)))
}

// The recorder reads the head under its lock once, then appends after the
// head it wrote last without reading it; when another writer moved the
// head meanwhile, nothing is written by that attempt and the batch is
// chained again under the lock, its waiters told only of the success.
func TestRecorderAppendsAfterTheHeadItWrote(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		st := &countingStore{Store: b.st}
		r := NewRecorder(st, RecorderConfig{})
		want := func(txs, appends int64, conflicts float64) {
			t.Helper()
			if st.txs.Load() != txs || st.appends.Load() != appends || testutil.ToFloat64(r.met.headConflicts) != conflicts {
				t.Fatalf("%d transactions, %d appends, %v conflicts; want %d, %d, %v",
					st.txs.Load(), st.appends.Load(), testutil.ToFloat64(r.met.headConflicts), txs, appends, conflicts)
			}
		}
		recordTargets(t, r, "token:1")
		want(1, 0, 0) // the head is read once
		recordTargets(t, r, "token:2", "token:3", "token:4")
		want(1, 3, 0)

		// A change's transaction appends (audit.Append): the head moves.
		appendTx(t, b.st, store.AuditEvent{Action: "principal.suspend", Target: "principal:prn_1", Outcome: OutcomeSuccess})
		recordTargets(t, r, "token:5")
		want(2, 4, 1)
		recordTargets(t, r, "token:6")
		want(2, 5, 1) // one conflict: straight back to appending without the lock
		exactlyOnce(t, b.st, []string{"token:1", "token:2", "token:3", "token:4", "principal:prn_1", "token:5", "token:6"})
	})
}

// An optimistic append whose outcome is unknown (here: it committed, and
// the answer was lost) fails its waiters and is not retried, which could
// write it twice; the next commit reads the head again.
func TestRecorderDoesNotRetryAnUnknownOutcome(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		st := &countingStore{Store: b.st}
		r := NewRecorder(st, RecorderConfig{})
		recordTargets(t, r, "token:1")
		lost := fmt.Errorf("connection reset: %w", store.ErrUnavailable)
		st.afterAppend.Store(&lost)
		ev := event("token.issue")
		ev.Target = "token:2"
		if err := r.Record(context.Background(), ev); !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("Record whose answer was lost = %v, want ErrUnavailable", err)
		}
		txs := st.txs.Load()
		recordTargets(t, r, "token:3")
		if st.txs.Load() != txs+1 {
			t.Fatalf("the commit after an unknown outcome took %d transactions, want 1 (the head read again)", st.txs.Load()-txs)
		}
		exactlyOnce(t, b.st, []string{"token:1", "token:2", "token:3"})
	})
}

// Two replicas (two stores, two recorders, one database) appending at the
// same time: every event is in the log exactly once, in one chain.
func TestRecorderReplicasShareOneChain(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		second := openBackend(t, b.url)
		rs := []*Recorder{NewRecorder(b.st, RecorderConfig{}), NewRecorder(second.st, RecorderConfig{})}
		var targets []string
		// In turn first, so that each finds the head moved by the other.
		for round := range 3 {
			for i, r := range rs {
				target := fmt.Sprintf("token:r%d:seq%d", i, round)
				recordTargets(t, r, target)
				targets = append(targets, target)
			}
		}
		conflicts := func() float64 {
			return testutil.ToFloat64(rs[0].met.headConflicts) + testutil.ToFloat64(rs[1].met.headConflicts)
		}
		// Rounds 1 and 2: each replica's commit finds the other's event
		// after the head it wrote.
		if c := conflicts(); c != 4 {
			t.Fatalf("%v conflicts between replicas appending in turn, want 4", c)
		}

		// Then all at once: 8 callers per replica, 25 events each.
		const callers, each = 8, 25
		var mu sync.Mutex
		var wg sync.WaitGroup
		errs := make(chan error, len(rs)*callers*each)
		for i, r := range rs {
			for c := range callers {
				wg.Go(func() {
					for k := range each {
						ev := event("token.issue")
						ev.Target = fmt.Sprintf("token:r%d:c%d:%d", i, c, k)
						if err := r.Record(context.Background(), ev); err != nil {
							errs <- fmt.Errorf("%s: %w", ev.Target, err)
							return
						}
						mu.Lock()
						targets = append(targets, ev.Target)
						mu.Unlock()
					}
				})
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for _, r := range rs {
			if err := r.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("%d events, %v conflicts", len(targets), conflicts())
		exactlyOnce(t, b.st, targets)
	})
}
