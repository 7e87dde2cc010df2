package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/authz/authz/store"
)

// LockoutConfig says when failed authentications lock a source out of a
// credential, and when they raise the alarm about the credential itself.
type LockoutConfig struct {
	// Threshold failures of one credential from one address within Window
	// lock that address out of that credential for Duration (0 disables
	// lockouts altogether).
	Threshold int
	// PrefixThreshold failures of one credential from one network prefix
	// (IPv4Prefix, IPv6Prefix bits) lock the prefix out of it (default
	// 3×Threshold). Since an address stops counting once it is locked, a
	// single address can never lock its neighbours; it takes several.
	PrefixThreshold int
	// IPv4Prefix and IPv6Prefix size the prefixes (default 24 and 64).
	IPv4Prefix int
	IPv6Prefix int
	// AlertThreshold failures of one credential from all sources within
	// Window raise the distributed-guessing alarm (default 10×Threshold).
	AlertThreshold int
	// LockWeak also locks a weak credential (Attempt.Weak: imported legacy
	// keys) for every source once AlertThreshold is reached. It trades the
	// credential's availability for resistance to guessing.
	LockWeak bool
	Window   time.Duration
	Duration time.Duration
	// MaxEntries bounds remembered counters and locks (default 100,000).
	MaxEntries int
	// Shared, when set, keeps the counters in the store so that replicas
	// on one database share one lockout. Only failures write.
	Shared SharedCounters
	Logger *slog.Logger
	Now    func() time.Time
}

// SharedCounters is the part of store.Store that shared lockouts use.
type SharedCounters interface {
	CountAuthFailures(ctx context.Context, fs []store.AuthFailure, now time.Time, window time.Duration) ([]store.AuthFailure, error)
	ClearAuthFailures(ctx context.Context, key string, now time.Time) error
	ListAuthLocks(ctx context.Context, lockedSince, now time.Time) ([]store.AuthFailure, error)
}

// Attempt is one authentication: of which credential, from where.
type Attempt struct {
	Kind string // KindClient or KindKey
	ID   string // client id or key id; ImportedKeys for keys that name none
	Addr string // the client address (reqmeta)
	// Weak marks a credential that can be guessed (imported legacy keys).
	Weak bool
	// NotGuessable marks a failure that is no guess at the credential (a
	// private_key_jwt assertion whose signature does not verify): it counts
	// against its source only, never toward the credential's alarm.
	NotGuessable bool
}

// ImportedKeys is the credential that failures of imported legacy keys
// count against: such a key names no id, so a wrong one cannot be
// attributed to any key, only to the class.
const ImportedKeys = "imported"

// Scopes of a counter.
const (
	ScopeAddress    = "address"
	ScopePrefix     = "prefix"
	ScopeCredential = "credential"
)

// Outcome is what one failure changed.
type Outcome struct {
	// Locked names the scope this failure just locked ("" if none): the
	// source's address or prefix, or, for a weak credential with LockWeak,
	// the credential for everyone.
	Locked string
	// Alert reports that failures of the credential from all sources
	// reached AlertThreshold within the window: distributed guessing.
	Alert bool
}

// Lockout counts failed authentications per credential and source.
type Lockout struct {
	cfg LockoutConfig

	mu       sync.Mutex
	counters map[string]*failures
	locks    map[string]time.Time // counter key → locked until
	synced   time.Time            // locks set before this were fetched from Shared
}

type failures struct {
	count       int
	windowStart time.Time
}

// NewLockout returns a Lockout.
func NewLockout(cfg LockoutConfig) *Lockout {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100_000
	}
	if cfg.PrefixThreshold <= 0 {
		cfg.PrefixThreshold = 3 * cfg.Threshold
	}
	if cfg.AlertThreshold <= 0 {
		cfg.AlertThreshold = 10 * cfg.Threshold
	}
	if cfg.IPv4Prefix <= 0 || cfg.IPv4Prefix > 32 {
		cfg.IPv4Prefix = 24
	}
	if cfg.IPv6Prefix <= 0 || cfg.IPv6Prefix > 128 {
		cfg.IPv6Prefix = 64
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Lockout{cfg: cfg, counters: map[string]*failures{}, locks: map[string]time.Time{}}
}

// Prefix returns the network of addr that counts as one source at the
// prefix scope: /bits4 of an IPv4 address, /bits6 of an IPv6 one. A value
// that is not an address is its own prefix.
func Prefix(addr string, bits4, bits6 int) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	a = a.Unmap()
	bits := bits6
	if a.Is4() {
		bits = bits4
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return addr
	}
	return p.String()
}

// counter is one counter of an attempt with its threshold and lock.
type counter struct {
	scope     string
	key       string
	threshold int
	lockFor   time.Duration
}

// counters lists the counters an attempt touches. Keys are hashed: ids
// come from callers, and the store keeps only fixed-size opaque keys.
func (l *Lockout) countersOf(a Attempt) []counter {
	cs := []counter{{ScopeAddress, key("a", a.Kind, a.ID, a.Addr), l.cfg.Threshold, l.cfg.Duration}}
	if p := Prefix(a.Addr, l.cfg.IPv4Prefix, l.cfg.IPv6Prefix); p != a.Addr && !isHostPrefix(p) {
		cs = append(cs, counter{ScopePrefix, key("p", a.Kind, a.ID, p), l.cfg.PrefixThreshold, l.cfg.Duration})
	}
	if !a.NotGuessable {
		var lockFor time.Duration
		if a.Weak && l.cfg.LockWeak {
			lockFor = l.cfg.Duration
		}
		cs = append(cs, counter{ScopeCredential, key("c", a.Kind, a.ID, ""), l.cfg.AlertThreshold, lockFor})
	}
	return cs
}

func isHostPrefix(p string) bool {
	pp, err := netip.ParsePrefix(p)
	return err == nil && pp.Bits() == pp.Addr().BitLen()
}

func key(scope, kind, id, source string) string {
	h := sha256.Sum256([]byte(kind + "\x00" + id + "\x00" + source))
	return scope + ":" + hex.EncodeToString(h[:16])
}

// Locked reports whether the attempt's source (address or prefix) is
// locked out of its credential, or the credential is locked for everyone,
// and for how much longer.
func (l *Lockout) Locked(a Attempt) (bool, time.Duration) {
	if l == nil || l.cfg.Threshold <= 0 {
		return false, 0
	}
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var longest time.Duration
	for _, c := range l.countersOf(a) {
		if until, ok := l.locks[c.key]; ok {
			if d := until.Sub(now); d > longest {
				longest = d
			}
		}
	}
	return longest > 0, longest
}

// Failed records a failure of the attempt. Each lock and each alarm is
// reported once, by the failure that caused it, so the caller audits it
// once.
func (l *Lockout) Failed(ctx context.Context, a Attempt) Outcome {
	if l == nil || l.cfg.Threshold <= 0 {
		return Outcome{}
	}
	cs := l.countersOf(a)
	now := l.cfg.Now()
	if l.cfg.Shared != nil {
		if out, ok := l.failedShared(ctx, cs, now); ok {
			return out
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out Outcome
	for _, c := range cs {
		if until, ok := l.locks[c.key]; ok && now.Before(until) {
			continue
		}
		f := l.counters[c.key]
		if f == nil {
			if len(l.counters) >= l.cfg.MaxEntries {
				l.sweep(now)
			}
			f = &failures{windowStart: now}
			l.counters[c.key] = f
		}
		if now.Sub(f.windowStart) > l.cfg.Window {
			f.count, f.windowStart = 0, now
		}
		f.count++
		if c.threshold > 0 && f.count >= c.threshold {
			f.count, f.windowStart = 0, now
			l.reached(&out, c, now.Add(c.lockFor))
		}
	}
	return out
}

// failedShared counts in the store; ok is false if the store failed, and
// the caller then counts in memory: a database outage must not switch
// lockouts off.
func (l *Lockout) failedShared(ctx context.Context, cs []counter, now time.Time) (Outcome, bool) {
	fs := make([]store.AuthFailure, len(cs))
	for i, c := range cs {
		fs[i] = store.AuthFailure{Key: c.key, Threshold: c.threshold, LockFor: c.lockFor}
	}
	got, err := l.cfg.Shared.CountAuthFailures(ctx, fs, now, l.cfg.Window)
	if err != nil || len(got) != len(cs) {
		l.cfg.Logger.WarnContext(ctx, "lockout: shared counters unavailable, counting in this replica only", "err", err)
		return Outcome{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out Outcome
	for i, c := range cs {
		// A lock another replica set is learnt here, at the latest.
		if now.Before(got[i].LockedUntil) {
			l.lock(c.key, got[i].LockedUntil, now)
		}
		if got[i].Reached {
			l.reached(&out, c, got[i].LockedUntil)
		}
		// Remember that this replica saw failures, so that a success
		// clears the shared counter.
		if len(l.counters) >= l.cfg.MaxEntries {
			l.sweep(now)
		}
		l.counters[c.key] = &failures{count: 1, windowStart: now}
	}
	return out, true
}

func (l *Lockout) reached(out *Outcome, c counter, until time.Time) {
	if c.scope == ScopeCredential {
		out.Alert = true
	}
	if c.lockFor > 0 {
		l.lock(c.key, until, l.cfg.Now())
		if out.Locked == "" || c.scope == ScopeCredential {
			out.Locked = c.scope
		}
	}
}

func (l *Lockout) lock(k string, until, now time.Time) {
	if cur, ok := l.locks[k]; ok && !until.After(cur) {
		return
	}
	if len(l.locks) >= l.cfg.MaxEntries {
		for k, u := range l.locks {
			if !now.Before(u) {
				delete(l.locks, k)
			}
		}
	}
	l.locks[k] = until
}

// Succeeded forgets the failures of the attempt's source that did not lock
// it. The credential's own counter is kept: successes of its holder must
// not hide guessing from elsewhere. Nothing is written unless this replica
// saw failures of that source.
func (l *Lockout) Succeeded(ctx context.Context, a Attempt) {
	if l == nil || l.cfg.Threshold <= 0 {
		return
	}
	now := l.cfg.Now()
	var clear []string
	l.mu.Lock()
	for _, c := range l.countersOf(a) {
		if c.scope == ScopeCredential {
			continue
		}
		if _, ok := l.counters[c.key]; ok {
			if until, locked := l.locks[c.key]; !locked || !now.Before(until) {
				delete(l.counters, c.key)
				clear = append(clear, c.key)
			}
		}
	}
	l.mu.Unlock()
	if l.cfg.Shared == nil {
		return
	}
	for _, k := range clear {
		if err := l.cfg.Shared.ClearAuthFailures(ctx, k, now); err != nil {
			l.cfg.Logger.WarnContext(ctx, "lockout: could not clear a shared counter", "err", err)
		}
	}
}

// Sync learns the locks other replicas set since the last Sync. Run calls
// it every interval; a replica that has not synced yet learns a lock at
// the latest from the next failure it counts.
func (l *Lockout) Sync(ctx context.Context) error {
	if l == nil || l.cfg.Shared == nil || l.cfg.Threshold <= 0 {
		return nil
	}
	now := l.cfg.Now()
	l.mu.Lock()
	since := l.synced
	l.mu.Unlock()
	if since.IsZero() {
		since = now.Add(-l.cfg.Duration)
	}
	locks, err := l.cfg.Shared.ListAuthLocks(ctx, since, now)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, f := range locks {
		l.lock(f.Key, f.LockedUntil, now)
	}
	// Clocks of replicas differ a little: look back a second more.
	l.synced = now.Add(-time.Second)
	return nil
}

// Run syncs shared locks every interval until ctx ends.
func (l *Lockout) Run(ctx context.Context, interval time.Duration) error {
	if l == nil || l.cfg.Shared == nil {
		<-ctx.Done()
		return ctx.Err()
	}
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := l.Sync(ctx); err != nil && ctx.Err() == nil {
			l.cfg.Logger.WarnContext(ctx, "lockout: could not read shared locks", "err", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (l *Lockout) sweep(now time.Time) {
	for k, f := range l.counters {
		if now.Sub(f.windowStart) > l.cfg.Window {
			delete(l.counters, k)
		}
	}
	if len(l.counters) >= l.cfg.MaxEntries { // still full: under attack; forget counting, keep locks
		clear(l.counters)
	}
	for k, u := range l.locks {
		if !now.Before(u) {
			delete(l.locks, k)
		}
	}
}
