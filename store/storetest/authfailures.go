package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

// testAuthFailures: counting within a window, the threshold that locks,
// failures while locked counting nothing, a threshold without a lock
// (an alert), clearing, the locks another replica learns of, and purge.
func testAuthFailures(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	window, lockFor := 5*time.Minute, 10*time.Minute
	count := func(now time.Time, fs ...store.AuthFailure) []store.AuthFailure {
		t.Helper()
		out, err := s.CountAuthFailures(ctx, fs, now, window)
		must(t, err)
		if len(out) != len(fs) {
			t.Fatalf("CountAuthFailures returned %d counters for %d", len(out), len(fs))
		}
		return out
	}
	lock := store.AuthFailure{Key: "a:1", Threshold: 3, LockFor: lockFor}
	alert := store.AuthFailure{Key: "c:1", Threshold: 2}

	tests := []struct {
		name        string
		at          time.Duration
		wantCount   int
		wantReached bool
		wantLocked  bool
	}{
		{"first failure", 0, 1, false, false},
		{"second within the window", time.Minute, 2, false, false},
		{"third reaches the threshold and locks", 2 * time.Minute, 0, true, true},
		{"a failure while locked counts nothing", 3 * time.Minute, 0, false, true},
		{"after the lock counting starts over", 2*time.Minute + lockFor, 1, false, false},
		{"a failure after the window starts a new one", 2*time.Minute + lockFor + window + time.Second, 1, false, false},
	}
	for _, tt := range tests {
		now := at(tt.at)
		got := count(now, lock)[0]
		if got.Count != tt.wantCount || got.Reached != tt.wantReached || now.Before(got.LockedUntil) != tt.wantLocked {
			t.Fatalf("%s: count %d reached %v locked until %v at %v; want %d %v locked=%v",
				tt.name, got.Count, got.Reached, got.LockedUntil, now, tt.wantCount, tt.wantReached, tt.wantLocked)
		}
	}
	if l := count(at(0), lock)[0]; !l.LockedAt.Equal(at(2*time.Minute)) || !l.LockedUntil.Equal(at(2*time.Minute+lockFor)) {
		t.Fatalf("lock times %v .. %v", l.LockedAt, l.LockedUntil)
	}

	// A threshold without LockFor is reached once per threshold failures
	// and never locks.
	var reached int
	for i := range 4 {
		got := count(at(time.Duration(i)*time.Second), alert)[0]
		if got.Reached {
			reached++
		}
		if !got.LockedUntil.IsZero() {
			t.Fatal("a counter without LockFor was locked")
		}
	}
	if reached != 2 {
		t.Fatalf("threshold 2 reached %d times in 4 failures, want 2", reached)
	}

	// Several counters in one call, each counted once, concurrently too.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := s.CountAuthFailures(ctx, []store.AuthFailure{{Key: "x:1"}, {Key: "x:2"}}, at(time.Hour), window); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, got := range count(at(time.Hour), store.AuthFailure{Key: "x:1"}, store.AuthFailure{Key: "x:2"}) {
		if got.Count != 9 {
			t.Fatalf("%s counted %d of 9 concurrent failures", got.Key, got.Count)
		}
	}

	// Clear forgets an unlocked counter, never a lock.
	must(t, s.ClearAuthFailures(ctx, "x:1", at(time.Hour)))
	if got := count(at(time.Hour), store.AuthFailure{Key: "x:1"})[0]; got.Count != 1 {
		t.Fatalf("after clear the count is %d, want 1", got.Count)
	}
	lock2 := store.AuthFailure{Key: "a:2", Threshold: 1, LockFor: lockFor}
	count(at(time.Hour), lock2)
	must(t, s.ClearAuthFailures(ctx, "a:2", at(time.Hour+time.Minute)))
	locks, err := s.ListAuthLocks(ctx, at(time.Hour), at(time.Hour+time.Minute))
	must(t, err)
	if len(locks) != 1 || locks[0].Key != "a:2" || !locks[0].LockedUntil.Equal(at(time.Hour+lockFor)) {
		t.Fatalf("locks since 1h: %+v, want a:2 still locked after a clear", locks)
	}
	// Locks set before lockedSince, or over at now, are not listed.
	if locks, _ := s.ListAuthLocks(ctx, at(time.Hour+time.Second), at(time.Hour)); len(locks) != 0 {
		t.Fatalf("locks set before lockedSince listed: %+v", locks)
	}
	if locks, _ := s.ListAuthLocks(ctx, at(0), at(time.Hour+lockFor)); len(locks) != 0 {
		t.Fatalf("locks over at now listed: %+v", locks)
	}

	// Purge removes counters whose window and lock are over.
	if _, err := s.PurgeExpired(ctx, at(time.Hour+lockFor+time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := count(at(time.Hour+lockFor+time.Second), store.AuthFailure{Key: "a:2"})[0]; got.Count != 1 || !got.LockedUntil.IsZero() {
		t.Fatalf("a purged counter came back as %+v", got)
	}
}
