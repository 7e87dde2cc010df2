package usage

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authz/authz/store"
)

// shards spreads the ids over independently locked maps, so that exchanges
// for different keys rarely touch the same lock's cache line.
const shards = 64

// flushChunk bounds one RecordKeyUsage/RecordClientUsage statement.
const flushChunk = 1000

// counter is one id's pending use count and latest use (Unix nanoseconds).
// Both are updated with atomics under the shard's read lock.
type counter struct {
	count atomic.Int64
	last  atomic.Int64
	// flushedLast is the last time written by the previous flush; an entry
	// unchanged since then is idle and dropped. Only Flush touches it, under
	// the shard's write lock.
	flushedLast int64
}

// touch adds n uses and advances the last-used time (never back).
func (c *counter) touch(n int64, at int64) {
	if n != 0 {
		c.count.Add(n)
	}
	for {
		old := c.last.Load()
		if at <= old || c.last.CompareAndSwap(old, at) {
			return
		}
	}
}

type shard struct {
	mu sync.RWMutex
	m  map[string]*counter
	_  [40]byte // keeps neighbouring shards' locks off one cache line
}

// table is a sharded map from id to counter.
type table struct {
	seed   maphash.Seed
	shards [shards]shard
}

func newTable() *table {
	t := &table{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*counter)
	}
	return t
}

// add records n uses of id at the given time. For a known id it takes a
// read lock and does two atomic operations: no allocation.
func (t *table) add(id string, n int64, at int64) {
	s := &t.shards[maphash.String(t.seed, id)%shards]
	s.mu.RLock()
	c := s.m[id]
	if c != nil {
		c.touch(n, at)
		s.mu.RUnlock()
		return
	}
	s.mu.RUnlock()
	s.mu.Lock()
	c = s.m[id]
	if c == nil {
		c = &counter{}
		s.m[id] = c
	}
	c.touch(n, at)
	s.mu.Unlock()
}

type entry struct {
	id    string
	count int64
	last  int64
}

// drain takes every pending count, and forgets ids idle since the
// previous drain so that the table does not grow with every id ever seen.
func (t *table) drain() []entry {
	var out []entry
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for id, c := range s.m {
			n := c.count.Swap(0)
			last := c.last.Load()
			if n == 0 && last == c.flushedLast {
				delete(s.m, id)
				continue
			}
			c.flushedLast = last
			out = append(out, entry{id: id, count: n, last: last})
		}
		s.mu.Unlock()
	}
	return out
}

// restore puts back what a failed flush took.
func (t *table) restore(es []entry) {
	for _, e := range es {
		t.add(e.id, e.count, e.last)
		s := &t.shards[maphash.String(t.seed, e.id)%shards]
		s.mu.Lock()
		if c := s.m[e.id]; c != nil {
			c.flushedLast = 0 // the time was not written: write it next time
		}
		s.mu.Unlock()
	}
}

// Recorder batches uses of legacy keys and clients in memory.
type Recorder struct {
	st      store.Store
	log     *slog.Logger
	now     func() time.Time
	keys    *table
	clients *table
	flushMu sync.Mutex // one flush at a time, so a restore never races a drain
}

// NewRecorder returns a Recorder that flushes to st. logger and now may be
// nil (discard, time.Now).
func NewRecorder(st store.Store, logger *slog.Logger, now func() time.Time) *Recorder {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Recorder{st: st, log: logger, now: now, keys: newTable(), clients: newTable()}
}

// KeyUsed records one use of a legacy key at the given time (the zero time
// means now). It is called on every exchange and never blocks on storage.
func (r *Recorder) KeyUsed(keyID string, at time.Time) {
	r.keys.add(keyID, 1, r.stamp(at))
}

// ClientUsed records a use of a client at the given time (zero: now).
func (r *Recorder) ClientUsed(clientID string, at time.Time) {
	r.clients.add(clientID, 0, r.stamp(at))
}

func (r *Recorder) stamp(at time.Time) int64 {
	if at.IsZero() {
		at = r.now()
	}
	return at.UnixNano()
}

// Flush writes the uses recorded since the last flush in batches. On
// failure the uses that were not written are kept for the next flush, and
// the error is returned.
func (r *Recorder) Flush(ctx context.Context) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()
	return errors.Join(r.flushKeys(ctx), r.flushClients(ctx))
}

func (r *Recorder) flushKeys(ctx context.Context) error {
	es := r.keys.drain()
	for i := 0; i < len(es); i += flushChunk {
		chunk := es[i:min(i+flushChunk, len(es))]
		us := make([]store.KeyUsage, len(chunk))
		for j, e := range chunk {
			us[j] = store.KeyUsage{KeyID: e.id, Count: e.count, LastUsedAt: toTime(e.last)}
		}
		if err := r.st.RecordKeyUsage(ctx, us); err != nil {
			r.keys.restore(es[i:])
			return fmt.Errorf("usage: record key usage: %w", err)
		}
	}
	return nil
}

func (r *Recorder) flushClients(ctx context.Context) error {
	es := r.clients.drain()
	for i := 0; i < len(es); i += flushChunk {
		chunk := es[i:min(i+flushChunk, len(es))]
		us := make([]store.ClientUsage, len(chunk))
		for j, e := range chunk {
			us[j] = store.ClientUsage{ClientID: e.id, LastUsedAt: toTime(e.last)}
		}
		if err := r.st.RecordClientUsage(ctx, us); err != nil {
			r.clients.restore(es[i:])
			return fmt.Errorf("usage: record client usage: %w", err)
		}
	}
	return nil
}

// toTime converts back, at the microsecond precision the store keeps.
func toTime(ns int64) time.Time {
	return time.Unix(0, ns).UTC().Truncate(time.Microsecond)
}

// Run flushes every interval until ctx ends, then flushes once more (with
// a few seconds' grace, on a context that is not cancelled) so that a
// graceful shutdown loses nothing. A failed periodic flush is logged and
// retried at the next tick; Run returns the final flush's error.
func (r *Recorder) Run(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		return fmt.Errorf("usage: flush interval must be positive, got %v", every)
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if err := r.Flush(ctx); err != nil && ctx.Err() == nil {
				r.log.WarnContext(ctx, "usage flush failed; counts kept for the next one", "err", err)
			}
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushGrace)
			defer cancel()
			if err := r.Flush(final); err != nil {
				r.log.ErrorContext(final, "final usage flush failed; recent last-used times are lost", "err", err)
				return err
			}
			return nil
		}
	}
}

const finalFlushGrace = 5 * time.Second
