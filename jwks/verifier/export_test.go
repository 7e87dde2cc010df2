package verifier

import "context"

// CheckStatusLists runs the Token Status List check alone on c.
func CheckStatusLists(ctx context.Context, v *Verifier, c *Claims) error { return v.lists.check(ctx, c) }

// WaitStatusFetches waits for the status list fetches in flight (the
// background refresh).
func WaitStatusFetches(v *Verifier) { v.lists.wg.Wait() }
