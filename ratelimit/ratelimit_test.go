package ratelimit

import (
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLimiterBurstThenRetryAfter(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := New(Config{PerClient: 2, Burst: 3, Now: c.now})
	for i := range 3 {
		if ok, _ := l.Allow(KindClient, "a"); !ok {
			t.Fatalf("request %d within the burst refused", i+1)
		}
	}
	ok, wait := l.Allow(KindClient, "a")
	if ok {
		t.Fatal("request over the burst allowed")
	}
	if wait <= 0 || wait > time.Second {
		t.Fatalf("retry after %v, want (0, 1s] at 2/s", wait)
	}
	if ok, _ := l.Allow(KindClient, "b"); !ok {
		t.Fatal("another client was limited by the first one's burst")
	}
	c.advance(wait)
	if ok, _ := l.Allow(KindClient, "a"); !ok {
		t.Fatal("request after Retry-After refused")
	}
}

func TestLimiterUnlimitedKinds(t *testing.T) {
	l := New(Config{PerAddr: 1, Burst: 1})
	for range 100 {
		if ok, _ := l.Allow(KindKey, "k"); !ok {
			t.Fatal("kind without a rate was limited")
		}
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := New(Config{PerAddr: 1, Burst: 1, MaxEntries: 64, Now: c.now})
	for i := range 10_000 {
		c.advance(time.Millisecond)
		l.Allow(KindAddr, string(rune('a'+i%26))+time.Duration(i).String())
	}
	n := 0
	for i := range l.shards {
		n += len(l.shards[i].buckets)
	}
	if n > 64+shards {
		t.Fatalf("%d buckets remembered, want at most about 64", n)
	}
}

func TestLockout(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := NewLockout(LockoutConfig{Threshold: 3, Window: time.Minute, Duration: 5 * time.Minute, Now: c.now})
	if l.Failed(KindClient, "x") || l.Failed(KindClient, "x") {
		t.Fatal("locked before the threshold")
	}
	if !l.Failed(KindClient, "x") {
		t.Fatal("third failure did not lock")
	}
	if locked, d := l.Locked(KindClient, "x"); !locked || d != 5*time.Minute {
		t.Fatalf("Locked = %v, %v", locked, d)
	}
	if l.Failed(KindClient, "x") {
		t.Fatal("a failure while locked reported a new lockout")
	}
	if locked, _ := l.Locked(KindClient, "y"); locked {
		t.Fatal("another client is locked")
	}
	c.advance(5 * time.Minute)
	if locked, _ := l.Locked(KindClient, "x"); locked {
		t.Fatal("still locked after the duration")
	}
}

func TestLockoutWindowAndSuccess(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := NewLockout(LockoutConfig{Threshold: 3, Window: time.Minute, Duration: time.Minute, Now: c.now})
	l.Failed(KindKey, "k")
	l.Failed(KindKey, "k")
	c.advance(2 * time.Minute) // outside the window: counting starts over
	if l.Failed(KindKey, "k") {
		t.Fatal("failures outside the window counted")
	}
	l.Failed(KindKey, "k")
	l.Succeeded(KindKey, "k")
	if l.Failed(KindKey, "k") {
		t.Fatal("a success did not reset the count")
	}
	var off *Lockout
	if off.Failed(KindKey, "k") {
		t.Fatal("nil lockout locked")
	}
}
