package publisher

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/authz/authz/store"
)

const (
	// maxAllocBatch bounds the credentials one allocation commit carries.
	maxAllocBatch = 512
	// allocTimeout bounds one allocation commit: past it its waiters are
	// refused (no token without its index) and the next commit tries
	// again, rather than every first use queueing behind a hung database.
	allocTimeout = 10 * time.Second
)

// allocator gives credentials their first index in groups: the first uses
// that arrive together (a burst of keys never exchanged before) share one
// transaction, one commit and, on SQLite, one fsync, instead of one each
// (issue 13: a first exchange cost 3.8× a client-credentials token, over
// half of it its allocation's transaction).
//
// It is the audit log's leader/follower group commit (audit.Recorder): the
// first caller that finds no commit under way commits everything queued,
// on its own goroutine; those that queue meanwhile wait, and the first of
// them leads the next commit. Every waiter gets its index only once the
// commit that recorded it succeeded, and the commit's error otherwise, so
// a token never carries an index that is not durably its credential's.
// Two waiters for one credential, here or on another replica, get the
// same index (store.Mutations.AllocateStatusIndexes, under the status
// lock).
type allocator struct {
	st      store.Store
	now     func() time.Time
	max     int
	timeout time.Duration
	// batches observes how many credentials each commit carried.
	batches interface{ Observe(float64) }

	mu      sync.Mutex
	queue   []*allocWait
	queued  uint64 // waiters ever queued; numbers them
	leading bool   // a waiter commits, or has been told to
}

type allocWait struct {
	n          uint64
	credential string
	// promoted: the waiter leads, or has been told to lead, a commit
	// (under mu); it is then no longer withdrawn.
	promoted bool
	// done holds up to two messages: a promotion and the outcome, which
	// may both be sent before the waiter reads either.
	done chan allocOutcome
}

type allocOutcome struct {
	idx  int64
	err  error
	lead bool
}

func newAllocator(st store.Store, now func() time.Time, batches interface{ Observe(float64) }) *allocator {
	return &allocator{st: st, now: now, max: maxAllocBatch, timeout: allocTimeout, batches: batches}
}

// allocate returns credential's current index, allocating one if it has
// none, once that is committed. If ctx ends while the waiter is still
// queued it is withdrawn; once its commit has begun it waits for the
// commit's outcome (bounded by the timeout), and a waiter told to lead
// leads first, so that the queue never waits for a leader that left.
func (a *allocator) allocate(ctx context.Context, credential string) (int64, error) {
	if kind, ref, ok := strings.Cut(credential, ":"); !ok || kind == "" || ref == "" {
		// Refused here, since a malformed credential fails the whole
		// group it is allocated with.
		return 0, fmt.Errorf("statuslist: credential %q is not \"client:<id>\" or \"key:<id>\"", credential)
	}
	w := &allocWait{credential: credential, done: make(chan allocOutcome, 2)}
	a.mu.Lock()
	a.queued++
	w.n = a.queued
	a.queue = append(a.queue, w)
	lead := !a.leading
	if lead {
		a.leading, w.promoted = true, true
	}
	a.mu.Unlock()
	if lead {
		a.lead(ctx)
	}
	cancelled := ctx.Done()
	for {
		select {
		case o := <-w.done:
			if o.lead {
				a.lead(ctx)
				continue
			}
			return o.idx, o.err
		case <-cancelled:
			if a.withdraw(w) {
				return 0, fmt.Errorf("statuslist: no index allocated: %w", ctx.Err())
			}
			cancelled = nil
		}
	}
}

// lead commits one group and passes the lead on. The group is taken once
// the transaction has begun: on SQLite that is once the one writer
// connection is free, so everything that queued while the audit log or
// the previous group held it goes into this commit.
func (a *allocator) lead(ctx context.Context) {
	defer a.handOff()
	a.mu.Lock()
	through := a.queued
	a.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.timeout)
	defer cancel()
	var (
		group []*allocWait
		idx   []int64
	)
	err := a.st.Tx(ctx, func(tx store.Tx) error {
		if group = a.take(func(*allocWait) bool { return true }); len(group) == 0 {
			return nil
		}
		creds := make([]string, len(group))
		for i, w := range group {
			creds[i] = w.credential
		}
		var err error
		idx, err = tx.AllocateStatusIndexes(ctx, creds, a.now())
		return err
	})
	if err != nil && len(group) == 0 {
		// The database failed before a group was taken: fail those that
		// waited through this attempt, so that they learn of the outage;
		// later ones get the next attempt.
		group = a.take(func(w *allocWait) bool { return w.n <= through })
	}
	if len(group) == 0 {
		return
	}
	a.batches.Observe(float64(len(group)))
	for i, w := range group {
		if err != nil {
			w.done <- allocOutcome{err: err}
		} else {
			w.done <- allocOutcome{idx: idx[i]}
		}
	}
}

// take removes from the head of the queue, up to max, the waiters that
// match (they are in queue order, so the matching ones are a prefix).
func (a *allocator) take(match func(*allocWait) bool) []*allocWait {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for n < len(a.queue) && n < a.max && match(a.queue[n]) {
		n++
	}
	group := make([]*allocWait, n)
	copy(group, a.queue)
	rest := copy(a.queue, a.queue[n:])
	clear(a.queue[rest:])
	a.queue = a.queue[:rest]
	return group
}

// handOff makes the first queued waiter the next leader, or gives the
// lead up when none is waiting.
func (a *allocator) handOff() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range a.queue {
		if !w.promoted {
			w.promoted = true
			w.done <- allocOutcome{lead: true}
			return
		}
	}
	a.leading = false
}

// withdraw removes w from the queue unless a commit took it or it was told
// to lead.
func (a *allocator) withdraw(w *allocWait) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if w.promoted {
		return false
	}
	for i, q := range a.queue {
		if q == w {
			a.queue = append(a.queue[:i], a.queue[i+1:]...)
			return true
		}
	}
	return false
}
