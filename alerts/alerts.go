package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/promreg"
	"github.com/authz/authz/store"
)

// Alert names (also the webhook event types and audit actions).
const (
	RefusalSpike = "alert.refusal_spike"
	NewNetwork   = "alert.new_network"
	AdminBurst   = "alert.admin_burst"
)

// New-network actions.
const (
	ActionNotify            = "notify"
	ActionSuspendCredential = "suspend-credential"
)

// Notifier queues a webhook in the caller's transaction (*notify.Notifier).
type Notifier interface {
	Enqueue(ctx context.Context, m store.Mutations, eventType string, data any) error
}

// Config configures the detectors. Zero values take the defaults.
type Config struct {
	Store    store.Store
	Notifier Notifier // nil: alerts are audited and counted only

	// refusal_spike
	SpikeWindow   time.Duration // default 5 min
	SpikeFactor   float64       // default 5
	SpikeMinCount int           // default 50
	SpikeAlpha    float64       // EWMA weight of the last window, default 0.3

	// new_network
	NetworkLearning time.Duration // default 7 days
	NetworkAction   string        // ActionNotify (default) or ActionSuspendCredential
	MaxPrefixes     int           // default 64

	// admin_burst
	BurstWindow        time.Duration // default 10 min
	BurstMaxPrincipals int           // default 10
	BurstMaxInUse      int           // default 3

	MaxTracked int // default 10,000
	QueueSize  int // default 4096

	// Changed, if set, is called after an alert changed a credential
	// (suspend-credential), so that caches forget it at once.
	Changed    func()
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
}

const shards = 32

// Detectors watches token decisions and offboardings.
type Detectors struct {
	cfg   Config
	st    store.Store
	seed  maphash.Seed
	spike [shards]spikeShard
	nets  [shards]netShard
	queue chan job
	met   metrics
}

type job struct {
	spike *spikeAlert
	net   *netUse
}

// New returns the detectors; start the worker with Run.
func New(cfg Config) (*Detectors, error) {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.SpikeWindow, 5*time.Minute)
	def(&cfg.NetworkLearning, 7*24*time.Hour)
	def(&cfg.BurstWindow, 10*time.Minute)
	if cfg.SpikeFactor <= 0 {
		cfg.SpikeFactor = 5
	}
	if cfg.SpikeMinCount <= 0 {
		cfg.SpikeMinCount = 50
	}
	if cfg.SpikeAlpha <= 0 || cfg.SpikeAlpha > 1 {
		cfg.SpikeAlpha = 0.3
	}
	switch cfg.NetworkAction {
	case "":
		cfg.NetworkAction = ActionNotify
	case ActionNotify, ActionSuspendCredential:
	default:
		return nil, fmt.Errorf("alerts: new-network action %q: use %s or %s", cfg.NetworkAction, ActionNotify, ActionSuspendCredential)
	}
	if cfg.MaxPrefixes <= 0 {
		cfg.MaxPrefixes = 64
	}
	if cfg.BurstMaxPrincipals <= 0 {
		cfg.BurstMaxPrincipals = 10
	}
	if cfg.BurstMaxInUse <= 0 {
		cfg.BurstMaxInUse = 3
	}
	if cfg.MaxTracked <= 0 {
		cfg.MaxTracked = 10000
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 4096
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &Detectors{cfg: cfg, st: cfg.Store, seed: maphash.MakeSeed(), queue: make(chan job, cfg.QueueSize), met: newMetrics(cfg.Registerer)}
	for i := range d.spike {
		d.spike[i].m = map[string]*spikeState{}
		d.nets[i].m = map[string]*netState{}
	}
	return d, nil
}

func (d *Detectors) shard(key string) int { return int(maphash.String(d.seed, key) % shards) }

// perShard is the most entries one shard keeps.
func (d *Detectors) perShard() int { return max(1, d.cfg.MaxTracked/shards) }

// Observation is one token decision.
type Observation struct {
	// Credential is "key:<id>" or "client:<id>" ("" if the request named
	// none that exists).
	Credential string
	TenantID   string
	// ErrorCode is the refusal's code, "" for an issued token.
	ErrorCode  string
	ClientAddr string
}

// Observe takes one token decision. It never blocks.
func (d *Detectors) Observe(o Observation) {
	if d == nil {
		return
	}
	now := d.cfg.Now()
	if o.ErrorCode != "" {
		if o.Credential != "" {
			d.refused(now, o.Credential, o.TenantID, o.ErrorCode)
		}
		if o.TenantID != "" {
			d.refused(now, "tenant:"+o.TenantID, o.TenantID, o.ErrorCode)
		}
		return
	}
	if o.Credential != "" && o.ClientAddr != "" {
		d.used(now, o.Credential, o.TenantID, o.ClientAddr)
	}
}

// ObserveToken implements oauth.Observer.
func (d *Detectors) ObserveToken(credential, tenantID, errorCode, clientAddr string) {
	d.Observe(Observation{Credential: credential, TenantID: tenantID, ErrorCode: errorCode, ClientAddr: clientAddr})
}

func (d *Detectors) enqueue(j job) {
	select {
	case d.queue <- j:
	default:
		d.met.dropped.Inc()
	}
}

// Run handles the queued work until ctx ends, and purges expired alert
// state hourly.
func (d *Detectors) Run(ctx context.Context) error {
	purge := time.NewTicker(time.Hour)
	defer purge.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case j := <-d.queue:
			d.handle(ctx, d.gatherFor(ctx, j, gatherWait))
		case <-purge.C:
			now := d.cfg.Now()
			if _, err := d.st.PurgeAlertState(ctx, now, now.Add(-48*time.Hour)); err != nil && ctx.Err() == nil {
				d.cfg.Logger.WarnContext(ctx, "alerts: purge failed", "err", err)
			}
		}
	}
}

// Drain handles everything queued so far (tests and benchmarks).
func (d *Detectors) Drain(ctx context.Context) {
	for {
		select {
		case j := <-d.queue:
			d.handle(ctx, d.gather(j))
		default:
			return
		}
	}
}

const (
	// maxGather bounds the jobs the worker takes at once.
	maxGather = 256
	// gatherWait is how long the worker waits, after a job arrives, for
	// others to join it. Alerts come that much later; in exchange, a
	// burst of credentials never seen before (a migration's first key
	// exchanges) has their networks recorded a few hundred at a time,
	// not a commit each (on SQLite a commit costs an fsync and far more
	// CPU than the rows it carries).
	gatherWait = 50 * time.Millisecond
)

// gather returns j and whatever else is queued, up to maxGather jobs.
func (d *Detectors) gather(j job) []job {
	jobs := []job{j}
	for len(jobs) < maxGather {
		select {
		case j := <-d.queue:
			jobs = append(jobs, j)
		default:
			return jobs
		}
	}
	return jobs
}

// gatherFor is gather that also waits up to wait for jobs to arrive, until
// maxGather are taken or ctx ends.
func (d *Detectors) gatherFor(ctx context.Context, j job, wait time.Duration) []job {
	jobs := []job{j}
	t := time.NewTimer(wait)
	defer t.Stop()
	for len(jobs) < maxGather {
		select {
		case j := <-d.queue:
			jobs = append(jobs, j)
		case <-t.C:
			return jobs
		case <-ctx.Done():
			return jobs
		}
	}
	return jobs
}

func (d *Detectors) handle(ctx context.Context, jobs []job) {
	var errs []error
	var nets []netUse
	for _, j := range jobs {
		switch {
		case j.spike != nil:
			errs = append(errs, d.fireSpike(ctx, *j.spike))
		case j.net != nil:
			nets = append(nets, *j.net)
		}
	}
	if len(nets) > 0 {
		errs = append(errs, d.checkNetworks(ctx, nets))
	}
	if err := errors.Join(errs...); err != nil && ctx.Err() == nil {
		d.cfg.Logger.ErrorContext(ctx, "alerts: detector failed", "err", err)
	}
}

// raised is one alert to send.
type raised struct {
	name     string
	claim    string    // store mark; "" when the caller already made sure
	until    time.Time // the mark's expiry
	target   string
	tenantID string
	data     any
	// also runs in the alert's transaction (suspend-credential).
	also func(ctx context.Context, tx store.Tx) error
}

// raise sends an alert in its own transaction unless another replica
// already did.
func (d *Detectors) raise(ctx context.Context, a raised) error {
	sent := false
	err := d.st.Tx(ctx, func(tx store.Tx) error {
		var err error
		sent, err = d.raiseTx(ctx, tx, a)
		return err
	})
	if err == nil && sent {
		d.met.alerts.WithLabelValues(a.name).Inc()
		if a.also != nil && d.cfg.Changed != nil {
			d.cfg.Changed()
		}
	}
	return err
}

func (d *Detectors) raiseTx(ctx context.Context, tx store.Tx, a raised) (bool, error) {
	now := d.cfg.Now().UTC().Truncate(time.Microsecond)
	if a.claim != "" {
		ok, err := tx.ClaimAlert(ctx, a.claim, now, a.until)
		if err != nil || !ok {
			return false, err
		}
	}
	details, err := json.Marshal(a.data)
	if err != nil {
		return false, err
	}
	if err := audit.Append(ctx, tx, store.AuditEvent{
		Time: now, Actor: "system", Action: a.name, Target: a.target, TenantID: a.tenantID,
		Outcome: audit.OutcomeSuccess, Details: details,
	}); err != nil {
		return false, err
	}
	if a.also != nil {
		if err := a.also(ctx, tx); err != nil {
			return false, err
		}
	}
	if d.cfg.Notifier != nil {
		if err := d.cfg.Notifier.Enqueue(ctx, tx, a.name, a.data); err != nil {
			return false, err
		}
	}
	return true, nil
}

type metrics struct {
	alerts  *prometheus.CounterVec
	dropped prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_alerts_total",
			Help: "Alerts raised by the built-in detectors (by this replica), by alert.",
		}, []string{"alert"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authz_alert_events_dropped_total",
			Help: "Detector work dropped because the detectors' queue was full.",
		}),
	}
	for _, a := range []string{RefusalSpike, NewNetwork, AdminBurst} {
		m.alerts.WithLabelValues(a)
	}
	if reg != nil {
		m.alerts = promreg.Register(reg, m.alerts)
		m.dropped = promreg.Register(reg, m.dropped)
	}
	return m
}

// Tracked is how many subjects the in-memory detectors hold (tests).
func (d *Detectors) Tracked() int {
	n := 0
	for i := range d.spike {
		d.spike[i].mu.Lock()
		n += len(d.spike[i].m)
		d.spike[i].mu.Unlock()
		d.nets[i].mu.Lock()
		n += len(d.nets[i].m)
		d.nets[i].mu.Unlock()
	}
	return n
}
