package gcpolicy

import (
	"context"
	"runtime"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	tu := New(Config{MinHeadroom: 8 << 20, MaxPercent: 800})
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 800},             // nothing live yet: the cap
		{512 << 10, 800},     // 8 MiB over 0.5 MiB would be 1600: capped
		{2 << 20, 400},       // 8 MiB over 2 MiB
		{3 << 20, 267},       // rounded up: the headroom is a minimum
		{8 << 20, 100},       // headroom equals the live heap: Go's default
		{64 << 20, 100},      // large heaps keep the default, never less
		{(8 << 20) - 1, 101}, // just under: just above the default
		{1 << 40, 100},       // no overflow on huge heaps
	} {
		if got := tu.Percent(tc.live); got != tc.want {
			t.Errorf("Percent(%d) = %d, want %d", tc.live, got, tc.want)
		}
	}
}

// The headroom the chosen GOGC allows is never below MinHeadroom unless
// capped, and the percent never below 100.
func TestPercentKeepsHeadroom(t *testing.T) {
	tu := New(Config{MinHeadroom: 12 << 20, MaxPercent: 10000})
	for live := uint64(1 << 10); live < 1<<30; live = live*3/2 + 7 {
		p := tu.Percent(live)
		if p < 100 {
			t.Fatalf("live %d: GOGC %d below the default", live, p)
		}
		if grow := live * uint64(p) / 100; grow+live/100 < 12<<20 && p < 10000 {
			t.Fatalf("live %d: GOGC %d allows %d bytes of growth, under the headroom", live, p, grow)
		}
	}
}

func TestStepHysteresisAndRestore(t *testing.T) {
	var live uint64 = 2 << 20
	var applied []int
	tu := New(Config{MinHeadroom: 8 << 20, Live: func() uint64 { return live }, Set: func(p int) int { applied = append(applied, p); return 0 }})
	if got := tu.Step(); got != 400 {
		t.Fatalf("first step: GOGC %d, want 400", got)
	}
	live = 2<<20 + 100<<10 // ~5 % more live: within the hysteresis, no change
	tu.Step()
	live = 4 << 20 // twice as much: 200
	tu.Step()
	live = 100 << 20 // large: back to the default
	tu.Step()
	tu.Step()
	if want := []int{400, 200, 100}; !equal(applied, want) {
		t.Fatalf("applied %v, want %v", applied, want)
	}

	applied = nil
	live = 1 << 20
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	tu2 := New(Config{MinHeadroom: 8 << 20, Interval: time.Millisecond, Live: func() uint64 { return live }, Set: func(p int) int { applied = append(applied, p); return 0 }})
	go func() { done <- tu2.Run(ctx) }()
	cancel()
	<-done
	if len(applied) == 0 || applied[len(applied)-1] != 100 {
		t.Fatalf("Run applied %v: want GOGC restored to 100 when it stops", applied)
	}
}

func TestOperatorSet(t *testing.T) {
	env := map[string]string{}
	get := func(k string) string { return env[k] }
	if OperatorSet(get) {
		t.Fatal("empty environment reported as set")
	}
	env["GOGC"] = "200"
	if !OperatorSet(get) {
		t.Fatal("GOGC not seen")
	}
	delete(env, "GOGC")
	env["GOMEMLIMIT"] = "100MiB"
	if !OperatorSet(get) {
		t.Fatal("GOMEMLIMIT not seen")
	}
}

// The real reader returns the runtime's figure.
func TestLiveHeapReads(t *testing.T) {
	keep := make([]byte, 4<<20)
	for i := range keep {
		keep[i] = byte(i)
	}
	runtimeGC()
	if got := liveHeap(); got < 4<<20 {
		t.Fatalf("live heap %d bytes with 4 MiB held", got)
	}
	runtime.KeepAlive(keep)
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
func runtimeGC() { runtime.GC() }
