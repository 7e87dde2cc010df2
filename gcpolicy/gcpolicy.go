package gcpolicy

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Config configures a Tuner. Zero values take the defaults.
type Config struct {
	// MinHeadroom is the least heap growth allowed between collections
	// (default 8 MiB).
	MinHeadroom uint64
	// Interval is how often the live heap is read (default 250 ms).
	Interval time.Duration
	// MaxPercent caps GOGC (default 800): with a nearly empty heap the
	// headroom alone would ask for more.
	MaxPercent int
	Logger     *slog.Logger
	// Set applies a GOGC value (nil: debug.SetGCPercent); tests observe it.
	Set func(percent int) int
	// Live reads the live heap in bytes (nil: runtime/metrics'
	// /gc/heap/live:bytes, the heap marked live by the last collection).
	Live func() uint64
}

const (
	defaultMinHeadroom = 8 << 20
	defaultInterval    = 250 * time.Millisecond
	defaultMaxPercent  = 800
	// A new GOGC is applied only when it differs from the current one by
	// more than this fraction, so that the small swings of the live heap
	// between collections do not reset the pacer every interval.
	hysteresis = 0.10
)

// Tuner keeps GOGC at Percent(live heap) while Run runs.
type Tuner struct {
	cfg Config
	cur int
}

// New returns a Tuner; start it with Run.
func New(cfg Config) *Tuner {
	if cfg.MinHeadroom == 0 {
		cfg.MinHeadroom = defaultMinHeadroom
	}
	if cfg.Interval <= 0 {
		cfg.Interval = defaultInterval
	}
	if cfg.MaxPercent < 100 {
		cfg.MaxPercent = defaultMaxPercent
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Set == nil {
		cfg.Set = debug.SetGCPercent
	}
	if cfg.Live == nil {
		cfg.Live = liveHeap
	}
	return &Tuner{cfg: cfg, cur: 100}
}

// Percent is the GOGC that allows the heap to grow by at least MinHeadroom
// over live bytes, and never less than Go's default of 100 nor more than
// MaxPercent.
func (t *Tuner) Percent(live uint64) int {
	if live == 0 {
		return t.cfg.MaxPercent
	}
	p := (t.cfg.MinHeadroom*100 + live - 1) / live
	return int(min(max(p, 100), uint64(t.cfg.MaxPercent)))
}

// Step reads the live heap and applies Percent of it when it moved past
// the hysteresis. It returns the GOGC in force.
func (t *Tuner) Step() int {
	p := t.Percent(t.cfg.Live())
	if d := float64(p-t.cur) / float64(t.cur); d > hysteresis || d < -hysteresis || (p == 100 && t.cur != 100) {
		t.cfg.Set(p)
		t.cur = p
	}
	return t.cur
}

// Run tunes until ctx ends, then restores GOGC=100.
func (t *Tuner) Run(ctx context.Context) error {
	tick := time.NewTicker(t.cfg.Interval)
	defer tick.Stop()
	t.cfg.Logger.Info("garbage collector paced by live heap", "min_headroom_bytes", t.cfg.MinHeadroom, "max_gogc", t.cfg.MaxPercent)
	for {
		t.Step()
		select {
		case <-ctx.Done():
			t.cfg.Set(100)
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// OperatorSet reports whether the environment already paces the collector
// (GOGC or GOMEMLIMIT), in which case no Tuner should run: the operator's
// choice wins.
func OperatorSet(getenv func(string) string) bool {
	return getenv("GOGC") != "" || getenv("GOMEMLIMIT") != ""
}

func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
