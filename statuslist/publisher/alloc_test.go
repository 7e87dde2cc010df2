package publisher_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/authz/authz/statuslist"
	"github.com/authz/authz/statuslist/publisher"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// gatedStore holds its next transaction at the door until the test opens
// it, and can make transactions fail after their work (a commit that
// fails: everything they wrote is rolled back).
type gatedStore struct {
	store.Store
	mu    sync.Mutex
	gate  chan struct{} // non-nil: the next Tx waits for it to close
	fail  error         // non-nil: every Tx rolls back with it
	count int           // transactions begun
}

func (g *gatedStore) Tx(ctx context.Context, fn func(store.Tx) error) error {
	g.mu.Lock()
	gate, fail := g.gate, g.fail
	g.gate = nil
	g.count++
	g.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return g.Store.Tx(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return fail
	})
}

// hold makes the next transaction wait until the returned func is called.
func (g *gatedStore) hold() (open func()) {
	c := make(chan struct{})
	g.mu.Lock()
	g.gate = c
	g.mu.Unlock()
	return func() { close(c) }
}

func (g *gatedStore) failing(err error) {
	g.mu.Lock()
	g.fail = err
	g.mu.Unlock()
}

func (g *gatedStore) transactions() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.count
}

func newGatedEnv(t *testing.T, open func(testing.TB) store.Store) (*env, *gatedStore) {
	var g *gatedStore
	e := newEnv(t, func(tb testing.TB) store.Store {
		g = &gatedStore{Store: open(tb)}
		return g
	}, nil)
	return e, g
}

// waitQueued waits until n first uses wait for an allocation commit.
func waitQueued(t *testing.T, p *publisher.Publisher, n int) {
	t.Helper()
	for publisher.QueuedAllocations(p) < n {
		if t.Context().Err() != nil {
			t.Fatalf("%d first uses queued, want %d", publisher.QueuedAllocations(p), n)
		}
		runtime.Gosched()
	}
}

type claimResult struct {
	credential string
	idx        int64
	err        error
}

// claim asks for credential's status claim on a goroutine of its own.
func claim(ctx context.Context, e *env, credential string, out chan<- claimResult) {
	go func() {
		v, err := e.p.StatusClaim(ctx, credential)
		r := claimResult{credential: credential, err: err}
		if ref, ok := v.(*statuslist.Reference); ok {
			r.idx = ref.StatusList.Idx
		}
		out <- r
	}()
}

// TestFirstUsesShareOneCommit: the first uses that arrive while an
// allocation commit is under way are all allocated by the next one: one
// transaction, however many credentials; concurrent callers for one
// credential get one index, distinct credentials distinct ones.
func TestFirstUsesShareOneCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e, g := newGatedEnv(t, open)
		open1 := g.hold()
		before := g.transactions()
		out := make(chan claimResult)
		claim(e.ctx, e, "key:first", out)
		waitQueued(t, e.p, 1) // it leads, held at the door
		const shared, distinct = 30, 20
		for range shared {
			claim(e.ctx, e, "key:shared", out)
		}
		for i := range distinct {
			claim(e.ctx, e, fmt.Sprintf("key:k%d", i), out)
		}
		waitQueued(t, e.p, 1+shared+distinct)
		open1()
		byCred := map[string]map[int64]bool{}
		for range 1 + shared + distinct {
			r := <-out
			if r.err != nil {
				t.Fatalf("%s: %v", r.credential, r.err)
			}
			if byCred[r.credential] == nil {
				byCred[r.credential] = map[int64]bool{}
			}
			byCred[r.credential][r.idx] = true
		}
		if n := g.transactions() - before; n != 1 {
			t.Errorf("%d transactions for %d first uses arriving together, want 1", n, 1+shared+distinct)
		}
		seen := map[int64]string{}
		for cred, idx := range byCred {
			if len(idx) != 1 {
				t.Fatalf("%s got indices %v", cred, idx)
			}
			for i := range idx {
				if other, dup := seen[i]; dup {
					t.Fatalf("%s and %s share index %d", cred, other, i)
				}
				seen[i] = cred
				if got, err := e.st.GetStatusIndex(e.ctx, cred); err != nil || got != i {
					t.Fatalf("GetStatusIndex(%s) = %d, %v; the claim said %d", cred, got, err, i)
				}
			}
		}
		if len(seen) != 2+distinct {
			t.Fatalf("%d credentials allocated, want %d", len(seen), 2+distinct)
		}
	})
}

// TestFailedAllocationGivesNoIndex: when the allocation commit fails,
// every first use waiting on it is refused, nothing of it remains, and the
// next commit allocates as if it had never been tried.
func TestFailedAllocationGivesNoIndex(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e, g := newGatedEnv(t, open)
		errCommit := errors.New("commit failed")
		g.failing(errCommit)
		open1 := g.hold()
		out := make(chan claimResult)
		creds := []string{"key:a", "key:b", "key:b", "client:c"}
		for _, c := range creds {
			claim(e.ctx, e, c, out)
		}
		waitQueued(t, e.p, len(creds))
		open1()
		for range creds {
			if r := <-out; !errors.Is(r.err, errCommit) {
				t.Fatalf("%s: claim %d, error %v; want %v", r.credential, r.idx, r.err, errCommit)
			}
		}
		for _, c := range creds {
			if _, err := e.st.GetStatusIndex(e.ctx, c); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("GetStatusIndex(%s) after the failed commit: %v, want not found", c, err)
			}
		}
		g.failing(nil)
		if idx := e.idx("client:c"); idx != 0 {
			t.Fatalf("first index after the failed commit = %d, want 0", idx)
		}
	})
}

// TestAllocationWaiterWithdrawn: a first use whose request ends while it
// waits in the queue is refused at once and allocates nothing; the commit
// under way and the queue behind it go on.
func TestAllocationWaiterWithdrawn(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		e, g := newGatedEnv(t, open)
		open1 := g.hold()
		out := make(chan claimResult)
		claim(e.ctx, e, "key:leader", out)
		waitQueued(t, e.p, 1)
		ctx, cancel := context.WithCancel(e.ctx)
		gone := make(chan claimResult)
		claim(ctx, e, "key:gone", gone)
		claim(e.ctx, e, "key:stays", out)
		waitQueued(t, e.p, 3)
		cancel()
		if r := <-gone; !errors.Is(r.err, context.Canceled) {
			t.Fatalf("withdrawn first use: claim %d, error %v; want %v", r.idx, r.err, context.Canceled)
		}
		open1()
		for range 2 {
			if r := <-out; r.err != nil {
				t.Fatalf("%s: %v", r.credential, r.err)
			}
		}
		if _, err := e.st.GetStatusIndex(e.ctx, "key:gone"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetStatusIndex(key:gone): %v, want not found", err)
		}
	})
}
