package publisher

import (
	"context"
	"testing"
	"time"

	"github.com/authz/authz/jwks"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

func newTestPublisher(t *testing.T) (*Publisher, store.Store) {
	t.Helper()
	ctx := context.Background()
	st := storetest.OpenSQLite(t)
	keys, err := jwks.NewManager(st, masterkey.Generate(), jwks.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := keys.Init(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := New(st, keys, Config{Issuer: "https://authz.test"})
	if err != nil {
		t.Fatal(err)
	}
	return p, st
}

func builds(p *Publisher, outcome string) float64 {
	return counterValue(p.m.builds.WithLabelValues(outcome))
}

// Rebuilds happen when something is due, at most once per
// MinRebuildInterval however many changes arrive.
func TestStepRateLimit(t *testing.T) {
	p, st := newTestPublisher(t)
	ctx := context.Background()
	elapsed := time.Duration(0)
	p.since = func(time.Time) time.Duration { return elapsed }
	built := func() float64 { return builds(p, "published") + builds(p, "unchanged") }

	p.step(ctx)
	if built() != 1 || p.cur.Load() == nil {
		t.Fatalf("first step built %v lists", built())
	}
	p.step(ctx)
	if built() != 1 {
		t.Fatal("a step with nothing due rebuilt")
	}
	now := time.Now()
	tn := store.Tenant{ID: "ten_1", Name: "t", Status: store.StatusActive, CreatedAt: now, UpdatedAt: now, StatusChangedAt: now}
	if err := st.CreateTenant(ctx, tn); err != nil { // moves the generation
		t.Fatal(err)
	}
	p.step(ctx)
	if built() != 1 {
		t.Fatal("rebuilt within MinRebuildInterval")
	}
	elapsed = p.cfg.MinRebuildInterval
	p.step(ctx)
	if built() != 2 {
		t.Fatal("a change was not rebuilt once the interval passed")
	}
}

// An index allocated beyond the list asks for a rebuild at once, and the
// rebuilt list covers it.
func TestAllocationBeyondTheListWakesRun(t *testing.T) {
	p, _ := newTestPublisher(t)
	ctx := context.Background()
	p.since = func(time.Time) time.Duration { return time.Hour }
	p.step(ctx)
	p.capacity.Store(0) // as if the list had no room left
	if _, err := p.StatusClaim(ctx, "client:cli_1"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.wake:
	default:
		t.Fatal("allocating beyond the list did not wake Run")
	}
	if !p.grow.Load() {
		t.Fatal("grow not set")
	}
	before := builds(p, "published") + builds(p, "unchanged")
	p.step(ctx)
	if builds(p, "published")+builds(p, "unchanged") != before+1 || p.grow.Load() || p.capacity.Load() <= 0 {
		t.Fatalf("step after the wake: capacity %d, grow %v", p.capacity.Load(), p.grow.Load())
	}
}

// A million entries fit in a list of a few hundred KiB before compression.
func TestCapacityFor(t *testing.T) {
	for _, tc := range []struct{ n, min, max int64 }{
		{0, 8192, 8192},
		{1, 8192, 16384},
		{8192, 16384, 16384},
		{1_000_000, 1_250_000, 1_260_000},
	} {
		c := capacityFor(tc.n)
		if c < tc.min || c > tc.max || c%8192 != 0 || c <= tc.n {
			t.Errorf("capacityFor(%d) = %d, want a multiple of 8192 in [%d, %d]", tc.n, c, tc.min, tc.max)
		}
	}
	if kib := capacityFor(1_000_000) * bits / 8 / 1024; kib > 320 {
		t.Errorf("a million entries take %d KiB", kib)
	}
}
