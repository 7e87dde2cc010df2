package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authz/authz/promreg"
	"github.com/authz/authz/store"
)

// RecorderConfig configures a Recorder. Zero values take the defaults.
type RecorderConfig struct {
	// MaxBatch bounds how many events one commit carries (default 512).
	MaxBatch int
	// SampleInterval is the window in which Sample records the first event
	// of each (action, error code, client address) and only counts the rest
	// (default 10 s).
	SampleInterval time.Duration
	// Flushers is how many commits may be in flight at once (default 2):
	// leaders among Record's callers (see lead), and the Run flusher's
	// goroutines.
	Flushers int
	// CommitTimeout bounds one group commit (default 30 s): past it the
	// batch fails, its waiters are refused, and the next batch tries again,
	// rather than every later request queueing behind a hung database.
	CommitTimeout time.Duration
	// Registerer receives the recorder's metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Now stamps events that carry no time (nil: time.Now).
	Now func() time.Time
}

const (
	defaultMaxBatch       = 512
	defaultSampleInterval = 10 * time.Second
	defaultCommitTimeout  = 30 * time.Second
	// maxSampleKeys bounds the memory Sample spends on distinct (action,
	// code, address) triples: a flood from many addresses must not grow
	// the map without end.
	maxSampleKeys = 4096
	// sampledQueueBatches bounds, in batches, the queue that sampled events
	// may join; past it they are only counted. Recorded (waited-for) events
	// are never refused: their callers block, which is the back-pressure.
	sampledQueueBatches = 4
)

// ErrClosed is returned by Record once the recorder is shutting down.
var ErrClosed = errors.New("audit: recorder closed")

// Recorder makes token decisions durable before their response is sent,
// without one transaction per request: Record queues the event and waits;
// the first waiter that finds no commit under way commits everything queued
// in one transaction on its own goroutine (leader/follower group commit),
// every waiter of that batch gets the commit's outcome, and the first of
// those that queued meanwhile leads the next commit. The Run flusher
// commits what no waiter leads: sampled events, and the queue at shutdown.
type Recorder struct {
	st       store.Store
	maxBatch int
	interval time.Duration
	timeout  time.Duration
	log      *slog.Logger
	now      func() time.Time
	met      recorderMetrics

	mu       sync.Mutex
	queue    []*pending
	enqueued uint64 // events ever queued; numbers them
	closed   bool
	running  bool
	leaders  int           // waiters committing or told to (Record, lead)
	wake     chan struct{} // capacity 1: "there is work"
	stop     chan struct{} // closed when the recorder stops accepting

	// inflight counts batches taken and not yet committed, so that Close
	// returns only after every batch a flusher had in flight has committed.
	inflight sync.WaitGroup
	flushers int

	// chain is this process's idea of the audit head: where its last
	// commit left it. While it is known, a commit chains after it and
	// appends without reading the head (store.Store.AppendAudit: on
	// PostgreSQL one round trip instead of five). Such commits take turns
	// (turn), each taking its batch once the previous one has committed,
	// as the head's row lock makes the locked path do. (Letting the next
	// commit chain after one still under way, and wait at the database
	// for the head's row, measured slower end to end: smaller batches,
	// more commits.) The store moves the head only from where the events
	// follow, so a stale idea costs a retry, never a fork.
	chain chainState

	sampleMu sync.Mutex
	samples  map[sampleKey]*sampleState
	maxKeys  int       // maxSampleKeys; tests lower it
	prunedAt time.Time // last prune of samples
}

// chainState is Recorder.chain.
type chainState struct {
	turn chan struct{} // capacity 1: held by the optimistic commit under way
	mu   sync.Mutex    // guards the rest
	head store.AuditHead
	// known: head is where this process's last commit left it.
	known bool
	// conflicts counts the optimistic commits in a row that found the
	// head moved by another writer; lockedFor is how many commits still
	// take the locked path before the next attempt (backing off while
	// other replicas append as fast as this one).
	conflicts int
	lockedFor int
}

type pending struct {
	n    uint64 // enqueue order
	ev   store.AuditEvent
	done chan error // nil for sampled events: nobody waits
	// promoted: the waiter leads, or has been told to lead, a commit
	// (under mu).
	promoted bool
}

type sampleKey struct{ action, code, addr string }

type sampleState struct {
	start      time.Time        // when the recorded event of this window was taken
	suppressed int64            // events counted but not recorded since
	last       store.AuditEvent // the latest suppressed event, for a summary
}

// NewRecorder returns a recorder writing to st. Start its flusher with Run.
func NewRecorder(st store.Store, cfg RecorderConfig) *Recorder {
	r := &Recorder{
		st:       st,
		maxBatch: cfg.MaxBatch,
		interval: cfg.SampleInterval,
		timeout:  cfg.CommitTimeout,
		log:      cfg.Logger,
		now:      cfg.Now,
		met:      newRecorderMetrics(cfg.Registerer),
		wake:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		samples:  make(map[sampleKey]*sampleState),
		maxKeys:  maxSampleKeys,
	}
	r.chain.turn = make(chan struct{}, 1)
	if r.maxBatch <= 0 {
		r.maxBatch = defaultMaxBatch
	}
	if r.flushers = cfg.Flushers; r.flushers <= 0 {
		r.flushers = 2
	}
	if r.interval <= 0 {
		r.interval = defaultSampleInterval
	}
	if r.timeout <= 0 {
		r.timeout = defaultCommitTimeout
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r
}

// Record appends ev to the audit log and returns once it is committed, so
// that the caller may then answer the request. Concurrent callers share one
// commit. A storage failure is returned to every waiter of the failed batch
// (errors.Is(err, store.ErrUnavailable) when the database is unreachable),
// and none of that batch is written.
//
// If ctx ends before the commit, Record returns ctx's error; the event is
// withdrawn if it had not been taken into a batch yet, and may otherwise
// still be written.
func (r *Recorder) Record(ctx context.Context, ev store.AuditEvent) error {
	if err := validate(ev); err != nil {
		return err
	}
	ev.Details = capDetails(ev.Details, MaxRequestText)
	fill(ctx, &ev, r.now())
	// done holds up to two messages: a promotion (errLead) and the
	// outcome, which may both be sent before the waiter reads either.
	p := &pending{ev: ev, done: make(chan error, 2)}
	lead, ok := r.enqueueRecorded(p)
	if !ok {
		return ErrClosed
	}
	if lead {
		r.lead()
	}
	for {
		select {
		case err := <-p.done:
			if err == errLead {
				r.lead()
				continue
			}
			return err
		case <-ctx.Done():
			withdrawn := r.withdraw(p)
			// A promotion may have come just before: the leadership it
			// carries must be used, or the queue would wait for a
			// leader that left.
			select {
			case err := <-p.done:
				if err == errLead {
					r.lead()
				} else if !withdrawn {
					return err
				}
			default:
			}
			if withdrawn {
				return fmt.Errorf("audit: event not recorded: %w", ctx.Err())
			}
			return fmt.Errorf("audit: stopped waiting for the commit, the event may still be written: %w", ctx.Err())
		}
	}
}

// errLead, sent to a waiter, makes it the leader of the next commit. It
// never reaches a caller.
var errLead = errors.New("audit: lead the next commit")

// lead commits one batch on the caller's goroutine (leader/follower group
// commit): the first waiter to find no commit under way commits at once,
// with no hand-off to another goroutine and no timer, and everything that
// queues while it waits for the disk goes into the next commit, led by the
// first of those waiters. Up to Flushers leaders run at once, so the next
// batch is ready to go as soon as the previous one has committed: it
// waits for its turn at the chain (Recorder.chain, or on the locked path
// the head's lock) and takes everything queued by then.
func (r *Recorder) lead() {
	_, _ = r.flush(context.Background())
	r.handOff()
}

// handOff passes the caller's leadership to the first queued waiter that
// is not leading already, or gives it up when none is waiting (sampled
// events left behind are the Run flusher's).
func (r *Recorder) handOff() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, q := range r.queue {
		if q.done != nil && !q.promoted {
			q.promoted = true
			q.done <- errLead
			return
		}
	}
	r.leaders--
	if len(r.queue) > 0 {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// enqueueRecorded queues a waited-for event and reports whether its caller
// is to lead a commit (fewer than Flushers leaders are at work).
func (r *Recorder) enqueueRecorded(p *pending) (lead, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false, false
	}
	r.enqueued++
	p.n = r.enqueued
	r.queue = append(r.queue, p)
	r.met.depth.Set(float64(len(r.queue)))
	if r.leaders < r.flushers {
		r.leaders++
		p.promoted = true
		return true, true
	}
	return false, true
}

// Sample records ev unless an event with the same action, error code and
// client address was recorded less than SampleInterval ago, in which case
// it only counts it (authz_audit_sampled_total). The count is reported in
// the Details of the next recorded event of that triple as
// {"suppressed": n}. Sample never blocks and never fails: it is for floods
// (malformed credentials, rate-limited requests), where the response must
// not wait on the log and the log must not take a write per request.
func (r *Recorder) Sample(ctx context.Context, ev store.AuditEvent) {
	if err := validate(ev); err != nil {
		r.log.ErrorContext(ctx, "audit: sampled event dropped", "err", err)
		return
	}
	ev.Details = capDetails(ev.Details, MaxRequestText)
	now := r.now()
	stamp(ctx, &ev, now) // the ID comes with Append, if it is recorded at all
	key := sampleKey{ev.Action, ev.ErrorCode, ev.ClientAddr}

	r.sampleMu.Lock()
	s := r.samples[key]
	if s != nil && now.Sub(s.start) < r.interval {
		s.suppressed++
		s.last = ev
		r.sampleMu.Unlock()
		r.met.sampled.WithLabelValues(ev.Action, ev.ErrorCode).Inc()
		return
	}
	var summaries []store.AuditEvent
	if s == nil && len(r.samples) >= r.maxKeys {
		// Pruning walks the whole map; during a wide flood do it at most
		// twice per window rather than on every request.
		if now.Sub(r.prunedAt) >= r.interval/2 {
			r.prunedAt = now
			summaries = r.pruneLocked(now)
		}
		if len(r.samples) >= r.maxKeys {
			// Every triple is inside its window: this flood is wide as
			// well as fast. Count it; the metric is its record.
			r.sampleMu.Unlock()
			r.met.sampled.WithLabelValues(ev.Action, ev.ErrorCode).Inc()
			r.enqueueSampled(ctx, summaries)
			return
		}
	}
	if s != nil && s.suppressed > 0 {
		ev.Details = withSuppressed(ev.Details, s.suppressed)
	}
	r.samples[key] = &sampleState{start: now}
	r.sampleMu.Unlock()
	r.enqueueSampled(ctx, append(summaries, ev))
}

// pruneLocked forgets triples whose window has passed and returns a summary
// event for each that still had suppressed events, so that their count
// reaches the log even if the flood never comes back.
func (r *Recorder) pruneLocked(now time.Time) []store.AuditEvent {
	var out []store.AuditEvent
	for k, s := range r.samples {
		if now.Sub(s.start) < r.interval {
			continue
		}
		if s.suppressed > 0 {
			out = append(out, summary(s))
		}
		delete(r.samples, k)
	}
	return out
}

func summary(s *sampleState) store.AuditEvent {
	ev := s.last
	ev.Details = withSuppressed(ev.Details, s.suppressed)
	return ev
}

// withSuppressed adds "suppressed": n to a JSON object of details (or wraps
// details that are not an object under "details").
func withSuppressed(details json.RawMessage, n int64) json.RawMessage {
	m := map[string]json.RawMessage{}
	if len(details) > 0 {
		if err := json.Unmarshal(details, &m); err != nil {
			m = map[string]json.RawMessage{"details": details}
		}
	}
	m["suppressed"] = json.RawMessage(fmt.Sprint(n))
	raw, err := json.Marshal(m)
	if err != nil { // cannot happen: every member is valid JSON
		return details
	}
	return raw
}

func (r *Recorder) enqueueSampled(ctx context.Context, evs []store.AuditEvent) {
	for _, ev := range evs {
		if !r.enqueueIf(&pending{ev: ev}, true) {
			r.met.sampled.WithLabelValues(ev.Action, ev.ErrorCode).Inc()
			r.log.DebugContext(ctx, "audit: sampled event not queued (closed or backlog full)", "action", ev.Action)
		}
	}
}

func (r *Recorder) enqueue(p *pending) bool { return r.enqueueIf(p, false) }

// enqueueIf queues p unless the recorder is closed or, for a sampled event,
// the backlog is already several batches long.
func (r *Recorder) enqueueIf(p *pending, sampled bool) bool {
	r.mu.Lock()
	if r.closed || sampled && len(r.queue) >= sampledQueueBatches*r.maxBatch {
		r.mu.Unlock()
		return false
	}
	r.enqueued++
	p.n = r.enqueued
	r.queue = append(r.queue, p)
	r.met.depth.Set(float64(len(r.queue)))
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return true
}

// withdraw removes p from the queue if no batch has taken it yet.
func (r *Recorder) withdraw(p *pending) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, q := range r.queue {
		if q == p {
			r.queue = append(r.queue[:i], r.queue[i+1:]...)
			r.met.depth.Set(float64(len(r.queue)))
			return true
		}
	}
	return false
}

// lastEnqueued returns the number of the latest queued event.
func (r *Recorder) lastEnqueued() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.enqueued
}

// takeThrough takes the queued events numbered up to n.
func (r *Recorder) takeThrough(n uint64) []*pending {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := 0
	for k < len(r.queue) && r.queue[k].n <= n {
		k++
	}
	return r.takeLocked(k)
}

// take removes up to limit events from the head of the queue.
func (r *Recorder) take(limit int) []*pending {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.takeLocked(limit)
}

func (r *Recorder) takeLocked(limit int) []*pending {
	n := min(len(r.queue), r.maxBatch, limit)
	if n > 0 {
		r.inflight.Add(1) // under mu: Close cannot miss a batch taken before it waits
	}
	batch := make([]*pending, n)
	copy(batch, r.queue)
	rest := copy(r.queue, r.queue[n:])
	clear(r.queue[rest:]) // let the taken entries be collected
	r.queue = r.queue[:rest]
	r.met.depth.Set(float64(len(r.queue)))
	return batch
}

// Run is the flusher: it commits queued events in batches until ctx ends
// or Close is called, then drains the queue and returns. Only one Run may
// be active per recorder.
func (r *Recorder) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("audit: Recorder.Run is already running")
	}
	r.running = true
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()

	// Commits are not cut short by ctx (only by CommitTimeout): a waiter
	// is better served by the commit finishing than by an error, and
	// shutdown drains anyway.
	flushCtx := context.WithoutCancel(ctx)
	// Extra flushers wait for their turn: while one batch waits for its
	// commit (an fsync, a network round trip), the next flusher is ready
	// to take what queued meanwhile. The chain stays one chain: the second
	// waits for the first to commit before it hashes on top of it (its
	// turn at Recorder.chain, or on the locked path the audit head's
	// lock, store.Tx.AuditHead). On SQLite, with its single writer
	// connection, they simply take turns.
	var extra sync.WaitGroup
	for range r.flushers - 1 {
		extra.Add(1)
		go func() {
			defer extra.Done()
			for {
				r.flushAll(flushCtx)
				select {
				case <-r.wake:
				case <-r.stop:
					return
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	defer extra.Wait()
	for {
		r.flushAll(flushCtx)
		select {
		case <-r.wake:
		case <-r.stop:
			r.flushAll(flushCtx)
			return nil
		case <-ctx.Done():
			r.shut()
			r.flushAll(flushCtx)
			return nil
		}
	}
}

// Close stops accepting events, writes the counts Sample still holds, and
// commits everything queued, whether or not Run is active. If ctx ends
// first, the remaining batches fail (their waiters get the error) and Close
// returns it.
func (r *Recorder) Close(ctx context.Context) error {
	r.shut()
	err := r.flushAll(ctx)
	done := make(chan struct{})
	go func() { r.inflight.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		if err == nil {
			err = fmt.Errorf("audit: close: %w", ctx.Err())
		}
	}
	return err
}

// shut marks the recorder closed and queues a summary of every suppressed
// count, so that a shutdown does not lose them.
func (r *Recorder) shut() {
	r.sampleMu.Lock()
	var summaries []*pending
	for k, s := range r.samples {
		if s.suppressed > 0 {
			summaries = append(summaries, &pending{ev: summary(s)})
		}
		delete(r.samples, k)
	}
	r.sampleMu.Unlock()

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.queue = append(r.queue, summaries...)
	r.met.depth.Set(float64(len(r.queue)))
	r.closed = true
	close(r.stop)
}

// flushAll commits batches until the queue is empty and returns the first
// error.
func (r *Recorder) flushAll(ctx context.Context) error {
	var first error
	for {
		took, err := r.flush(ctx)
		if first == nil {
			first = err
		}
		if !took {
			return first
		}
	}
}

// flush commits one batch and tells every waiter how it went; it reports
// whether it took a batch. The batch commits whole or not at all.
//
// It commits after the head this process last wrote without reading it
// (appendOptimistic), unless that head is unknown or moved; then it reads
// the head under its lock in a transaction (appendLocked), the batch then
// taken only once the transaction holds the head, that is once the
// previous batch has committed: everything that queued while that commit
// waited goes into this one. (Taken earlier, a second flusher would seize
// a sliver and make every later waiter wait for two commits.)
func (r *Recorder) flush(ctx context.Context) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	start := time.Now()
	waitedFrom := r.lastEnqueued()
	batch, done, err := r.appendOptimistic(ctx)
	if !done {
		batch, err = r.appendLocked(ctx, batch)
	}
	if err != nil && len(batch) == 0 {
		// The database failed before a batch was taken: fail the events
		// that waited through this attempt, so that they learn of the
		// outage; later ones get the next attempt.
		batch = r.takeThrough(waitedFrom)
	}
	if len(batch) == 0 {
		return false, err
	}
	defer r.inflight.Done()
	r.met.flush.Observe(time.Since(start).Seconds())
	r.met.batch.Observe(float64(len(batch)))
	if err != nil {
		r.met.writeErrors.Inc()
		err = fmt.Errorf("audit: commit of %d events failed: %w", len(batch), err)
		lost := 0
		for _, p := range batch {
			if p.done == nil {
				lost++
			}
		}
		r.log.ErrorContext(ctx, "audit write failed", "events", len(batch), "sampled_lost", lost, "err", err)
	}
	for _, p := range batch {
		if p.done != nil {
			p.done <- err
		}
	}
	return true, err
}

// maxBackoff bounds the locked commits between two optimistic attempts
// while other writers keep moving the head: 2^maxBackoff - 2 = 62.
const maxBackoff = 6

// appendOptimistic commits a batch after the head this process last wrote
// (Recorder.chain), with store.Store.AppendAudit. It returns done false,
// and the batch it took if any, when the batch is for appendLocked: the
// head is not known (the first commit, or after a failure), or another
// writer moved it (another replica, or audit.Append in a change's
// transaction), in which case nothing was written and the same batch is
// chained again on the head read under its lock. Any other error fails
// the batch: whether it was written is not known, so it is not retried
// (a retry could write it twice), and the head is read afresh next time.
func (r *Recorder) appendOptimistic(ctx context.Context) (batch []*pending, done bool, err error) {
	c := &r.chain
	select {
	case c.turn <- struct{}{}:
	default: // another commit is under way: wait for it, within ctx
		select {
		case c.turn <- struct{}{}:
		case <-ctx.Done():
			return nil, true, fmt.Errorf("audit: waiting for the commit under way: %w", ctx.Err())
		}
	}
	defer func() { <-c.turn }()
	c.mu.Lock()
	head, optimistic := c.head, c.known && c.lockedFor == 0
	if c.known && c.lockedFor > 0 {
		c.lockedFor--
	}
	c.mu.Unlock()
	if !optimistic {
		return nil, false, nil
	}
	if batch = r.take(r.maxBatch); len(batch) == 0 {
		return nil, true, nil
	}
	evs, err := completed(ctx, eventsOf(batch))
	if err != nil {
		return batch, true, err
	}
	for i, p := range batch {
		p.ev = evs[i] // a retry under the lock keeps the IDs given here
	}
	next := chain(head, evs)
	err = r.st.AppendAudit(ctx, evs)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case err == nil:
		c.learn(next)
		c.conflicts = 0
		return batch, true, nil
	case errors.Is(err, store.ErrConflict):
		r.met.headConflicts.Inc()
		c.known = false
		c.conflicts = min(c.conflicts+1, maxBackoff)
		c.lockedFor = 1<<c.conflicts - 2
		return batch, false, nil
	default:
		c.known = false
		return batch, true, err
	}
}

// appendLocked commits in one transaction that reads the head under its
// lock and appends after it: batch if appendOptimistic took one, otherwise
// the batch taken once the lock is held. It then remembers the head for
// appendOptimistic.
func (r *Recorder) appendLocked(ctx context.Context, batch []*pending) ([]*pending, error) {
	var next store.AuditHead
	err := r.st.Tx(ctx, func(tx store.Tx) error {
		head, err := tx.AuditHead(ctx)
		if err != nil {
			return fmt.Errorf("audit: read chain head: %w", err)
		}
		if batch == nil {
			if batch = r.take(r.maxBatch); len(batch) == 0 {
				return nil
			}
		}
		next, err = appendAfter(ctx, tx, head, eventsOf(batch))
		return err
	})
	if err != nil || len(batch) == 0 {
		return batch, err
	}
	r.chain.mu.Lock()
	r.chain.learn(next)
	r.chain.mu.Unlock()
	return batch, nil
}

// learn takes next, where a commit of this process left the head, as the
// head to chain after, unless a later commit has already gone past it
// (commits on the locked path may finish in another order than the one
// in which the database made them).
func (c *chainState) learn(next store.AuditHead) {
	if !c.known || next.Seq > c.head.Seq {
		c.head, c.known = next, true
	}
}

// eventsOf returns the events of a batch.
func eventsOf(batch []*pending) []store.AuditEvent {
	evs := make([]store.AuditEvent, len(batch))
	for i, p := range batch {
		evs[i] = p.ev
	}
	return evs
}

type recorderMetrics struct {
	depth         prometheus.Gauge
	batch         prometheus.Histogram
	flush         prometheus.Histogram
	sampled       *prometheus.CounterVec
	writeErrors   prometheus.Counter
	headConflicts prometheus.Counter
}

func newRecorderMetrics(reg prometheus.Registerer) recorderMetrics {
	m := recorderMetrics{
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authz_audit_queue_depth",
			Help: "Audit events waiting for the group commit.",
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authz_audit_batch_size",
			Help:    "Events per audit group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 … 512
		}),
		flush: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "authz_audit_flush_seconds",
			Help:    "Duration of one audit group commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms … 4 s
		}),
		sampled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_audit_sampled_total",
			Help: "Events counted but not written to the audit log by sampling.",
		}, []string{"action", "error_code"}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authz_audit_write_errors_total",
			Help: "Audit group commits that failed; their waiters were refused.",
		}),
		headConflicts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authz_audit_head_conflicts_total",
			Help: "Audit group commits made after the chain head this replica last wrote that found it moved by another writer, and were made again under the head's lock.",
		}),
	}
	if reg != nil {
		m.depth = promreg.Register(reg, m.depth)
		m.batch = promreg.Register(reg, m.batch)
		m.flush = promreg.Register(reg, m.flush)
		m.sampled = promreg.Register(reg, m.sampled)
		m.writeErrors = promreg.Register(reg, m.writeErrors)
		m.headConflicts = promreg.Register(reg, m.headConflicts)
	}
	return m
}
