package notify

import (
	"testing"
	"time"
)

func TestBackoffDoublesWithJitterUpToMax(t *testing.T) {
	n := New(nil, Config{URL: "http://receiver.invalid", BackoffBase: 10 * time.Second, BackoffMax: 2 * time.Minute})
	for _, tc := range []struct {
		attempts int
		step     time.Duration
	}{
		{1, 10 * time.Second},
		{2, 20 * time.Second},
		{3, 40 * time.Second},
		{4, 80 * time.Second},
		{5, 2 * time.Minute}, // capped
		{40, 2 * time.Minute},
	} {
		for range 200 {
			d := n.backoff(tc.attempts)
			if d < tc.step/2 || d > tc.step {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", tc.attempts, d, tc.step/2, tc.step)
			}
		}
	}
}
