package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/authz/authz/reqmeta"
	"github.com/authz/authz/store"
)

// commits is how many group commits the recorder attempted, read from its
// batch-size histogram.
func commits(t testing.TB, r *Recorder) uint64 {
	t.Helper()
	var m dto.Metric
	if err := r.met.batch.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// waitQueued waits until n events are queued. It polls a condition, not a
// clock: a slow machine only makes it take longer.
func waitQueued(r *Recorder, n int) {
	for testutil.ToFloat64(r.met.depth) != float64(n) {
		time.Sleep(time.Millisecond)
	}
}

// hold takes every leadership slot, so that Record calls queue and wait as
// if commits were under way, until release hands the slots back (to queued
// waiters, as leaders finishing a commit do).
func hold(r *Recorder) (release func()) {
	r.mu.Lock()
	held := r.flushers - r.leaders
	r.leaders = r.flushers
	r.mu.Unlock()
	return func() {
		for range held {
			r.handOff()
		}
	}
}

// recordAll starts n concurrent Record calls and returns a function that
// waits for them and returns their errors.
func recordAll(r *Recorder, n int) func() []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx := reqmeta.With(context.Background(), reqmeta.Meta{RequestID: fmt.Sprintf("req-%d", i)})
			ev := event("token.issue")
			ev.Target = fmt.Sprintf("token:%d", i)
			errs[i] = r.Record(ctx, ev)
		})
	}
	return func() []error { wg.Wait(); return errs }
}

func runRecorder(t *testing.T, r *Recorder) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func TestRecorderGroupCommit(t *testing.T) {
	tests := []struct {
		name     string
		maxBatch int
		events   int
		commits  uint64
	}{
		{"one commit for everything queued", 0, 64, 1},
		{"batches of MaxBatch", 8, 64, 8},
		{"a partial last batch", 10, 25, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, b backend) {
				r := NewRecorder(b.st, RecorderConfig{MaxBatch: tc.maxBatch})
				// Queue every event before the flusher starts, so that
				// batching does not depend on scheduling: no caller may
				// lead a commit meanwhile.
				defer hold(r)()
				wait := recordAll(r, tc.events)
				waitQueued(r, tc.events)
				stop := runRecorder(t, r)
				defer stop()
				for i, err := range wait() {
					if err != nil {
						t.Fatalf("Record %d: %v", i, err)
					}
				}
				if got := commits(t, r); got != tc.commits {
					t.Fatalf("%d events took %d commits, want %d", tc.events, got, tc.commits)
				}
				evs := allEvents(t, b.st)
				seen := map[string]bool{}
				for _, ev := range evs {
					seen[ev.RequestID] = true
				}
				if len(evs) != tc.events || len(seen) != tc.events {
					t.Fatalf("%d events stored (%d distinct requests), want %d", len(evs), len(seen), tc.events)
				}
				mustVerify(t, b.st, int64(tc.events))
			})
		})
	}
}

// Many goroutines recording while the flusher runs: one unbroken chain,
// every event there, and never more commits than events.
func TestRecorderConcurrentRecordsWhileRunning(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		r := NewRecorder(b.st, RecorderConfig{})
		stop := runRecorder(t, r)
		defer stop()
		const n = 200
		for i, err := range recordAll(r, n)() {
			if err != nil {
				t.Fatalf("Record %d: %v", i, err)
			}
		}
		if got := commits(t, r); got < 1 || got > n {
			t.Fatalf("%d commits for %d events", got, n)
		}
		mustVerify(t, b.st, n)
	})
}

// failingCommit is the real store whose transactions fail at the end, after
// every statement in them ran: the worst moment for a batch.
type failingCommit struct {
	store.Store
	mu  sync.Mutex
	err error
}

func (f *failingCommit) fail(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }

func (f *failingCommit) Tx(ctx context.Context, fn func(store.Tx) error) error {
	return f.Store.Tx(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.err
	})
}

func TestRecorderStorageFailureReachesEveryWaiter(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		st := &failingCommit{Store: b.st}
		st.fail(fmt.Errorf("commit: %w", store.ErrUnavailable))
		r := NewRecorder(st, RecorderConfig{})
		const n = 16
		release := hold(r)
		wait := recordAll(r, n)
		waitQueued(r, n)
		stop := runRecorder(t, r)
		defer stop()
		for i, err := range wait() {
			if !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("waiter %d got %v, want an error wrapping store.ErrUnavailable", i, err)
			}
		}
		release()
		if got := testutil.ToFloat64(r.met.writeErrors); got != 1 {
			t.Fatalf("authz_audit_write_errors_total = %v, want 1", got)
		}
		if evs := allEvents(t, b.st); len(evs) != 0 {
			t.Fatalf("%d events of the failed batch were written", len(evs))
		}
		if h := headOf(t, b.st); h.Seq != 0 {
			t.Fatalf("head moved to %d by a failed batch", h.Seq)
		}

		// The database comes back: the recorder goes on, the chain is whole.
		st.fail(nil)
		if err := r.Record(context.Background(), event("token.issue")); err != nil {
			t.Fatalf("Record after recovery: %v", err)
		}
		mustVerify(t, b.st, 1)
	})
}

// A database that is gone (here: the store's pool closed under the
// recorder) fails every waiter with store.ErrUnavailable, which the token
// endpoint turns into 503 "unavailable" instead of issuing unaudited.
func TestRecorderDatabaseGone(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		r := NewRecorder(b.st, RecorderConfig{})
		const n = 8
		defer hold(r)()
		wait := recordAll(r, n)
		waitQueued(r, n)
		if err := b.st.Close(); err != nil {
			t.Fatal(err)
		}
		stop := runRecorder(t, r)
		defer stop()
		for i, err := range wait() {
			if !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("waiter %d got %v, want an error wrapping store.ErrUnavailable", i, err)
			}
		}
		var rows int
		if err := b.raw.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM audit_events`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != 0 {
			t.Fatalf("%d events written by a failed batch", rows)
		}
	})
}

// hungStore is the real store whose transactions hang until their context
// ends, like a database that stopped answering.
type hungStore struct {
	store.Store
	hang atomic.Bool
}

func (h *hungStore) AppendAudit(ctx context.Context, evs []store.AuditEvent) error {
	if h.hang.Load() {
		<-ctx.Done()
		return fmt.Errorf("append: %w (%w)", store.ErrUnavailable, ctx.Err())
	}
	return h.Store.AppendAudit(context.WithoutCancel(ctx), evs)
}

func (h *hungStore) Tx(ctx context.Context, fn func(store.Tx) error) error {
	if h.hang.Load() {
		<-ctx.Done()
		return fmt.Errorf("begin: %w (%w)", store.ErrUnavailable, ctx.Err())
	}
	// Once it answers again, the test's tiny commit timeout must not fail
	// a commit that is merely slow on a busy machine.
	return h.Store.Tx(context.WithoutCancel(ctx), func(tx store.Tx) error { return fn(patientTx{tx}) })
}

// patientTx ignores its callers' deadlines.
type patientTx struct{ store.Tx }

func (p patientTx) AuditHead(ctx context.Context) (store.AuditHead, error) {
	return p.Tx.AuditHead(context.WithoutCancel(ctx))
}

func (p patientTx) InsertAudit(ctx context.Context, evs []store.AuditEvent) error {
	return p.Tx.InsertAudit(context.WithoutCancel(ctx), evs)
}

// A hung commit fails its batch after CommitTimeout instead of holding
// every later request; the next batch gets through.
func TestRecorderCommitTimeout(t *testing.T) {
	b := openSQLite(t)
	st := &hungStore{Store: b.st}
	st.hang.Store(true)
	r := NewRecorder(st, RecorderConfig{CommitTimeout: time.Millisecond})
	stop := runRecorder(t, r)
	defer stop()
	if err := r.Record(context.Background(), event("token.issue")); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Record on a hung database = %v, want unavailable after the commit timeout", err)
	}
	st.hang.Store(false)
	if err := r.Record(context.Background(), event("token.issue")); err != nil {
		t.Fatalf("Record after the database answers again: %v", err)
	}
	mustVerify(t, b.st, 1)

	// The same when the commit hangs on the head this process last wrote.
	st.hang.Store(true)
	if err := r.Record(context.Background(), event("token.issue")); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Record on a hung database = %v, want unavailable after the commit timeout", err)
	}
	st.hang.Store(false)
	if err := r.Record(context.Background(), event("token.issue")); err != nil {
		t.Fatalf("Record after the database answers again: %v", err)
	}
	mustVerify(t, b.st, 2)
}

func TestRecorderCloseFlushesQueued(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		r := NewRecorder(b.st, RecorderConfig{MaxBatch: 4})
		const n = 10
		defer hold(r)()
		wait := recordAll(r, n)
		waitQueued(r, n)
		if err := r.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for i, err := range wait() {
			if err != nil {
				t.Fatalf("Record %d: %v", i, err)
			}
		}
		mustVerify(t, b.st, n)
		if err := r.Record(context.Background(), event("token.issue")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Record after Close = %v, want ErrClosed", err)
		}
	})
}

func TestRecorderRunDrainsWhenContextEnds(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		r := NewRecorder(b.st, RecorderConfig{})
		defer hold(r)()
		wait := recordAll(r, 5)
		waitQueued(r, 5)
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // Run starts with its context already ended: it only drains
		if err := r.Run(ctx); err != nil {
			t.Fatalf("Run: %v", err)
		}
		for _, err := range wait() {
			if err != nil {
				t.Fatalf("Record: %v", err)
			}
		}
		mustVerify(t, b.st, 5)
		if err := r.Record(context.Background(), event("token.issue")); !errors.Is(err, ErrClosed) {
			t.Fatalf("Record after Run ended = %v, want ErrClosed", err)
		}
	})
}

func TestRecordRefusesInvalidEventAndWithdrawsOnCancel(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		r := NewRecorder(b.st, RecorderConfig{})
		if err := r.Record(context.Background(), store.AuditEvent{}); !errors.Is(err, ErrInvalidEvent) {
			t.Fatalf("Record(no action) = %v, want ErrInvalidEvent", err)
		}
		// No flusher, no leader: the caller gives up, and its event is
		// taken back.
		defer hold(r)()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Record(ctx, event("token.issue")) }()
		waitQueued(r, 1)
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("Record = %v, want context.Canceled", err)
		}
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if evs := allEvents(t, b.st); len(evs) != 0 {
			t.Fatalf("withdrawn event was written: %+v", evs)
		}
	})
}

// clock is a manual clock for Sample's windows.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func TestSampleRecordsFirstAndCountsTheRest(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
		r := NewRecorder(b.st, RecorderConfig{SampleInterval: 10 * time.Second, Now: clk.Now})
		from := func(addr string) context.Context {
			return reqmeta.With(context.Background(), reqmeta.Meta{ClientAddr: addr})
		}
		malformed := store.AuditEvent{Action: "token.refuse", Outcome: OutcomeRefused, ErrorCode: "key_malformed"}
		limited := store.AuditEvent{Action: "token.refuse", Outcome: OutcomeRefused, ErrorCode: "rate_limited"}

		for range 5 {
			r.Sample(from("192.0.2.1"), malformed) // first recorded, 4 counted
		}
		r.Sample(from("192.0.2.2"), malformed) // another address: recorded
		r.Sample(from("192.0.2.1"), limited)   // another code: recorded
		clk.Advance(9 * time.Second)
		r.Sample(from("192.0.2.1"), malformed) // same window: counted (5)
		clk.Advance(time.Second)
		r.Sample(from("192.0.2.1"), malformed) // new window: recorded with suppressed 5
		r.Sample(from("192.0.2.1"), malformed) // counted (1), written at Close
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}

		type row struct {
			addr, code string
			suppressed int64
		}
		var got []row
		for _, ev := range allEvents(t, b.st) {
			var d struct{ Suppressed int64 }
			if len(ev.Details) > 0 {
				if err := json.Unmarshal(ev.Details, &d); err != nil {
					t.Fatalf("details %s: %v", ev.Details, err)
				}
			}
			got = append(got, row{ev.ClientAddr, ev.ErrorCode, d.Suppressed})
		}
		want := []row{
			{"192.0.2.1", "key_malformed", 0},
			{"192.0.2.2", "key_malformed", 0},
			{"192.0.2.1", "rate_limited", 0},
			{"192.0.2.1", "key_malformed", 5},
			{"192.0.2.1", "key_malformed", 1},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("recorded %v\nwant     %v", got, want)
		}
		if n := testutil.ToFloat64(r.met.sampled.WithLabelValues("token.refuse", "key_malformed")); n != 6 {
			t.Fatalf("authz_audit_sampled_total{key_malformed} = %v, want 6", n)
		}
		mustVerify(t, b.st, int64(len(want)))
	})
}

// A flood from more addresses than Sample tracks is counted, not written;
// once the windows pass, the counts reach the log as summaries.
func TestSampleWideFloodStaysBounded(t *testing.T) {
	b := openSQLite(t)
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	r := NewRecorder(b.st, RecorderConfig{SampleInterval: 10 * time.Second, Now: clk.Now})
	r.maxKeys = 3
	ev := store.AuditEvent{Action: "token.refuse", Outcome: OutcomeRefused, ErrorCode: "key_malformed"}
	from := func(i int) context.Context {
		return reqmeta.With(context.Background(), reqmeta.Meta{ClientAddr: fmt.Sprintf("198.51.100.%d", i)})
	}
	for i := range 3 {
		r.Sample(from(i), ev) // recorded: the map is now full
		r.Sample(from(i), ev) // counted
	}
	for i := 3; i < 50; i++ {
		r.Sample(from(i), ev) // a wide flood: counted only
	}
	clk.Advance(10 * time.Second)
	r.Sample(from(99), ev) // windows passed: summaries of 0..2, then recorded
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs := allEvents(t, b.st)
	var suppressed int
	for _, e := range evs {
		var d struct{ Suppressed int }
		_ = json.Unmarshal(e.Details, &d)
		suppressed += d.Suppressed
	}
	if len(evs) != 7 || suppressed != 3 {
		t.Fatalf("%d events with %d suppressed in the log, want 3 first events, 3 summaries (3 suppressed) and the new one", len(evs), suppressed)
	}
	if n := testutil.ToFloat64(r.met.sampled.WithLabelValues("token.refuse", "key_malformed")); n != 3+47 {
		t.Fatalf("authz_audit_sampled_total = %v, want %d", n, 3+47)
	}
	mustVerify(t, b.st, 7)
}

func TestWithSuppressedKeepsDetails(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{``, `{"suppressed":3}`},
		{`{"reason":"bad checksum"}`, `{"reason":"bad checksum","suppressed":3}`},
		{`["x"]`, `{"details":["x"],"suppressed":3}`},
	} {
		if got := string(withSuppressed(json.RawMessage(tc.in), 3)); got != tc.want {
			t.Errorf("withSuppressed(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestRecorderMetricsRegistered(t *testing.T) {
	reg := prometheus.NewRegistry()
	b := openSQLite(t)
	r := NewRecorder(b.st, RecorderConfig{Registerer: reg})
	_ = NewRecorder(b.st, RecorderConfig{Registerer: reg}) // shares the series rather than panicking
	r.Sample(context.Background(), event("token.refuse"))
	r.Sample(context.Background(), event("token.refuse"))
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"authz_audit_queue_depth", "authz_audit_batch_size", "authz_audit_flush_seconds",
		"authz_audit_sampled_total", "authz_audit_write_errors_total"} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n == 0 {
			t.Errorf("%s: %d series, %v", name, n, err)
		}
	}
}

// gatedStore holds its first transaction open, after fn has written, until
// gate is closed: a commit waiting for the disk.
type gatedStore struct {
	store.Store
	first   atomic.Bool
	reached chan struct{}
	gate    chan struct{}
}

func (g *gatedStore) Tx(ctx context.Context, fn func(store.Tx) error) error {
	return g.Store.Tx(ctx, func(tx store.Tx) error {
		err := fn(tx)
		if g.first.CompareAndSwap(false, true) {
			close(g.reached)
			<-g.gate
		}
		return err
	})
}

// Leader/follower group commit, without Run: the first Record commits at
// once on its own; the events that arrive while that commit waits form the
// next commit, one for all of them.
func TestRecorderLeaderFollower(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		g := &gatedStore{Store: b.st, reached: make(chan struct{}), gate: make(chan struct{})}
		r := NewRecorder(g, RecorderConfig{})
		first := recordAll(r, 1)
		<-g.reached // the first event's commit is under way, with no flusher running
		const n = 20
		rest := recordAll(r, n)
		waitQueued(r, n)
		close(g.gate)
		for i, err := range append(first(), rest()...) {
			if err != nil {
				t.Fatalf("Record %d: %v", i, err)
			}
		}
		if got := commits(t, r); got != 2 {
			t.Fatalf("%d commits, want 2: the first event's, then one for the %d that queued during it", got, n)
		}
		mustVerify(t, b.st, n+1)
		// Alone again: a single Record commits by itself, at once.
		if err := r.Record(context.Background(), event("token.issue")); err != nil {
			t.Fatal(err)
		}
		if got := commits(t, r); got != 3 {
			t.Fatalf("%d commits after one more Record, want 3", got)
		}
		if err := r.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}
