package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authz/authz/outbound"
	"github.com/authz/authz/promreg"
	"github.com/authz/authz/store"
)

// Event types (docs/architecture.md "Webhooks").
const (
	KeyExpiring        = "key.expiring"
	KeyExpired         = "key.expired"
	KeyRevoked         = "key.revoked"
	PrincipalSuspended = "principal.suspended"

	// Offboarding and alerts (packages offboarding and alerts).
	PrincipalResumed           = "principal.resumed"
	PrincipalCredentialsBroken = "principal.credentials_broken"
	AlertRefusalSpike          = "alert.refusal_spike"
	AlertNewNetwork            = "alert.new_network"
	AlertAdminBurst            = "alert.admin_burst"
)

// AlertKeyConflict tells the operators (system administrators) that two
// tenants imported the same legacy key; it is refused until resolved.
const AlertKeyConflict = "alert.key_conflict"

// Config configures a Notifier. Zero values take the defaults.
type Config struct {
	// URL receives every webhook. Empty disables webhooks: Enqueue is a
	// no-op and Run only waits.
	URL string
	// Secret signs deliveries (derive it from the master key with
	// masterkey.PurposeWebhooks, or configure one the receivers know).
	// Required when URL is set.
	Secret []byte
	// Timeout bounds one delivery attempt (default 10 s).
	Timeout time.Duration
	// MaxAttempts is how many attempts a webhook gets before it is given
	// up (default 12).
	MaxAttempts int
	// BackoffBase is the wait after the first failure; it doubles with
	// each further failure up to BackoffMax (defaults 10 s and 1 h), with
	// jitter.
	BackoffBase, BackoffMax time.Duration
	// PollInterval is how often Run looks for due webhooks (default 5 s).
	PollInterval time.Duration
	// Client sends deliveries. Default: outbound's client with no allowed
	// networks, which refuses private, loopback and link-local receivers
	// and never follows a redirect (a receiver cannot bounce the signed
	// body elsewhere). The server passes its outbound.Fetcher's client, so
	// --outbound-allow-cidr applies to webhooks too.
	Client     *http.Client
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	// Now is the clock for scheduling and signing (nil: time.Now).
	Now func() time.Time
	// Sleep waits d or until ctx ends, returning ctx's error then (nil: a
	// timer). Tests replace it to drive Run without real waits.
	Sleep func(ctx context.Context, d time.Duration) error
}

const (
	defaultTimeout      = 10 * time.Second
	defaultMaxAttempts  = 12
	defaultBackoffBase  = 10 * time.Second
	defaultBackoffMax   = time.Hour
	defaultPollInterval = 5 * time.Second
	// claimBatch is how many webhooks one pass leases and delivers (in
	// parallel, so that one slow receiver answer does not hold the rest).
	claimBatch = 16
	// depthPages bounds the pages read to measure the queue depth.
	depthPages = 10
)

// never is the NextAttemptAt of a webhook that was given up: it stays in
// the outbox (with its LastError) for an operator to see, and is never due.
func never() time.Time { return time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC) }

var errNoSecret = errors.New("notify: a webhook URL is configured but no signing secret")

// Notifier queues webhooks in the store's outbox and delivers them.
type Notifier struct {
	st          store.Store
	url         string
	secret      []byte
	timeout     time.Duration
	lease       time.Duration
	maxAttempts int
	backoffBase time.Duration
	backoffMax  time.Duration
	poll        time.Duration
	client      *http.Client
	log         *slog.Logger
	now         func() time.Time
	sleep       func(context.Context, time.Duration) error
	met         metrics
}

// New returns a Notifier on st.
func New(st store.Store, cfg Config) *Notifier {
	n := &Notifier{
		st:          st,
		url:         cfg.URL,
		secret:      bytes.Clone(cfg.Secret),
		timeout:     orDefault(cfg.Timeout, defaultTimeout),
		maxAttempts: cfg.MaxAttempts,
		backoffBase: orDefault(cfg.BackoffBase, defaultBackoffBase),
		backoffMax:  orDefault(cfg.BackoffMax, defaultBackoffMax),
		poll:        orDefault(cfg.PollInterval, defaultPollInterval),
		client:      cfg.Client,
		log:         cfg.Logger,
		now:         cfg.Now,
		sleep:       cfg.Sleep,
		met:         newMetrics(cfg.Registerer),
	}
	if n.maxAttempts <= 0 {
		n.maxAttempts = defaultMaxAttempts
	}
	n.backoffMax = max(n.backoffMax, n.backoffBase)
	// The lease must outlast a whole pass (attempts run in parallel, each
	// bounded by Timeout, then marked), or another replica could claim a
	// webhook that is still being delivered.
	n.lease = max(3*n.timeout, time.Minute)
	if n.client == nil {
		n.client = outbound.New(outbound.Config{Timeout: n.timeout, UserAgent: "authz-webhooks/1", Logger: cfg.Logger}).Client()
	}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.now == nil {
		n.now = time.Now
	}
	if n.sleep == nil {
		n.sleep = sleep
	}
	return n
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Enabled reports whether a webhook URL is configured.
func (n *Notifier) Enabled() bool { return n.url != "" }

// envelope is the delivered body. It is built once, at Enqueue, and stored
// as the webhook's Payload, so that every retry sends the same bytes.
type envelope struct {
	ID        string          `json:"id"`
	Type      string          `json:"type"`
	CreatedAt string          `json:"created_at"`
	Data      json.RawMessage `json:"data"`
}

// Enqueue writes a webhook of eventType carrying data (marshalled as JSON;
// never put a secret in it) to the outbox through m, which should be the
// transaction of the change it announces: the notice then commits, or
// vanishes, with that change. It is a no-op when no URL is configured.
func (n *Notifier) Enqueue(ctx context.Context, m store.Mutations, eventType string, data any) error {
	if n.url == "" {
		return nil
	}
	switch eventType {
	case KeyExpiring, KeyExpired, KeyRevoked, PrincipalSuspended,
		PrincipalResumed, PrincipalCredentialsBroken, AlertRefusalSpike, AlertNewNetwork, AlertAdminBurst:
	case AlertKeyConflict:
	default:
		return fmt.Errorf("notify: unknown event type %q", eventType)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("notify: %s data: %w", eventType, err)
	}
	now := n.now().Truncate(time.Microsecond).UTC()
	w := store.Webhook{
		ID:            store.NewID(store.PrefixWebhook),
		EventType:     eventType,
		CreatedAt:     now,
		NextAttemptAt: now,
	}
	w.Payload, err = json.Marshal(envelope{ID: w.ID, Type: eventType, CreatedAt: now.Format(time.RFC3339Nano), Data: raw})
	if err != nil {
		return fmt.Errorf("notify: %s body: %w", eventType, err)
	}
	if err := m.EnqueueWebhook(ctx, w); err != nil {
		return fmt.Errorf("notify: enqueue %s: %w", eventType, err)
	}
	return nil
}

// Run delivers due webhooks until ctx ends. Several replicas may run it on
// one store: each pass leases what it attempts. A storage error is logged
// and the next pass tries again.
func (n *Notifier) Run(ctx context.Context) error {
	if n.url == "" {
		<-ctx.Done()
		return nil
	}
	if len(n.secret) == 0 {
		return errNoSecret
	}
	for {
		claimed, err := n.DeliverDue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			n.log.WarnContext(ctx, "webhook pass failed", "err", err)
		}
		n.measureDepth(ctx)
		if err == nil && claimed == claimBatch {
			continue // there may be more due right now
		}
		if n.sleep(ctx, n.poll) != nil {
			return nil
		}
	}
}

// DeliverDue makes one pass: it leases up to a batch of webhooks due now,
// attempts each once (in parallel) and records the outcome. It returns how
// many it attempted. Run calls it in a loop; it is exported for tools and
// tests that want one deterministic pass.
func (n *Notifier) DeliverDue(ctx context.Context) (int, error) {
	if n.url == "" {
		return 0, nil // disabled: leave the outbox for a configured replica
	}
	if len(n.secret) == 0 {
		return 0, errNoSecret
	}
	claimed, err := n.st.ClaimWebhooks(ctx, n.now(), n.lease, claimBatch)
	if err != nil {
		return 0, fmt.Errorf("notify: claim due webhooks: %w", err)
	}
	var wg sync.WaitGroup
	for _, w := range claimed {
		wg.Go(func() { n.attempt(ctx, w) })
	}
	wg.Wait()
	return len(claimed), nil
}

// attempt delivers w once and records the outcome.
func (n *Notifier) attempt(ctx context.Context, w store.Webhook) {
	err := n.post(ctx, w)
	// Record the outcome even if ctx just ended: a delivery that went
	// through but is not marked would be sent again.
	markCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), n.timeout)
	defer cancel()
	log := n.log.With("delivery", w.ID, "type", w.EventType)
	if err == nil {
		n.met.deliveries.WithLabelValues("delivered").Inc()
		if err := n.st.MarkWebhookDelivered(markCtx, w.ID, n.now()); err != nil {
			log.ErrorContext(ctx, "webhook delivered but not marked; it will be sent again", "err", err)
		}
		return
	}
	if ctx.Err() != nil {
		// Shutting down: not the receiver's fault, so not an attempt. The
		// lease lapses and a later pass (here or on another replica)
		// delivers it.
		return
	}
	attempts := w.Attempts + 1
	next, outcome := n.now().Add(n.backoff(attempts)), "retry"
	if attempts >= n.maxAttempts {
		next, outcome = never(), "gave_up"
	}
	n.met.deliveries.WithLabelValues(outcome).Inc()
	if merr := n.st.MarkWebhookFailed(markCtx, w.ID, attempts, next, err.Error()); merr != nil {
		log.ErrorContext(ctx, "webhook attempt failed and could not be recorded", "err", err, "mark_err", merr)
		return
	}
	if outcome == "gave_up" {
		log.ErrorContext(ctx, "webhook given up", "attempts", attempts, "err", err)
		return
	}
	log.WarnContext(ctx, "webhook attempt failed", "attempts", attempts, "next_attempt", next, "err", err)
}

// post sends w once and reports whether the receiver took it (2xx).
func (n *Notifier) post(ctx context.Context, w store.Webhook) error {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(w.Payload))
	if err != nil {
		return fmt.Errorf("build request: %w", stripURL(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "authz-webhooks/1")
	req.Header.Set(DeliveryHeader, w.ID)
	req.Header.Set(EventHeader, w.EventType)
	req.Header.Set(SignatureHeader, Sign(n.secret, n.now(), w.Payload))
	resp, err := n.client.Do(req)
	if err != nil {
		return stripURL(err)
	}
	// Drain a little so the connection can be reused; the body itself is
	// the receiver's business and is not kept.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered HTTP %d", resp.StatusCode)
	}
	return nil
}

// stripURL drops the URL from a client error: webhook URLs often carry a
// token in their path or query, and the error goes to logs and LastError.
func stripURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// backoff is the wait after the given number of failed attempts: base,
// doubling, capped at max, with "equal jitter" (half fixed, half random) so
// that a receiver coming back is not hit by every retry at once.
func (n *Notifier) backoff(attempts int) time.Duration {
	d := n.backoffBase
	for i := 1; i < attempts && d < n.backoffMax; i++ {
		d *= 2
	}
	d = min(d, n.backoffMax)
	return d/2 + rand.N(d/2+1)
}

// measureDepth counts webhooks still to be delivered (not given up). It
// saturates at depthPages pages: past that, the number matters less than
// the alert it raises.
func (n *Notifier) measureDepth(ctx context.Context) {
	var depth int
	cursor := ""
	for range depthPages {
		page, next, err := n.st.ListWebhooks(ctx, store.WebhookFilter{Pending: true}, store.Page{Limit: store.MaxLimit, After: cursor})
		if err != nil {
			return
		}
		for _, w := range page {
			if w.Attempts < n.maxAttempts {
				depth++
			}
		}
		if next == "" || len(page) == 0 {
			break
		}
		cursor = next
	}
	n.met.depth.Set(float64(depth))
}

type metrics struct {
	deliveries *prometheus.CounterVec
	depth      prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome: delivered, retry (failed, will retry), gave_up.",
		}, []string{"outcome"}),
		depth: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "authz_webhook_queue_depth",
			Help: "Webhooks in the outbox waiting for delivery (not given up).",
		}),
	}
	if reg != nil {
		m.deliveries = promreg.Register(reg, m.deliveries)
		m.depth = promreg.Register(reg, m.depth)
	}
	return m
}
