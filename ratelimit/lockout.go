package ratelimit

import (
	"sync"
	"time"
)

// LockoutConfig: Threshold failures within Window lock for Duration.
type LockoutConfig struct {
	Threshold  int // 0 disables lockouts
	Window     time.Duration
	Duration   time.Duration
	MaxEntries int // default 100,000
	Now        func() time.Time
}

// Lockout counts failed authentications per (kind, id).
type Lockout struct {
	cfg LockoutConfig
	mu  sync.Mutex
	m   map[string]*failures
}

type failures struct {
	count       int
	windowStart time.Time
	lockedUntil time.Time
}

// NewLockout returns a Lockout.
func NewLockout(cfg LockoutConfig) *Lockout {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Lockout{cfg: cfg, m: make(map[string]*failures)}
}

// Locked reports whether (kind, id) is locked and for how much longer.
func (l *Lockout) Locked(kind, id string) (bool, time.Duration) {
	if l == nil || l.cfg.Threshold <= 0 {
		return false, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[kind+"\x00"+id]
	if f == nil {
		return false, 0
	}
	if d := f.lockedUntil.Sub(l.cfg.Now()); d > 0 {
		return true, d
	}
	return false, 0
}

// Failed records a failure and reports whether it just locked (kind, id):
// true exactly once per lockout, so the caller audits it once.
func (l *Lockout) Failed(kind, id string) bool {
	if l == nil || l.cfg.Threshold <= 0 {
		return false
	}
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	k := kind + "\x00" + id
	f := l.m[k]
	if f == nil {
		if len(l.m) >= l.cfg.MaxEntries {
			l.sweep(now)
		}
		f = &failures{windowStart: now}
		l.m[k] = f
	}
	if now.Before(f.lockedUntil) {
		return false
	}
	if now.Sub(f.windowStart) > l.cfg.Window {
		f.count, f.windowStart = 0, now
	}
	f.count++
	if f.count >= l.cfg.Threshold {
		f.count, f.windowStart = 0, now
		f.lockedUntil = now.Add(l.cfg.Duration)
		return true
	}
	return false
}

// Succeeded forgets earlier failures of (kind, id) that did not lock it.
func (l *Lockout) Succeeded(kind, id string) {
	if l == nil || l.cfg.Threshold <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	k := kind + "\x00" + id
	if f := l.m[k]; f != nil && !l.cfg.Now().Before(f.lockedUntil) {
		delete(l.m, k)
	}
}

func (l *Lockout) sweep(now time.Time) {
	for k, f := range l.m {
		if now.After(f.lockedUntil) && now.Sub(f.windowStart) > l.cfg.Window {
			delete(l.m, k)
		}
	}
	if len(l.m) >= l.cfg.MaxEntries { // still full: under attack; forget counting, keep locks
		for k, f := range l.m {
			if now.After(f.lockedUntil) {
				delete(l.m, k)
			}
		}
	}
}
