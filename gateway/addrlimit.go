package gateway

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the per-caller limit on exchanges.
const (
	DefaultExchangeRate  = 10.0
	DefaultExchangeBurst = 50
	// maxLimitedAddrs bounds the remembered callers; when full, those idle
	// long enough to have refilled are forgotten (they behave as new).
	maxLimitedAddrs = 50_000
)

// addrLimiter is a token bucket per caller address for the exchanges that
// reach authz (cache misses): a caller sending random keys uses up its own
// bucket and nobody else's, before authz is asked anything.
type addrLimiter struct {
	rate  rate.Limit
	burst int
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*addrBucket
}

type addrBucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newAddrLimiter(perSecond float64, burst int, now func() time.Time) *addrLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &addrLimiter{rate: rate.Limit(perSecond), burst: max(burst, 1), now: now, buckets: map[string]*addrBucket{}}
}

// allow takes a token of addr's bucket, or says how long until one is due.
func (l *addrLimiter) allow(addr string) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[addr]
	if b == nil {
		if len(l.buckets) >= maxLimitedAddrs {
			refill := time.Duration(float64(l.burst) / float64(l.rate) * float64(time.Second))
			for k, b := range l.buckets {
				if now.Sub(b.seen) > refill {
					delete(l.buckets, k)
				}
			}
			if len(l.buckets) >= maxLimitedAddrs {
				clear(l.buckets) // under a spread attack: start over rather than grow
			}
		}
		b = &addrBucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[addr] = b
	}
	b.seen = now
	res := b.lim.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}
