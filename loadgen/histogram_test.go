package loadgen

import (
	"math/rand/v2"
	"testing"
	"time"
)

// within reports whether got is within rel of want.
func within(got, want time.Duration, rel float64) bool {
	d := float64(got - want)
	if d < 0 {
		d = -d
	}
	return d <= rel*float64(want)
}

func TestHistogramQuantilesOfKnownDistributions(t *testing.T) {
	const tolerance = 0.01 // the histogram promises under 1/128
	tests := []struct {
		name   string
		values func() []time.Duration
		want   map[float64]time.Duration
		max    time.Duration
	}{
		{
			name: "uniform 1..10000 µs",
			values: func() []time.Duration {
				var v []time.Duration
				for i := 1; i <= 10000; i++ {
					v = append(v, time.Duration(i)*time.Microsecond)
				}
				return v
			},
			want: map[float64]time.Duration{0.5: 5 * time.Millisecond, 0.95: 9500 * time.Microsecond, 0.99: 9900 * time.Microsecond, 1: 10 * time.Millisecond},
			max:  10 * time.Millisecond,
		},
		{
			name: "constant 3 ms",
			values: func() []time.Duration {
				v := make([]time.Duration, 1000)
				for i := range v {
					v[i] = 3 * time.Millisecond
				}
				return v
			},
			want: map[float64]time.Duration{0.5: 3 * time.Millisecond, 0.99: 3 * time.Millisecond},
			max:  3 * time.Millisecond,
		},
		{
			// 98 % fast, 2 % slow: p95 must not see the tail, p99 must.
			name: "bimodal 1 ms and 200 ms",
			values: func() []time.Duration {
				var v []time.Duration
				for i := range 1000 {
					if i%50 == 0 {
						v = append(v, 200*time.Millisecond)
					} else {
						v = append(v, time.Millisecond)
					}
				}
				return v
			},
			want: map[float64]time.Duration{0.5: time.Millisecond, 0.95: time.Millisecond, 0.99: 200 * time.Millisecond},
			max:  200 * time.Millisecond,
		},
		{
			name: "sub-microsecond values are exact",
			values: func() []time.Duration {
				return []time.Duration{10, 20, 30, 40, 50, 60, 70, 80, 90, 100}
			},
			want: map[float64]time.Duration{0.5: 50, 0.9: 90, 1: 100},
			max:  100,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vals := tt.values()
			// Order must not matter.
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(vals), func(i, j int) { vals[i], vals[j] = vals[j], vals[i] })
			h := NewHistogram()
			for _, v := range vals {
				h.Record(v)
			}
			if h.Count() != uint64(len(vals)) {
				t.Fatalf("Count() = %d, want %d", h.Count(), len(vals))
			}
			if h.Max() != tt.max {
				t.Errorf("Max() = %v, want %v", h.Max(), tt.max)
			}
			for q, want := range tt.want {
				if got := h.Quantile(q); !within(got, want, tolerance) {
					t.Errorf("Quantile(%v) = %v, want %v ±1%%", q, got, want)
				}
			}
		})
	}
}

func TestHistogramBucketsBoundTheError(t *testing.T) {
	vals := []int64{0, 1, 255, 256, 257, 511, 512, 1000, 1023, 1024, 1025, 99_999, 1 << 20, 1<<20 + 1, 123_456_789, maxTrackable - 1, maxTrackable}
	r := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		vals = append(vals, r.Int64N(maxTrackable))
	}
	for _, v := range vals {
		i := bucketIndex(v)
		if i < 0 || i >= bucketCount {
			t.Fatalf("bucketIndex(%d) = %d, outside [0, %d)", v, i, bucketCount)
		}
		hi := bucketHigh(i)
		if hi < v {
			t.Fatalf("bucketHigh(bucketIndex(%d)) = %d, below the value", v, hi)
		}
		if v >= subCount && float64(hi-v) > float64(v)/float64(halfSub) {
			t.Fatalf("value %d in a bucket up to %d: error above 1/%d", v, hi, halfSub)
		}
		if i > 0 && bucketHigh(i-1) >= v {
			t.Fatalf("value %d also fits bucket %d (up to %d)", v, i-1, bucketHigh(i-1))
		}
	}
}

func TestHistogramMergeEqualsOneHistogram(t *testing.T) {
	all, a, b := NewHistogram(), NewHistogram(), NewHistogram()
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 5000 {
		d := time.Duration(r.Int64N(int64(50 * time.Millisecond)))
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(b)
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		if a.Quantile(q) != all.Quantile(q) {
			t.Errorf("merged Quantile(%v) = %v, single histogram %v", q, a.Quantile(q), all.Quantile(q))
		}
	}
	if a.Count() != all.Count() || a.Max() != all.Max() || a.Min() != all.Min() {
		t.Errorf("merged count/max/min %d/%v/%v, want %d/%v/%v", a.Count(), a.Max(), a.Min(), all.Count(), all.Max(), all.Min())
	}
}

func TestHistogramEmptyAndOutOfRange(t *testing.T) {
	h := NewHistogram()
	if h.Quantile(0.5) != 0 || h.Max() != 0 || h.Count() != 0 {
		t.Fatalf("empty histogram: p50 %v max %v count %d", h.Quantile(0.5), h.Max(), h.Count())
	}
	h.Record(-time.Second)
	h.Record(100 * time.Hour)
	if h.Min() != 0 {
		t.Errorf("negative duration recorded as %v, want 0", h.Min())
	}
	if h.Max() != time.Duration(maxTrackable) {
		t.Errorf("huge duration recorded as %v, want the %v cap", h.Max(), time.Duration(maxTrackable))
	}
}
