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
