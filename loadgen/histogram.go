package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: values are grouped into 2^subBits
// linear buckets below 2^subBits ns and, above that, 2^(subBits-1) buckets
// per power of two, so a bucket is never wider than 1/128 of its values
// (under 0.8 % error) — HDR histogram's scheme with fixed parameters.
const (
	subBits  = 8
	subCount = 1 << subBits
	halfSub  = subCount / 2
	// maxTrackable is the largest latency recorded exactly (~73 min);
	// anything slower lands in the last bucket.
	maxTrackable = int64(1) << 42
)

var bucketCount = bucketIndex(maxTrackable) + 1

// Histogram records durations in a fixed, bounded number of buckets
// (about 36 KiB) with under 1 % relative error. It is not safe for
// concurrent use: give each goroutine its own and Merge them.
type Histogram struct {
	counts []uint64
	total  uint64
	max    int64
	min    int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	return &Histogram{counts: make([]uint64, bucketCount), min: -1}
}

func bucketIndex(v int64) int {
	if v < subCount {
		return int(v)
	}
	// e is how far v must be shifted right to keep its top subBits bits;
	// those bits, in [halfSub, subCount), pick the bucket within the
	// power of two.
	e := bits.Len64(uint64(v)) - subBits
	return (e+1)*halfSub + int(v>>e) - halfSub
}

// bucketHigh is the largest value that falls into bucket i.
func bucketHigh(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	e := i/halfSub - 1
	m := int64(i%halfSub + halfSub)
	return (m+1)<<e - 1
}

// Record adds one observation. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	if v > maxTrackable {
		v = maxTrackable
	}
	h.counts[bucketIndex(v)]++
	h.total++
	if v > h.max {
		h.max = v
	}
	if h.min < 0 || v < h.min {
		h.min = v
	}
}

// Merge adds o's observations to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	if o.max > h.max {
		h.max = o.max
	}
	if o.min >= 0 && (h.min < 0 || o.min < h.min) {
		h.min = o.min
	}
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 { return h.total }

// Max is the largest observation, exactly.
func (h *Histogram) Max() time.Duration { return time.Duration(h.max) }

// Min is the smallest observation, exactly (0 when empty).
func (h *Histogram) Min() time.Duration { return time.Duration(max(h.min, 0)) }

// Quantile returns the value below which a fraction q (0 < q ≤ 1) of the
// observations lie: the upper edge of the bucket holding the observation
// of rank ⌈q·n⌉, never more than Max. It is 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.total == 0 {
		return 0
	}
	rank := min(max(uint64(math.Ceil(q*float64(h.total))), 1), h.total)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(bucketHigh(i), h.max))
		}
	}
	return time.Duration(h.max)
}
