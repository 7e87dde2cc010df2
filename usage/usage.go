package usage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authz/authz/store"
)

// flushChunk bounds one RecordKeyUsage/RecordClientUsage statement.
const flushChunk = 1000

// retired marks a counter that a flush dropped for being idle; a use that
// finds it goes through the slow path and lands in a fresh counter.
const retired = -1

// counter is one id's uses since the last flush and its latest use (Unix
// nanoseconds).
type counter struct {
	uses atomic.Int64 // or retired
	last atomic.Int64
	// flushedLast is the last time the previous flush wrote; an entry with
	// no use and no newer time since is idle. Guarded by table.mu.
	flushedLast int64
}

// touch adds n uses and advances the last-used time (never back). It
// fails only on a retired counter.
func (c *counter) touch(n, at int64) bool {
	for {
		v := c.uses.Load()
		if v == retired {
			return false
		}
		if c.uses.CompareAndSwap(v, v+n) {
			break
		}
	}
	for {
		old := c.last.Load()
		if at <= old || c.last.CompareAndSwap(old, at) {
			return true
		}
	}
}

// table maps ids to counters the way sync.Map does, without its boxing:
// known ids are found in read, an immutable map published atomically, with
// no lock at all; ids first seen since the last flush wait in dirty, under
// mu, and the flush promotes them. A use of a known id is a map lookup and
// two atomic operations, with no allocation.
//
// K is a key id, or a client id with the secret that authenticated it: a
// comparable struct, so that a lookup builds no string.
type table[K comparable] struct {
	read  atomic.Pointer[map[K]*counter]
	mu    sync.Mutex
	dirty map[K]*counter
}

func newTable[K comparable]() *table[K] {
	t := &table[K]{dirty: map[K]*counter{}}
	t.read.Store(&map[K]*counter{})
	return t
}

// add records n uses of id at the given time.
func (t *table[K]) add(id K, n, at int64) {
	if c := (*t.read.Load())[id]; c != nil && c.touch(n, at) {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// read may have changed while we waited (a flush promoted the id).
	if c := (*t.read.Load())[id]; c != nil && c.touch(n, at) {
		return
	}
	c := t.dirty[id]
	if c == nil {
		c = &counter{}
		t.dirty[id] = c
	}
	c.touch(n, at)
}

type entry[K comparable] struct {
	id    K
	count int64
	last  int64
}

// secretUse is what the clients' table counts: uses of a client by the
// secret that authenticated them ("" for private_key_jwt).
type secretUse struct{ client, secret string }

// refusal is what the refusals' table counts: refused token requests of a
// tenant ("" for none known) with an error_code, in the UTC hour that
// starts at hour (Unix nanoseconds).
type refusal struct {
	tenant, code string
	hour         int64
}

// drain takes every pending use, promotes the ids seen since the last
// drain, and retires ids idle since the previous one, so that the table
// does not grow with every id ever seen.
func (t *table[K]) drain() []entry[K] {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.read.Load()
	next := make(map[K]*counter, len(old)+len(t.dirty))
	var out []entry[K]
	take := func(id K, c *counter) {
		var n int64
		for {
			v := c.uses.Load()
			if v == 0 && c.last.Load() == c.flushedLast {
				if c.uses.CompareAndSwap(0, retired) {
					return // idle: dropped
				}
				continue
			}
			n = c.uses.Swap(0)
			break
		}
		last := c.last.Load()
		next[id] = c
		if n == 0 && last == c.flushedLast {
			return
		}
		c.flushedLast = last
		out = append(out, entry[K]{id: id, count: n, last: last})
	}
	for id, c := range old {
		take(id, c)
	}
	for id, c := range t.dirty {
		take(id, c)
	}
	t.dirty = map[K]*counter{}
	t.read.Store(&next)
	return out
}

// restore puts back what a failed flush took.
func (t *table[K]) restore(es []entry[K]) {
	for _, e := range es {
		t.add(e.id, e.count, e.last)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	read := *t.read.Load()
	for _, e := range es {
		c := read[e.id]
		if c == nil {
			c = t.dirty[e.id]
		}
		if c != nil {
			c.flushedLast = 0 // the time was not written: write it next time
		}
	}
}

// Recorder batches uses of legacy keys and clients in memory.
type Recorder struct {
	st      store.Store
	log     *slog.Logger
	now     func() time.Time
	keys    *table[string]
	clients *table[secretUse]
	refused *table[refusal]
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
	return &Recorder{st: st, log: logger, now: now, keys: newTable[string](), clients: newTable[secretUse](), refused: newTable[refusal]()}
}

// KeyUsed records one use of a legacy key at the given time (the zero time
// means now). It is called on every exchange and never blocks on storage.
func (r *Recorder) KeyUsed(keyID string, at time.Time) {
	r.keys.add(keyID, 1, r.stamp(at))
}

// ClientUsed records a use of a client at the given time (zero: now),
// authenticated by the secret secretID ("" when no secret was used, as
// with private_key_jwt). The secret's own last use is kept as well, so
// that a holder sees whether a rotation's outgoing secret is still used.
func (r *Recorder) ClientUsed(clientID, secretID string, at time.Time) {
	// Clients count uses too, though only the time is stored: a counter
	// with uses pending can never be retired under a concurrent use.
	r.clients.add(secretUse{clientID, secretID}, 1, r.stamp(at))
}

// Refused counts one refused token request of the tenant ("" when the
// request named no known tenant) with the error code, at the given time
// (zero: now). The token endpoint calls it where it increments
// authz_token_requests_total{outcome="refused"}, so that the flushed
// counts (store.RefusalCount) add up, across replicas, to that counter's
// increments, which the audit log only samples.
func (r *Recorder) Refused(tenantID, code string, at time.Time) {
	ns := r.stamp(at)
	hour := time.Unix(0, ns).UTC().Truncate(time.Hour).UnixNano()
	r.refused.add(refusal{tenantID, code, hour}, 1, ns)
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
	return errors.Join(r.flushKeys(ctx), r.flushClients(ctx), r.flushRefusals(ctx))
}

func (r *Recorder) flushRefusals(ctx context.Context) error {
	es := r.refused.drain()
	for i := 0; i < len(es); i += flushChunk {
		chunk := es[i:min(i+flushChunk, len(es))]
		cs := make([]store.RefusalCount, 0, len(chunk))
		for _, e := range chunk {
			if e.count > 0 {
				cs = append(cs, store.RefusalCount{TenantID: e.id.tenant, Hour: time.Unix(0, e.id.hour).UTC(), ErrorCode: e.id.code, N: e.count})
			}
		}
		// The upsert adds all of a chunk or none of it, so putting a
		// failed chunk back counts nothing twice.
		if err := r.st.RecordRefusals(ctx, cs); err != nil {
			r.refused.restore(es[i:])
			return fmt.Errorf("usage: record refusals: %w", err)
		}
	}
	return nil
}

func (r *Recorder) flushKeys(ctx context.Context) error {
	es := r.keys.drain()
	for i := 0; i < len(es); i += flushChunk {
		chunk := es[i:min(i+flushChunk, len(es))]
		us := make([]store.KeyUsage, len(chunk))
		hs := make([]store.HourlyUse, 0, len(chunk))
		for j, e := range chunk {
			us[j] = store.KeyUsage{KeyID: e.id, Count: e.count, LastUsedAt: toTime(e.last)}
			hs = appendHourly(hs, "key:"+e.id, e.count, e.last)
		}
		if err := r.st.RecordKeyUsage(ctx, us); err != nil {
			r.keys.restore(es[i:])
			return fmt.Errorf("usage: record key usage: %w", err)
		}
		r.recordHourly(ctx, hs)
	}
	return nil
}

func (r *Recorder) flushClients(ctx context.Context) error {
	es := r.clients.drain()
	for i := 0; i < len(es); i += flushChunk {
		chunk := es[i:min(i+flushChunk, len(es))]
		us := make([]store.ClientUsage, len(chunk))
		hs := make([]store.HourlyUse, 0, len(chunk))
		for j, e := range chunk {
			us[j] = store.ClientUsage{ClientID: e.id.client, SecretID: e.id.secret, LastUsedAt: toTime(e.last)}
			// Two secrets of one client in one flush are two rows of
			// the same credential: the hourly upsert adds them up.
			hs = appendHourly(hs, "client:"+e.id.client, e.count, e.last)
		}
		if err := r.st.RecordClientUsage(ctx, us); err != nil {
			r.clients.restore(es[i:])
			return fmt.Errorf("usage: record client usage: %w", err)
		}
		r.recordHourly(ctx, hs)
	}
	return nil
}

// recordHourly writes the hourly counts after the usage they repeat.
// They only feed an estimate (uses in the last 24 hours), so a failure
// loses them rather than restoring the batch, which would count its uses
// twice in the keys' use_count.
func (r *Recorder) recordHourly(ctx context.Context, hs []store.HourlyUse) {
	if err := r.st.RecordHourlyUse(ctx, hs); err != nil && ctx.Err() == nil {
		r.log.WarnContext(ctx, "hourly use counts not written; uses in the last 24 hours will read low", "err", err)
	}
}

// appendHourly adds the entry's uses to the hour of its latest use: with
// flushes seconds apart, only the uses of a flush that spans the turn of
// an hour land in the later hour. The hourly counts answer "uses in the
// last 24 hours" of the offboarding report (docs/offboarding.md).
func appendHourly(hs []store.HourlyUse, credential string, count, last int64) []store.HourlyUse {
	if count <= 0 {
		return hs
	}
	return append(hs, store.HourlyUse{Credential: credential, Hour: toTime(last).Truncate(time.Hour), Uses: count})
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
