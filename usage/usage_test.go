package usage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

// flaky is the real store with a switch that makes usage writes fail, the
// way a database outage would.
type flaky struct {
	store.Store
	mu   sync.Mutex
	fail bool
}

func (f *flaky) setFail(v bool) { f.mu.Lock(); f.fail = v; f.mu.Unlock() }

func (f *flaky) failing() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.fail }

func (f *flaky) RecordKeyUsage(ctx context.Context, us []store.KeyUsage) error {
	if f.failing() {
		return fmt.Errorf("record: %w", store.ErrUnavailable)
	}
	return f.Store.RecordKeyUsage(ctx, us)
}

func (f *flaky) RecordClientUsage(ctx context.Context, us []store.ClientUsage) error {
	if f.failing() {
		return fmt.Errorf("record: %w", store.ErrUnavailable)
	}
	return f.Store.RecordClientUsage(ctx, us)
}

func (f *flaky) RecordRefusals(ctx context.Context, cs []store.RefusalCount) error {
	if f.failing() {
		return fmt.Errorf("record: %w", store.ErrUnavailable)
	}
	return f.Store.RecordRefusals(ctx, cs)
}

func openStore(t *testing.T) store.Store {
	t.Helper()
	st := storetest.OpenSQLite(t)
	ctx := t.Context()
	must(t, st.CreateTenant(ctx, store.Tenant{ID: "ten_a", Name: "a", Status: store.StatusActive, StatusChangedAt: t0, CreatedAt: t0, UpdatedAt: t0}))
	must(t, st.CreatePrincipal(ctx, store.Principal{ID: "prn_a", TenantID: "ten_a", Kind: store.KindService, DisplayName: "a", Status: store.StatusActive, StatusChangedAt: t0, CreatedAt: t0, UpdatedAt: t0}))
	for _, id := range []string{"key_1", "key_2"} {
		must(t, st.CreateLegacyKey(ctx, store.LegacyKey{ID: id, Hash: []byte("h-" + id), TenantID: "ten_a", OwnerID: "prn_a", Source: store.SourceIssued, Status: store.StatusActive, CreatedAt: t0, UpdatedAt: t0}))
	}
	must(t, st.CreateClient(ctx, store.Client{ID: "cli_1", TenantID: "ten_a", OwnerID: "prn_a", Name: "c", AuthMethod: store.AuthSecretBasic,
		GrantTypes: []string{store.GrantClientCredentials}, Status: store.StatusActive, StatusChangedAt: t0, CreatedAt: t0, UpdatedAt: t0}))
	return st
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func keyState(t *testing.T, st store.Store, id string) (int64, *time.Time) {
	t.Helper()
	k, err := st.GetLegacyKey(t.Context(), id)
	must(t, err)
	return k.UseCount, k.LastUsedAt
}

func TestFlush(t *testing.T) {
	st := openStore(t)
	r := NewRecorder(st, nil, func() time.Time { return t0.Add(time.Hour) })
	ctx := t.Context()

	for i := range 5 {
		r.KeyUsed("key_1", t0.Add(time.Duration(i)*time.Minute))
	}
	r.KeyUsed("key_1", t0) // older than the latest: must not move it back
	r.KeyUsed("key_2", time.Time{})
	r.ClientUsed("cli_1", "", t0.Add(3*time.Minute))
	r.KeyUsed("key_gone", t0) // deleted meanwhile: skipped, not an error
	must(t, r.Flush(ctx))

	tests := []struct {
		id    string
		count int64
		last  time.Time
	}{
		{"key_1", 6, t0.Add(4 * time.Minute)},
		{"key_2", 1, t0.Add(time.Hour)}, // zero time: the recorder's clock
	}
	for _, tt := range tests {
		n, last := keyState(t, st, tt.id)
		if n != tt.count || last == nil || !last.Equal(tt.last) {
			t.Errorf("%s: count %d last %v, want %d %v", tt.id, n, last, tt.count, tt.last)
		}
	}
	c, err := st.GetClient(ctx, "cli_1")
	must(t, err)
	if c.LastUsedAt == nil || !c.LastUsedAt.Equal(t0.Add(3*time.Minute)) {
		t.Errorf("client last used %v, want %v", c.LastUsedAt, t0.Add(3*time.Minute))
	}

	// A second flush with nothing new writes nothing: counts stay.
	must(t, r.Flush(ctx))
	if n, _ := keyState(t, st, "key_1"); n != 6 {
		t.Fatalf("idle flush changed the count to %d", n)
	}
	// Counts add up across flushes.
	r.KeyUsed("key_1", t0.Add(10*time.Minute))
	must(t, r.Flush(ctx))
	if n, last := keyState(t, st, "key_1"); n != 7 || !last.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("after third flush: count %d last %v", n, last)
	}
}

func TestFailedFlushKeepsCounts(t *testing.T) {
	st := &flaky{Store: openStore(t)}
	r := NewRecorder(st, nil, nil)
	ctx := t.Context()
	r.KeyUsed("key_1", t0)
	r.KeyUsed("key_1", t0.Add(time.Minute))
	r.ClientUsed("cli_1", "", t0.Add(2*time.Minute))

	st.setFail(true)
	err := r.Flush(ctx)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Flush = %v, want the storage error", err)
	}
	r.KeyUsed("key_1", t0.Add(30*time.Second)) // a use during the outage
	if err := r.Flush(ctx); err == nil {
		t.Fatal("second failing flush reported success")
	}

	st.setFail(false)
	must(t, r.Flush(ctx))
	n, last := keyState(t, st, "key_1")
	if n != 3 || !last.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after recovery: count %d last %v, want 3 %v", n, last, t0.Add(time.Minute))
	}
	c, err := st.GetClient(ctx, "cli_1")
	must(t, err)
	if c.LastUsedAt == nil || !c.LastUsedAt.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("client last used %v after recovery", c.LastUsedAt)
	}
}

func TestConcurrentUseLosesNothing(t *testing.T) {
	st := openStore(t)
	r := NewRecorder(st, nil, nil)
	ctx := t.Context()
	const workers, each = 8, 500
	var wg sync.WaitGroup
	stop := make(chan struct{})
	flushed := make(chan error, 1)
	go func() { // flush while the uses pour in
		for {
			select {
			case <-stop:
				flushed <- nil
				return
			default:
				if err := r.Flush(ctx); err != nil {
					flushed <- err
					return
				}
			}
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r.KeyUsed("key_1", t0.Add(time.Duration(w*each+i)*time.Millisecond))
			}
		}()
	}
	wg.Wait()
	close(stop)
	must(t, <-flushed)
	must(t, r.Flush(ctx))
	n, last := keyState(t, st, "key_1")
	if n != workers*each {
		t.Fatalf("count %d, want %d", n, workers*each)
	}
	if want := t0.Add(time.Duration(workers*each-1) * time.Millisecond); !last.Equal(want) {
		t.Fatalf("last used %v, want %v", last, want)
	}
}

func TestIdleEntriesAreForgotten(t *testing.T) {
	st := openStore(t)
	r := NewRecorder(st, nil, nil)
	r.KeyUsed("key_1", t0)
	r.ClientUsed("cli_1", "", t0)
	must(t, r.Flush(t.Context())) // written
	must(t, r.Flush(t.Context())) // idle for a whole interval: dropped
	for _, n := range []int{len(*r.keys.read.Load()) + len(r.keys.dirty), len(*r.clients.read.Load()) + len(r.clients.dirty)} {
		if n != 0 {
			t.Fatalf("table still holds %d idle entries", n)
		}
	}
	// A use after retirement counts again.
	r.KeyUsed("key_1", t0.Add(time.Minute))
	must(t, r.Flush(t.Context()))
	if n, last := keyState(t, st, "key_1"); n != 2 || !last.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after retirement and reuse: count %d last %v", n, last)
	}
}

func TestRunFlushesOnShutdown(t *testing.T) {
	st := openStore(t)
	r := NewRecorder(st, nil, nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, time.Hour) }() // the ticker never fires here
	r.KeyUsed("key_2", t0)
	cancel()
	must(t, <-done)
	if n, _ := keyState(t, st, "key_2"); n != 1 {
		t.Fatalf("count after shutdown %d, want 1", n)
	}
	if err := r.Run(t.Context(), 0); err == nil {
		t.Fatal("Run accepted a zero interval")
	}
}

func TestKeyUsedDoesNotAllocate(t *testing.T) {
	r := NewRecorder(nil, nil, nil)
	r.KeyUsed("key_1", t0)
	r.keys.drain()
	if n := testing.AllocsPerRun(1000, func() { r.KeyUsed("key_1", t0.Add(time.Second)) }); n != 0 {
		t.Fatalf("KeyUsed of a known key allocates %.1f times", n)
	}
}

func TestFlushCountsUsesPerHour(t *testing.T) {
	st := openStore(t)
	r := NewRecorder(st, nil, nil)
	ctx := t.Context()
	for range 4 {
		r.KeyUsed("key_1", t0)
	}
	r.ClientUsed("cli_1", "", t0)
	must(t, r.Flush(ctx))
	r.KeyUsed("key_1", t0.Add(time.Minute))
	must(t, r.Flush(ctx))
	for _, tt := range []struct {
		cred string
		want int64
	}{{"key:key_1", 5}, {"client:cli_1", 1}, {"key:key_2", 0}} {
		n, err := st.UsesSince(ctx, tt.cred, t0.Add(-24*time.Hour))
		must(t, err)
		if n != tt.want {
			t.Errorf("%s: %d uses in 24 h, want %d", tt.cred, n, tt.want)
		}
	}
}

// TestFlushSecretUses: the uses of each of a client's secrets (the two of
// a rotation overlap) reach the store apart, each with its latest time,
// and the client's own last use is the later of them.
func TestFlushSecretUses(t *testing.T) {
	st := openStore(t)
	ctx := t.Context()
	_, err := st.UpdateClient(ctx, "cli_1", func(c store.Client) (store.Client, error) {
		c.Secrets = []store.ClientSecret{{ID: "sec_old", Hash: []byte{1}, CreatedAt: t0}, {ID: "sec_new", Hash: []byte{2}, CreatedAt: t0}}
		return c, nil
	})
	must(t, err)
	r := NewRecorder(st, nil, nil)
	r.ClientUsed("cli_1", "sec_old", t0.Add(time.Minute))
	r.ClientUsed("cli_1", "sec_old", t0.Add(3*time.Minute))
	r.ClientUsed("cli_1", "sec_new", t0.Add(2*time.Minute))
	must(t, r.Flush(ctx))
	r.ClientUsed("cli_1", "sec_new", t0.Add(5*time.Minute))
	must(t, r.Flush(ctx))
	c, err := st.GetClient(ctx, "cli_1")
	must(t, err)
	want := map[string]time.Time{"sec_old": t0.Add(3 * time.Minute), "sec_new": t0.Add(5 * time.Minute)}
	for _, s := range c.Secrets {
		if s.LastUsedAt == nil || !s.LastUsedAt.Equal(want[s.ID]) {
			t.Errorf("secret %s last used %v, want %v", s.ID, s.LastUsedAt, want[s.ID])
		}
	}
	if c.LastUsedAt == nil || !c.LastUsedAt.Equal(t0.Add(5*time.Minute)) {
		t.Errorf("client last used %v", c.LastUsedAt)
	}
	// Both secrets' uses count as the client's in the hourly figures.
	n, err := st.UsesSince(ctx, "client:cli_1", t0.Add(-time.Hour))
	must(t, err)
	if n != 4 {
		t.Errorf("hourly uses of the client: %d, want 4", n)
	}
}

// TestFlushRefusals: refusals are counted per tenant, UTC hour and code;
// flushes add up; a failed flush keeps its counts for the next one, and
// nothing is counted twice.
func TestFlushRefusals(t *testing.T) {
	st := &flaky{Store: openStore(t)}
	r := NewRecorder(st, nil, func() time.Time { return t0.Add(90 * time.Minute) })
	ctx := t.Context()
	r.Refused("ten_a", "client_invalid", t0.Add(time.Minute))
	r.Refused("ten_a", "client_invalid", t0.Add(59*time.Minute))
	r.Refused("ten_a", "client_invalid", t0.Add(61*time.Minute))
	r.Refused("", "invalid_request", time.Time{}) // now: t0+90m
	r.Refused("ten_b", "client_invalid", t0)
	must(t, r.Flush(ctx))

	r.Refused("ten_a", "client_invalid", t0.Add(2*time.Minute))
	st.setFail(true)
	if err := r.Flush(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Flush = %v, want the storage error", err)
	}
	r.Refused("", "invalid_request", t0.Add(70*time.Minute)) // during the outage
	st.setFail(false)
	must(t, r.Flush(ctx))
	must(t, r.Flush(ctx)) // nothing pending: adds nothing

	h0, h1 := t0, t0.Add(time.Hour)
	for _, c := range []struct {
		f    store.RefusalFilter
		want []store.RefusalCount
	}{
		{store.RefusalFilter{TenantID: "ten_a", Since: t0}, []store.RefusalCount{
			{TenantID: "ten_a", Hour: h0, ErrorCode: "client_invalid", N: 3},
			{TenantID: "ten_a", Hour: h1, ErrorCode: "client_invalid", N: 1},
		}},
		{store.RefusalFilter{Since: t0}, []store.RefusalCount{
			{TenantID: "", Hour: h1, ErrorCode: "invalid_request", N: 2},
		}},
		{store.RefusalFilter{AllTenants: true, Since: t0}, []store.RefusalCount{
			{Hour: h0, ErrorCode: "client_invalid", N: 4},
			{Hour: h1, ErrorCode: "client_invalid", N: 1},
			{Hour: h1, ErrorCode: "invalid_request", N: 2},
		}},
	} {
		got, err := st.ListRefusalCounts(ctx, c.f)
		must(t, err)
		if len(got) != len(c.want) {
			t.Fatalf("%+v: %+v, want %+v", c.f, got, c.want)
		}
		for i := range got {
			if g, w := got[i], c.want[i]; g.TenantID != w.TenantID || !g.Hour.Equal(w.Hour) || g.ErrorCode != w.ErrorCode || g.N != w.N {
				t.Fatalf("%+v: %+v, want %+v", c.f, got, c.want)
			}
		}
	}
}
