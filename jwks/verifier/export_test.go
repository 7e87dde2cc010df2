package verifier

import (
	"context"
	"time"
)

// CheckStatusLists runs the Token Status List check alone on c, at now.
func CheckStatusLists(ctx context.Context, v *Verifier, c *Claims, now time.Time) error {
	return v.lists.check(ctx, c, now)
}

// WaitStatusFetches waits for the status list fetches in flight (the
// background refresh).
func WaitStatusFetches(v *Verifier) { v.lists.wg.Wait() }
