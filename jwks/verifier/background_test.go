package verifier

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/authz/authz/jwks/verifier/verifiertest"
)

// steppedSleep lets a test drive the background refresher: each wait is
// reported on asked, and returns when the test sends on tick.
type steppedSleep struct {
	asked chan time.Duration
	tick  chan struct{}
}

func (s *steppedSleep) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case s.asked <- d:
	case <-ctx.Done():
		return false
	}
	select {
	case <-s.tick:
		return true
	case <-ctx.Done():
		return false
	}
}

func TestBackgroundRefresh(t *testing.T) {
	iss := verifiertest.NewIssuer(t)
	iss.AddKey(t, ES256)
	clock := verifiertest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	s := &steppedSleep{asked: make(chan time.Duration), tick: make(chan struct{})}
	v, err := newVerifier(t.Context(), Config{Issuer: iss.URL, Now: clock.Now, MinRefreshInterval: 20 * time.Second}, s.sleep)
	if err != nil {
		t.Fatal(err)
	}

	// max-age=300: the refresher wakes at three quarters of it.
	if d := <-s.asked; d != 225*time.Second {
		t.Fatalf("first wait %v, want 225s", d)
	}
	next := iss.AddKey(t, EdDSA)
	s.tick <- struct{}{}
	if d := <-s.asked; d != 225*time.Second {
		t.Fatalf("wait after a refresh %v, want 225s", d)
	}
	if hits := iss.JWKSHits(); hits != 2 {
		t.Fatalf("JWKS hits = %d, want 2", hits)
	}
	// The new key was picked up in the background: no fetch on the
	// request path.
	claims := iss.Claims(clock.Now())
	if _, err := v.Verify(context.Background(), next.Sign(t, claims, nil)); err != nil {
		t.Fatal(err)
	}
	if hits := iss.JWKSHits(); hits != 2 {
		t.Fatalf("JWKS hits = %d after Verify, want 2", hits)
	}

	// A failed refresh is retried after the minimum interval, and the
	// cached set keeps serving.
	iss.SetJWKSStatus(http.StatusServiceUnavailable)
	s.tick <- struct{}{}
	if d := <-s.asked; d != 20*time.Second {
		t.Fatalf("wait after a failure %v, want the minimum interval", d)
	}
	if _, err := v.Verify(context.Background(), next.Sign(t, iss.Claims(clock.Now()), nil)); err != nil {
		t.Fatal(err)
	}

	// Close stops the refresher.
	v.Close()
	select {
	case <-v.done:
	default:
		t.Fatal("refresher still running after Close")
	}
}
