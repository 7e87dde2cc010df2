package alerts

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"
)

type spikeShard struct {
	mu sync.Mutex
	m  map[string]*spikeState
}

// spikeState is one subject's refusals: the current window's count by
// error code, and the EWMA of its refusals per window before it.
type spikeState struct {
	window   int64 // index of the current window
	count    int
	codes    map[string]int
	baseline float64
	fired    bool
}

// spikeAlert is the data of alert.refusal_spike.
type spikeAlert struct {
	Subject      string         `json:"subject"` // "key:<id>", "client:<id>" or "tenant:<id>"
	TenantID     string         `json:"tenant_id,omitempty"`
	Refusals     int            `json:"refusals"`
	WindowStart  time.Time      `json:"window_start"`
	Window       string         `json:"window"`
	Baseline     float64        `json:"baseline"`
	TopErrorCode string         `json:"top_error_code"`
	TopCount     int            `json:"top_error_code_count"`
	ByErrorCode  map[string]int `json:"by_error_code"`
	Summary      string         `json:"summary"`
	windowEnd    time.Time
	windowIndex  int64
}

// maxCodes bounds the error codes counted per subject (there are about
// twenty; anything past is lumped together).
const maxCodes = 32

func (d *Detectors) refused(now time.Time, subject, tenant, code string) {
	w := int64(now.UnixNano() / int64(d.cfg.SpikeWindow))
	sh := &d.spike[d.shard(subject)]
	sh.mu.Lock()
	s := sh.m[subject]
	if s == nil {
		if len(sh.m) >= d.perShard() {
			for k := range sh.m { // forget an arbitrary subject
				delete(sh.m, k)
				break
			}
		}
		s = &spikeState{window: w, codes: map[string]int{}}
		sh.m[subject] = s
	}
	if w != s.window {
		a := d.cfg.SpikeAlpha
		s.baseline = a*float64(s.count) + (1-a)*s.baseline
		if skipped := w - s.window - 1; skipped > 0 {
			s.baseline *= math.Pow(1-a, float64(min(skipped, 100)))
		}
		s.window, s.count, s.fired = w, 0, false
		clear(s.codes)
	}
	s.count++
	if _, ok := s.codes[code]; ok || len(s.codes) < maxCodes {
		s.codes[code]++
	} else {
		s.codes["other"]++
	}
	var fire *spikeAlert
	if !s.fired && s.count >= d.cfg.SpikeMinCount && float64(s.count) >= d.cfg.SpikeFactor*s.baseline {
		s.fired = true
		fire = &spikeAlert{Subject: subject, TenantID: tenant, Refusals: s.count, Baseline: math.Round(s.baseline*10) / 10,
			ByErrorCode: make(map[string]int, len(s.codes)), windowIndex: w}
		for c, n := range s.codes {
			fire.ByErrorCode[c] = n
		}
	}
	sh.mu.Unlock()
	if fire != nil {
		start := time.Unix(0, w*int64(d.cfg.SpikeWindow)).UTC()
		fire.WindowStart, fire.windowEnd, fire.Window = start, start.Add(d.cfg.SpikeWindow), d.cfg.SpikeWindow.String()
		fire.TopErrorCode, fire.TopCount = top(fire.ByErrorCode)
		fire.Summary = fmt.Sprintf("%s, %d refusals in %s for %s (baseline %.1f per window)", fire.TopErrorCode, fire.Refusals, fire.Window, subject, fire.Baseline)
		d.enqueue(job{spike: fire})
	}
}

// top is the most frequent code (ties: the first by name).
func top(codes map[string]int) (string, int) {
	names := make([]string, 0, len(codes))
	for c := range codes {
		names = append(names, c)
	}
	sort.Strings(names)
	best, n := "", 0
	for _, c := range names {
		if codes[c] > n {
			best, n = c, codes[c]
		}
	}
	return best, n
}

func (d *Detectors) fireSpike(ctx context.Context, a spikeAlert) error {
	return d.raise(ctx, raised{
		name:     RefusalSpike,
		claim:    "refusal_spike:" + a.Subject + ":" + strconv.FormatInt(a.windowIndex, 10),
		until:    a.windowEnd.Add(d.cfg.SpikeWindow),
		target:   a.Subject,
		tenantID: a.TenantID,
		data:     a,
	})
}
