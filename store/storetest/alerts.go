package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

func testHourlyUses(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	hour := t0.Truncate(time.Hour)
	must(t, s.RecordHourlyUse(ctx, []store.HourlyUse{
		{Credential: "key:a", Hour: hour, Uses: 3},
		{Credential: "key:a", Hour: hour.Add(-30 * time.Hour), Uses: 100},
		{Credential: "client:b", Hour: hour, Uses: 7},
	}))
	must(t, s.RecordHourlyUse(ctx, []store.HourlyUse{{Credential: "key:a", Hour: hour.Add(20 * time.Minute), Uses: 2}}))
	for _, c := range []struct {
		cred  string
		since time.Time
		want  int64
	}{
		{"key:a", t0.Add(-24 * time.Hour), 5},
		{"key:a", t0.Add(-31 * time.Hour), 105},
		{"client:b", t0.Add(-time.Hour), 7},
		{"key:none", t0.Add(-time.Hour), 0},
	} {
		got, err := s.UsesSince(ctx, c.cred, c.since)
		must(t, err)
		if got != c.want {
			t.Errorf("UsesSince(%s, %v) = %d, want %d", c.cred, c.since, got, c.want)
		}
	}
	n, err := s.PurgeAlertState(ctx, t0, t0.Add(-24*time.Hour))
	must(t, err)
	if n != 1 {
		t.Errorf("purged %d rows, want the one old hour", n)
	}
	if got, _ := s.UsesSince(ctx, "key:a", t0.Add(-31*time.Hour)); got != 5 {
		t.Errorf("after purge: %d uses, want 5", got)
	}
}

func testCredentialNetworks(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	add := func(prefix string, when time.Time) bool {
		t.Helper()
		isNew, err := s.AddCredentialNetwork(ctx, store.CredentialNetwork{Credential: "key:a", Prefix: prefix, FirstSeen: when, LastSeen: when})
		must(t, err)
		return isNew
	}
	if !add("192.0.2.0/24", at(0)) || !add("2001:db8:1::/48", at(time.Minute)) {
		t.Fatal("first sightings not new")
	}
	if add("192.0.2.0/24", at(time.Hour)) {
		t.Fatal("a known prefix reported new")
	}
	ns, err := s.ListCredentialNetworks(ctx, "key:a", 10)
	must(t, err)
	if len(ns) != 2 || ns[0].Prefix != "192.0.2.0/24" || !ns[0].FirstSeen.Equal(at(0).Truncate(time.Microsecond)) ||
		!ns[0].LastSeen.Equal(at(time.Hour).Truncate(time.Microsecond)) || ns[1].Prefix != "2001:db8:1::/48" {
		t.Fatalf("networks = %+v", ns)
	}
	if ns, _ := s.ListCredentialNetworks(ctx, "key:other", 10); len(ns) != 0 {
		t.Fatalf("another credential's networks: %+v", ns)
	}
}

func testClaimAlert(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	// Replicas race for one alert: exactly one wins.
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.ClaimAlert(ctx, "refusal_spike:key:a:100", at(0), at(5*time.Minute))
			if err != nil {
				t.Error(err)
				return
			}
			if ok {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d replicas claimed the alert, want 1", wins)
	}
	// Still held inside its window; free again after it.
	if ok, err := s.ClaimAlert(ctx, "refusal_spike:key:a:100", at(time.Minute), at(6*time.Minute)); err != nil || ok {
		t.Fatalf("claim inside the window = %v, %v", ok, err)
	}
	if ok, err := s.ClaimAlert(ctx, "refusal_spike:key:a:100", at(10*time.Minute), at(15*time.Minute)); err != nil || !ok {
		t.Fatalf("claim after the window = %v, %v", ok, err)
	}
	if n, err := s.PurgeAlertState(ctx, at(time.Hour), at(-time.Hour)); err != nil || n != 1 {
		t.Fatalf("purge = %d, %v", n, err)
	}
}

func testCountAlert(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	var wg sync.WaitGroup
	seen := make(chan int64, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := s.CountAlert(ctx, "admin_burst.count:admin:x:7", at(0), at(10*time.Minute))
			if err != nil {
				t.Error(err)
			}
			seen <- n
		}()
	}
	wg.Wait()
	close(seen)
	got := map[int64]bool{}
	for n := range seen {
		got[n] = true
	}
	for i := int64(1); i <= 10; i++ {
		if !got[i] {
			t.Fatalf("counts %v: %d missing; concurrent callers must get distinct counts", got, i)
		}
	}
	if n, err := s.CountAlert(ctx, "admin_burst.count:admin:x:7", at(11*time.Minute), at(20*time.Minute)); err != nil || n != 1 {
		t.Fatalf("count after expiry = %d, %v; want a fresh 1", n, err)
	}
	if n, err := s.CountAlert(ctx, "admin_burst.count:admin:y:7", at(11*time.Minute), at(20*time.Minute)); err != nil || n != 1 {
		t.Fatalf("another key = %d, %v", n, err)
	}
}
