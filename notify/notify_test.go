package notify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/authz/authz/outbound"
	"github.com/authz/authz/store"
)

var (
	testSecret = []byte("webhook-secret-for-tests-0123456789")
	t0         = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type delivery struct {
	id, event, signature string
	body                 []byte
	at                   time.Time // the test clock when it arrived
}

// receiver is a webhook endpoint that answers with the given statuses in
// order, then 200, and records what it got.
type receiver struct {
	url      string
	clk      *clock
	mu       sync.Mutex
	statuses []int
	got      []delivery
	inflight map[string]int
	overlap  bool // a delivery id was in flight twice at once
	// hold, if set, makes every request wait until its context ends, after
	// telling arrived.
	hold    bool
	arrived chan string
}

func newReceiver(t *testing.T, clk *clock, statuses ...int) *receiver {
	r := &receiver{clk: clk, statuses: statuses, inflight: map[string]int{}, arrived: make(chan string, 64)}
	srv := httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/hooks"
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get(DeliveryHeader)
	r.mu.Lock()
	r.inflight[id]++
	if r.inflight[id] > 1 {
		r.overlap = true
	}
	r.got = append(r.got, delivery{id, req.Header.Get(EventHeader), req.Header.Get(SignatureHeader), body, r.clk.Now()})
	status := http.StatusOK
	if len(r.statuses) > 0 {
		status, r.statuses = r.statuses[0], r.statuses[1:]
	}
	hold := r.hold
	r.mu.Unlock()
	if hold {
		r.arrived <- id
		<-req.Context().Done()
	}
	r.mu.Lock()
	r.inflight[id]--
	r.mu.Unlock()
	w.WriteHeader(status)
}

func (r *receiver) deliveries() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

func enqueue(t *testing.T, st store.Store, n *Notifier, typ string, data any) {
	t.Helper()
	if err := st.Tx(context.Background(), func(tx store.Tx) error { return n.Enqueue(context.Background(), tx, typ, data) }); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
}

func webhooks(t *testing.T, st store.Store) []store.Webhook {
	t.Helper()
	ws, _, err := st.ListWebhooks(context.Background(), store.WebhookFilter{}, store.Page{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func deliverDue(t *testing.T, n *Notifier, want int) {
	t.Helper()
	got, err := n.DeliverDue(context.Background())
	if err != nil {
		t.Fatalf("DeliverDue: %v", err)
	}
	if got != want {
		t.Fatalf("DeliverDue attempted %d webhooks, want %d", got, want)
	}
}

func TestReceiverDownThenBackGetsTheEventOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		clk := &clock{t: t0}
		rcv := newReceiver(t, clk, http.StatusServiceUnavailable, http.StatusServiceUnavailable)
		reg := prometheus.NewRegistry()
		n := New(st, Config{URL: rcv.url, Client: loopbackClient(t), Secret: testSecret, Now: clk.Now, Registerer: reg,
			BackoffBase: 10 * time.Second, BackoffMax: time.Minute})
		enqueue(t, st, n, KeyRevoked, map[string]string{"key_id": "key_1", "reason": "leaked"})

		deliverDue(t, n, 1) // 503
		w := webhooks(t, st)[0]
		if w.Attempts != 1 || w.DeliveredAt != nil || !strings.Contains(w.LastError, "503") {
			t.Fatalf("after a 503: %+v", w)
		}
		if wait := w.NextAttemptAt.Sub(clk.Now()); wait < 5*time.Second || wait > 10*time.Second {
			t.Fatalf("first retry in %s, want within the first backoff step [5s, 10s]", wait)
		}
		deliverDue(t, n, 0) // not due yet
		clk.Advance(time.Minute)
		deliverDue(t, n, 1) // 503 again
		clk.Advance(time.Minute)
		deliverDue(t, n, 1) // the receiver is back
		if w := webhooks(t, st)[0]; w.DeliveredAt == nil || w.Attempts != 2 {
			t.Fatalf("after the 200: %+v, want delivered after 2 failed attempts", w)
		}
		clk.Advance(24 * time.Hour)
		deliverDue(t, n, 0) // delivered once is delivered

		got := rcv.deliveries()
		if len(got) != 3 {
			t.Fatalf("receiver got %d requests, want 3", len(got))
		}
		for i, d := range got {
			if d.id != w.ID || d.event != KeyRevoked || string(d.body) != string(got[0].body) {
				t.Fatalf("attempt %d: id %q event %q, want the same delivery each time (%q)", i, d.id, d.event, w.ID)
			}
			if err := VerifySignature(testSecret, d.signature, d.body, d.at, time.Minute); err != nil {
				t.Fatalf("attempt %d: signature: %v", i, err)
			}
		}
		var body struct {
			ID        string
			Type      string
			CreatedAt string `json:"created_at"`
			Data      map[string]string
		}
		if err := json.Unmarshal(got[0].body, &body); err != nil {
			t.Fatal(err)
		}
		if body.ID != w.ID || body.Data["key_id"] != "key_1" {
			t.Fatalf("body %s", got[0].body)
		}
		if _, err := time.Parse(time.RFC3339, body.CreatedAt); err != nil {
			t.Fatalf("created_at %q is not RFC 3339: %v", body.CreatedAt, err)
		}
		for outcome, want := range map[string]float64{"retry": 2, "delivered": 1, "gave_up": 0} {
			if got := testutil.ToFloat64(n.met.deliveries.WithLabelValues(outcome)); got != want {
				t.Errorf("authz_webhook_deliveries_total{outcome=%q} = %v, want %v", outcome, got, want)
			}
		}
	})
}

// Run's loop, driven by a sleep hook that advances the test clock instead
// of waiting.
func TestRunRetriesUntilDelivered(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		clk := &clock{t: t0}
		rcv := newReceiver(t, clk, http.StatusBadGateway, http.StatusInternalServerError)
		n := New(st, Config{URL: rcv.url, Client: loopbackClient(t), Secret: testSecret, Now: clk.Now, BackoffBase: time.Second, BackoffMax: 4 * time.Second,
			Sleep: func(ctx context.Context, d time.Duration) error {
				clk.Advance(d)
				runtime.Gosched()
				return ctx.Err()
			}})
		enqueue(t, st, n, PrincipalSuspended, map[string]string{"principal_id": "prn_1"})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- n.Run(ctx) }()
		for {
			ws := webhooks(t, st)
			if ws[0].DeliveredAt != nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if got := rcv.deliveries(); len(got) != 3 || got[0].id != got[2].id {
			t.Fatalf("receiver got %d requests, want 3 of one delivery", len(got))
		}
	})
}

func TestRestartLosesNothing(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		clk := &clock{t: t0}
		rcv := newReceiver(t, clk, 503, 503, 503)
		cfg := Config{URL: rcv.url, Client: loopbackClient(t), Secret: testSecret, Now: clk.Now, BackoffBase: time.Second, BackoffMax: time.Second}
		first := New(st, cfg)
		for _, key := range []string{"key_1", "key_2", "key_3"} {
			enqueue(t, st, first, KeyExpired, map[string]string{"key_id": key})
		}
		want := map[string]bool{}
		for _, w := range webhooks(t, st) {
			want[w.ID] = true
		}
		deliverDue(t, first, 3) // all refused; then the process stops

		second := New(st, cfg) // a new process on the same database
		clk.Advance(time.Minute)
		deliverDue(t, second, 3)
		got := map[string]int{}
		for _, d := range rcv.deliveries() {
			got[d.id]++
		}
		for id := range want {
			if got[id] != 2 {
				t.Errorf("delivery %s reached the receiver %d times, want 2 (refused, then delivered after the restart)", id, got[id])
			}
		}
		for _, w := range webhooks(t, st) {
			if w.DeliveredAt == nil {
				t.Errorf("webhook %s not delivered after the restart", w.ID)
			}
		}
	})
}

// A process that stops in the middle of a delivery leaves it leased; once
// the lease lapses another process delivers it, with the same id.
func TestDeliveryInterruptedMidFlightIsRetriedAfterTheLease(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		clk := &clock{t: t0}
		rcv := newReceiver(t, clk)
		rcv.hold = true
		cfg := Config{URL: rcv.url, Client: loopbackClient(t), Secret: testSecret, Now: clk.Now}
		first := New(st, cfg)
		enqueue(t, st, first, KeyRevoked, map[string]string{"key_id": "key_1"})

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = first.DeliverDue(ctx)
		}()
		id := <-rcv.arrived
		cancel() // the process stops while the receiver is still answering
		<-done
		if w := webhooks(t, st)[0]; w.Attempts != 0 || w.DeliveredAt != nil {
			t.Fatalf("an interrupted delivery was recorded as an outcome: %+v", w)
		}

		rcv.mu.Lock()
		rcv.hold = false
		rcv.mu.Unlock()
		second := New(st, cfg)
		deliverDue(t, second, 0) // still leased to the first process
		clk.Advance(first.lease)
		deliverDue(t, second, 1)
		got := rcv.deliveries()
		if len(got) != 2 || got[1].id != id {
			t.Fatalf("deliveries %v, want the interrupted one (%s) again", got, id)
		}
		if w := webhooks(t, st)[0]; w.DeliveredAt == nil {
			t.Fatal("not delivered after the lease lapsed")
		}
	})
}

func TestTwoNotifiersNeverDeliverOneWebhookTwice(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		clk := &clock{t: t0} // fixed: leases never lapse during the test
		rcv := newReceiver(t, clk)
		cfg := Config{URL: rcv.url, Client: loopbackClient(t), Secret: testSecret, Now: clk.Now}
		const total = 60
		for i := range total {
			enqueue(t, st, New(st, cfg), KeyExpiring, map[string]int{"n": i})
		}
		var wg sync.WaitGroup
		for range 2 {
			n := New(st, cfg)
			wg.Go(func() {
				for {
					k, err := n.DeliverDue(context.Background())
					if err != nil {
						t.Errorf("DeliverDue: %v", err)
						return
					}
					if k == 0 {
						return
					}
				}
			})
		}
		wg.Wait()
		count := map[string]int{}
		for _, d := range rcv.deliveries() {
			count[d.id]++
		}
		if len(count) != total {
			t.Fatalf("%d distinct deliveries, want %d", len(count), total)
		}
		for id, c := range count {
			if c != 1 {
				t.Errorf("delivery %s sent %d times", id, c)
			}
		}
		if rcv.overlap {
			t.Error("one delivery was in flight twice at the same time")
		}
	})
}

func TestGiveUpAfterMaxAttempts(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		clk := &clock{t: t0}
		rcv := newReceiver(t, clk, 500, 500, 500, 500, 500)
		n := New(st, Config{URL: rcv.url, Client: loopbackClient(t), Secret: testSecret, Now: clk.Now, MaxAttempts: 3, BackoffBase: time.Second, BackoffMax: time.Second})
		enqueue(t, st, n, KeyRevoked, map[string]string{"key_id": "key_1"})
		for range 3 {
			deliverDue(t, n, 1)
			clk.Advance(time.Minute)
		}
		clk.Advance(10 * 365 * 24 * time.Hour)
		deliverDue(t, n, 0) // given up: never due again
		w := webhooks(t, st)[0]
		if w.Attempts != 3 || w.DeliveredAt != nil || !strings.Contains(w.LastError, "500") {
			t.Fatalf("given-up webhook: %+v, want 3 attempts and the last error kept", w)
		}
		if len(rcv.deliveries()) != 3 {
			t.Fatalf("receiver got %d requests, want 3", len(rcv.deliveries()))
		}
		if got := testutil.ToFloat64(n.met.deliveries.WithLabelValues("gave_up")); got != 1 {
			t.Fatalf("gave_up = %v, want 1", got)
		}
		n.measureDepth(context.Background())
		if got := testutil.ToFloat64(n.met.depth); got != 0 {
			t.Fatalf("queue depth counts a given-up webhook: %v", got)
		}
	})
}

func TestEnqueue(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		n := New(st, Config{URL: "http://receiver.invalid/hook", Client: loopbackClient(t), Secret: testSecret, Now: (&clock{t: t0}).Now})
		boom := errors.New("the change failed")
		err := st.Tx(ctx, func(tx store.Tx) error {
			if err := n.Enqueue(ctx, tx, KeyRevoked, map[string]string{"key_id": "key_1"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx = %v", err)
		}
		if ws := webhooks(t, st); len(ws) != 0 {
			t.Fatalf("a notice of a rolled-back change remained: %+v", ws)
		}

		if err := n.Enqueue(ctx, st, "key.exploded", nil); err == nil {
			t.Fatal("unknown event type accepted")
		}
		if err := n.Enqueue(ctx, st, KeyRevoked, func() {}); err == nil {
			t.Fatal("data that is not JSON accepted")
		}
		disabled := New(st, Config{})
		if err := disabled.Enqueue(ctx, st, KeyRevoked, map[string]string{}); err != nil || disabled.Enabled() {
			t.Fatalf("Enqueue without a URL = %v", err)
		}
		if ws := webhooks(t, st); len(ws) != 0 {
			t.Fatalf("refused or disabled Enqueue wrote %+v", ws)
		}

		enqueue(t, st, n, KeyExpiring, map[string]string{"key_id": "key_2"})
		ws := webhooks(t, st)
		if len(ws) != 1 || !store.HasPrefix(ws[0].ID, store.PrefixWebhook) || !ws[0].NextAttemptAt.Equal(t0) || !ws[0].CreatedAt.Equal(t0) {
			t.Fatalf("queued %+v", ws)
		}
		var body envelope
		if err := json.Unmarshal(ws[0].Payload, &body); err != nil || body.ID != ws[0].ID || body.Type != KeyExpiring || string(body.Data) != `{"key_id":"key_2"}` {
			t.Fatalf("payload %s (%v)", ws[0].Payload, err)
		}
	})
}

// Webhook URLs often carry a token; it must not reach LastError or logs.
// Redirects are not followed: the signed body goes to the configured URL
// only.
func TestDeliveryFailuresAreSafe(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		clk := &clock{t: t0}
		dead := httptest.NewServer(http.NotFoundHandler())
		deadURL := dead.URL + "/hook?token=SECRET-TOKEN"
		dead.Close()

		elsewhere := newReceiver(t, clk)
		redirector := httptest.NewServer(http.RedirectHandler(elsewhere.url, http.StatusTemporaryRedirect))
		t.Cleanup(redirector.Close)

		for _, tc := range []struct{ name, url, errPart string }{
			{"receiver unreachable", deadURL, "connect"},
			{"redirect", redirector.URL + "/?token=SECRET-TOKEN", "307"},
		} {
			n := New(st, Config{URL: tc.url, Client: loopbackClient(t), Secret: testSecret, Now: clk.Now})
			enqueue(t, st, n, KeyRevoked, map[string]string{})
			deliverDue(t, n, 1)
		}
		ws := webhooks(t, st)
		for _, w := range ws {
			if w.Attempts != 1 || strings.Contains(w.LastError, "SECRET-TOKEN") || w.LastError == "" {
				t.Errorf("LastError %q (attempts %d): want a failure that does not repeat the URL", w.LastError, w.Attempts)
			}
		}
		if len(elsewhere.deliveries()) != 0 {
			t.Error("a redirect was followed")
		}
	})
}

func TestRunNeedsASecret(t *testing.T) {
	n := New(nil, Config{URL: "http://receiver.invalid"})
	if err := n.Run(context.Background()); err == nil {
		t.Fatal("Run without a secret started")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := New(nil, Config{}).Run(ctx); err != nil {
		t.Fatalf("disabled Run = %v, want nil when ctx ends", err)
	}
	// Neither touches the outbox (the store is nil here).
	if _, err := n.DeliverDue(context.Background()); err == nil {
		t.Fatal("DeliverDue without a secret ran")
	}
	if k, err := New(nil, Config{}).DeliverDue(context.Background()); k != 0 || err != nil {
		t.Fatalf("disabled DeliverDue = %d, %v", k, err)
	}
}

// loopbackClient is the webhook client of the server with loopback allowed
// (--outbound-allow-cidr 127.0.0.0/8), as the receivers of these tests
// listen there.
func loopbackClient(t testing.TB) *http.Client {
	t.Helper()
	allow, err := outbound.ParseCIDRs([]string{"127.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	return outbound.New(outbound.Config{Allow: allow}).Client()
}

// TestDefaultClientRefusesPrivateReceivers: without an allow list, a
// receiver on loopback (standing for any internal service) is never
// posted to (issue 18 §2: webhooks' receivers get the outbound rules).
func TestDefaultClientRefusesPrivateReceivers(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		clk := &clock{t: t0}
		rcv := newReceiver(t, clk)
		n := New(st, Config{URL: rcv.url, Secret: testSecret, Now: clk.Now})
		enqueue(t, st, n, KeyRevoked, map[string]string{})
		deliverDue(t, n, 1)
		if len(rcv.deliveries()) != 0 {
			t.Fatal("a loopback receiver got the webhook without --outbound-allow-cidr")
		}
		ws := webhooks(t, st)
		if len(ws) != 1 || ws[0].Attempts != 1 || !strings.Contains(ws[0].LastError, "not allowed") {
			t.Fatalf("webhooks %+v", ws)
		}
	})
}
