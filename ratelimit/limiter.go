package ratelimit

import (
	"hash/maphash"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Kinds of limited keys.
const (
	KindAddr   = "addr"
	KindClient = "client"
	KindKey    = "key"
)

// Config sets the rates (events per second; 0 = unlimited) and the burst.
type Config struct {
	PerAddr   float64
	PerClient float64
	PerKey    float64
	Burst     int
	// MaxEntries bounds remembered keys per kind (default 100,000); idle
	// buckets are dropped first.
	MaxEntries int
	Now        func() time.Time
}

const shards = 32

// Limiter is a set of token buckets keyed by (kind, key).
type Limiter struct {
	cfg    Config
	seed   maphash.Seed
	shards [shards]shard
}

type shard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New returns a Limiter.
func New(cfg Config) *Limiter {
	if cfg.Burst <= 0 {
		cfg.Burst = 1
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Limiter{cfg: cfg, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = make(map[string]*bucket)
	}
	return l
}

func (l *Limiter) rateOf(kind string) float64 {
	switch kind {
	case KindAddr:
		return l.cfg.PerAddr
	case KindClient:
		return l.cfg.PerClient
	case KindKey:
		return l.cfg.PerKey
	}
	return 0
}

// Allow takes one token from the bucket of (kind, key). When the bucket is
// empty it reports false and how long until a token is available.
func (l *Limiter) Allow(kind, key string) (bool, time.Duration) {
	r := l.rateOf(kind)
	if r <= 0 || key == "" {
		return true, 0
	}
	id := kind + "\x00" + key
	sh := &l.shards[maphash.String(l.seed, id)%shards]
	now := l.cfg.Now()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.buckets[id]
	if b == nil {
		if len(sh.buckets) >= l.cfg.MaxEntries/shards+1 {
			sh.evict(now, time.Duration(float64(l.cfg.Burst)/r*float64(time.Second)))
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(r), l.cfg.Burst)}
		sh.buckets[id] = b
	}
	b.seen = now
	res := b.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// evict drops buckets idle long enough to have refilled (they behave like
// new ones), or, if none, the oldest half.
func (sh *shard) evict(now time.Time, refill time.Duration) {
	for k, b := range sh.buckets {
		if now.Sub(b.seen) > refill {
			delete(sh.buckets, k)
		}
	}
	if len(sh.buckets) == 0 {
		return
	}
	var oldest time.Time
	for _, b := range sh.buckets {
		if oldest.IsZero() || b.seen.Before(oldest) {
			oldest = b.seen
		}
	}
	cut := oldest.Add(now.Sub(oldest) / 2)
	for k, b := range sh.buckets {
		if b.seen.Before(cut) {
			delete(sh.buckets, k)
		}
	}
}
