package audit

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authz/authz/reqmeta"
	"github.com/authz/authz/store"
)

// RetentionLease is the store lease the replica running the scheduled
// export and prune holds: with several replicas, one does it.
const RetentionLease = "audit-retention"

// RetentionConfig configures Retainer.
type RetentionConfig struct {
	// Keep is how long events stay in the store: each run exports and
	// prunes the events older than now-Keep (from a day on, rounded down
	// to the UTC midnight, so that whole days go: events then stay up to
	// a day longer than Keep).
	Keep time.Duration
	// Dir receives the segments, one file per run:
	// audit-<first seq>-<last seq>.jsonl (zero-padded, so they sort).
	Dir string
	// Every is how often a run is tried (default one hour).
	Every time.Duration
	// Holder names this replica in the lease (default: host and pid).
	Holder     string
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Retainer exports and prunes the audit log on a schedule.
type Retainer struct {
	st   store.Store
	cfg  RetentionConfig
	log  *slog.Logger
	runs *prometheus.CounterVec
}

// NewRetainer checks cfg and returns a Retainer; Run starts it.
func NewRetainer(st store.Store, cfg RetentionConfig) (*Retainer, error) {
	if cfg.Keep <= 0 {
		return nil, fmt.Errorf("audit retention: the retention must be positive, got %s", cfg.Keep)
	}
	if cfg.Dir == "" {
		return nil, fmt.Errorf("audit retention: --audit-retention-dir is required with --audit-retention: the directory that receives the exported segments")
	}
	if err := os.MkdirAll(cfg.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("audit retention: --audit-retention-dir %s: %w", cfg.Dir, err)
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Holder == "" {
		host, _ := os.Hostname()
		cfg.Holder = fmt.Sprintf("%s/%d", host, os.Getpid())
	}
	r := &Retainer{st: st, cfg: cfg, log: cfg.Logger,
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authz_audit_retention_runs_total",
			Help: "Scheduled audit export-and-prune runs by result: pruned, nothing (nothing old enough), skipped (another replica holds the lease), failed.",
		}, []string{"result"})}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(r.runs)
	}
	return r, nil
}

// Run tries a run at once and then every cfg.Every until ctx ends.
func (r *Retainer) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Every)
	defer t.Stop()
	for {
		res, err := r.RunOnce(ctx)
		if err != nil {
			r.log.ErrorContext(ctx, "audit retention run failed; the next run retries", "err", err)
		}
		r.runs.WithLabelValues(res).Inc()
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// leaseTTL is how long the lease outlives its last renewal: a replica
// that dies mid-run hands over after this.
const leaseTTL = 2 * time.Minute

// RunOnce exports the events older than now-Keep into a new segment file
// in Dir, verifies the file as written, and prunes with the file's last
// hash as the anchor, if this replica gets the lease. It returns
// "pruned", "nothing", "skipped" or "failed".
func (r *Retainer) RunOnce(ctx context.Context) (string, error) {
	now := r.cfg.Now()
	ok, err := r.st.TryLease(ctx, RetentionLease, r.cfg.Holder, now, leaseTTL)
	if err != nil {
		return "failed", fmt.Errorf("take the retention lease: %w", err)
	}
	if !ok {
		return "skipped", nil
	}
	runCtx, cancel := context.WithCancel(reqmeta.WithActor(ctx, ActorSystem))
	defer cancel()
	renewed := make(chan struct{})
	go func() { // keep the lease while the run lasts
		defer close(renewed)
		t := time.NewTicker(leaseTTL / 4)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				if ok, err := r.st.TryLease(runCtx, RetentionLease, r.cfg.Holder, r.cfg.Now(), leaseTTL); err != nil || !ok {
					r.log.WarnContext(runCtx, "audit retention lost its lease; stopping this run", "err", err)
					cancel()
					return
				}
			}
		}
	}()
	defer func() {
		cancel()
		<-renewed
		if err := r.st.ReleaseLease(context.WithoutCancel(ctx), RetentionLease, r.cfg.Holder); err != nil {
			r.log.WarnContext(ctx, "releasing the audit retention lease", "err", err)
		}
	}()

	until := now.Add(-r.cfg.Keep)
	if r.cfg.Keep >= 24*time.Hour {
		// Whole UTC days: PostgreSQL then drops each pruned day's
		// partition whole instead of deleting the rows of a day's end.
		until = until.UTC().Truncate(24 * time.Hour)
	}
	seg, path, err := r.export(runCtx, until, now)
	if IsNothingToExport(err) {
		// An earlier run may have moved the anchor and been stopped
		// before its deletion finished.
		if _, err := r.st.PruneAudit(runCtx, PruneBatch); err != nil {
			return "failed", err
		}
		return "nothing", nil
	}
	if err != nil {
		return "failed", err
	}
	res, err := Prune(runCtx, r.st, until, seg.LastHash, now)
	if err != nil {
		return "failed", fmt.Errorf("prune after exporting %s: %w", path, err)
	}
	r.log.InfoContext(ctx, "audit segment exported and pruned", "file", path, "first_seq", seg.FirstSeq, "last_seq", seg.LastSeq,
		"last_hash", seg.LastHash, "rows_deleted", res.Rows, "partitions_dropped", res.Partitions)
	return "pruned", nil
}

// export writes the segment to a temporary file, syncs it, verifies what
// reached the disk and renames it into place: a segment file that exists
// is complete and verified.
func (r *Retainer) export(ctx context.Context, until, now time.Time) (Segment, string, error) {
	tmp, err := os.CreateTemp(r.cfg.Dir, ".audit-*.partial")
	if err != nil {
		return Segment{}, "", fmt.Errorf("create a segment file in %s: %w", r.cfg.Dir, err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename this fails harmlessly
	seg, err := Export(ctx, r.st, until, now, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return seg, "", err
	}
	f, err := os.Open(tmp.Name())
	if err != nil {
		return seg, "", err
	}
	rep, err := VerifySegment(f)
	f.Close()
	if err != nil {
		return seg, "", err
	}
	if !rep.OK || rep.HeadHash != seg.LastHash {
		return seg, "", fmt.Errorf("the segment written to %s does not verify (%+v); nothing pruned", tmp.Name(), rep.FirstBreak)
	}
	path := filepath.Join(r.cfg.Dir, fmt.Sprintf("audit-%020d-%020d.jsonl", seg.FirstSeq, seg.LastSeq))
	if err := os.Rename(tmp.Name(), path); err != nil {
		return seg, "", fmt.Errorf("move the segment into place: %w", err)
	}
	if d, err := os.Open(r.cfg.Dir); err == nil { // make the rename durable
		_ = d.Sync()
		d.Close()
	}
	return seg, path, nil
}
