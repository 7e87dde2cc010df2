package ratelimit

import (
	"context"
	"testing"
	"time"
)

func newTestLockout(c *clock, mutate func(*LockoutConfig)) *Lockout {
	cfg := LockoutConfig{Threshold: 3, Window: time.Minute, Duration: 5 * time.Minute, Now: c.now}
	if mutate != nil {
		mutate(&cfg)
	}
	return NewLockout(cfg)
}

func fail(l *Lockout, a Attempt, n int) (out Outcome) {
	for range n {
		if o := l.Failed(context.Background(), a); o.Locked != "" || o.Alert {
			out = o
		}
	}
	return out
}

func TestLockoutPerCredentialAndSource(t *testing.T) {
	attacker := Attempt{Kind: KindClient, ID: "victim", Addr: "127.0.0.2"}
	victim := Attempt{Kind: KindClient, ID: "victim", Addr: "127.0.0.1"}
	otherCred := Attempt{Kind: KindClient, ID: "other", Addr: "127.0.0.2"}
	tests := []struct {
		name       string
		failures   []Attempt // in order
		check      Attempt
		wantLocked bool
	}{
		{"below the threshold", []Attempt{attacker, attacker}, attacker, false},
		{"the failing source is locked", []Attempt{attacker, attacker, attacker}, attacker, true},
		{"another address of the same /24 is not", []Attempt{attacker, attacker, attacker, attacker, attacker}, victim, false},
		{"another credential from the same source is not", []Attempt{attacker, attacker, attacker}, otherCred, false},
		{"three addresses of a /24 lock the prefix", []Attempt{
			{Kind: KindClient, ID: "victim", Addr: "10.0.0.1"}, {Kind: KindClient, ID: "victim", Addr: "10.0.0.1"}, {Kind: KindClient, ID: "victim", Addr: "10.0.0.1"},
			{Kind: KindClient, ID: "victim", Addr: "10.0.0.2"}, {Kind: KindClient, ID: "victim", Addr: "10.0.0.2"}, {Kind: KindClient, ID: "victim", Addr: "10.0.0.2"},
			{Kind: KindClient, ID: "victim", Addr: "10.0.0.3"}, {Kind: KindClient, ID: "victim", Addr: "10.0.0.3"}, {Kind: KindClient, ID: "victim", Addr: "10.0.0.3"},
		}, Attempt{Kind: KindClient, ID: "victim", Addr: "10.0.0.200"}, true},
		{"an IPv6 /64 is one source", []Attempt{
			{Kind: KindKey, ID: "k", Addr: "2001:db8::1"}, {Kind: KindKey, ID: "k", Addr: "2001:db8::1"}, {Kind: KindKey, ID: "k", Addr: "2001:db8::1"},
			{Kind: KindKey, ID: "k", Addr: "2001:db8::2"}, {Kind: KindKey, ID: "k", Addr: "2001:db8::2"}, {Kind: KindKey, ID: "k", Addr: "2001:db8::2"},
			{Kind: KindKey, ID: "k", Addr: "2001:db8::3"}, {Kind: KindKey, ID: "k", Addr: "2001:db8::3"}, {Kind: KindKey, ID: "k", Addr: "2001:db8::3"},
		}, Attempt{Kind: KindKey, ID: "k", Addr: "2001:db8::ffff"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1_700_000_000, 0)}
			l := newTestLockout(c, nil)
			for _, a := range tt.failures {
				if locked, _ := l.Locked(a); !locked {
					l.Failed(context.Background(), a)
				}
			}
			if locked, _ := l.Locked(tt.check); locked != tt.wantLocked {
				t.Fatalf("locked = %v, want %v", locked, tt.wantLocked)
			}
		})
	}
}

func TestLockoutDurationWindowAndSuccess(t *testing.T) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := newTestLockout(c, nil)
	a := Attempt{Kind: KindKey, ID: "k", Addr: "192.0.2.1"}
	if out := fail(l, a, 3); out.Locked != ScopeAddress {
		t.Fatalf("third failure: %+v, want the address locked", out)
	}
	if locked, d := l.Locked(a); !locked || d != 5*time.Minute {
		t.Fatalf("Locked = %v, %v", locked, d)
	}
	if out := l.Failed(context.Background(), a); out.Locked != "" {
		t.Fatal("a failure while locked reported a new lockout")
	}
	c.advance(5 * time.Minute)
	if locked, _ := l.Locked(a); locked {
		t.Fatal("still locked after the duration")
	}
	fail(l, a, 2)
	c.advance(2 * time.Minute) // outside the window: counting starts over
	if fail(l, a, 1).Locked != "" {
		t.Fatal("failures outside the window counted")
	}
	fail(l, a, 1)
	l.Succeeded(context.Background(), a)
	if fail(l, a, 2).Locked != "" {
		t.Fatal("a success did not reset the source's count")
	}
	var off *Lockout
	if off.Failed(context.Background(), a).Locked != "" {
		t.Fatal("nil lockout locked")
	}
}

func TestLockoutDistributedGuessing(t *testing.T) {
	tests := []struct {
		name          string
		attempt       Attempt
		lockWeak      bool
		wantAlert     bool
		wantCredLock  bool
		wantOtherSrcs bool // a fresh address is refused
	}{
		{"strong credential: alert only", Attempt{Kind: KindClient, ID: "c"}, true, true, false, false},
		{"weak credential without LockWeak: alert only", Attempt{Kind: KindKey, ID: ImportedKeys, Weak: true}, false, true, false, false},
		{"weak credential with LockWeak: locked for everyone", Attempt{Kind: KindKey, ID: ImportedKeys, Weak: true}, true, true, true, true},
		{"bad signatures are no guesses: no alert", Attempt{Kind: KindClient, ID: "c", NotGuessable: true}, true, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1_700_000_000, 0)}
			l := newTestLockout(c, func(cfg *LockoutConfig) { cfg.AlertThreshold, cfg.LockWeak = 20, tt.lockWeak })
			var alerts int
			var credLock bool
			// 20 failures from 20 addresses in 20 different /24s: no source
			// reaches its threshold.
			for i := range 20 {
				a := tt.attempt
				a.Addr = "10." + itoa(i) + ".0.1"
				out := l.Failed(context.Background(), a)
				if out.Alert {
					alerts++
				}
				if out.Locked == ScopeCredential {
					credLock = true
				}
			}
			if (alerts == 1) != tt.wantAlert || alerts > 1 {
				t.Fatalf("%d alerts, want alert=%v once", alerts, tt.wantAlert)
			}
			if credLock != tt.wantCredLock {
				t.Fatalf("credential locked = %v, want %v", credLock, tt.wantCredLock)
			}
			fresh := tt.attempt
			fresh.Addr, fresh.NotGuessable = "203.0.113.1", false
			if locked, _ := l.Locked(fresh); locked != tt.wantOtherSrcs {
				t.Fatalf("a fresh source locked = %v, want %v", locked, tt.wantOtherSrcs)
			}
		})
	}
}

func TestPrefix(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"192.0.2.77", "192.0.2.0/24"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"::ffff:192.0.2.77", "192.0.2.0/24"},
		{"not-an-address", "not-an-address"},
		{"", ""},
	} {
		if got := Prefix(tt.in, 24, 64); got != tt.want {
			t.Errorf("Prefix(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func itoa(i int) string { return string(rune('0'+i/10)) + string(rune('0'+i%10)) }
