package alerts_test

import (
	"net/netip"
	"testing"

	"github.com/authz/authz/alerts"
)

// FuzzPrefix: any client address either yields an IPv4 /24 or IPv6 /48
// that contains it, or nothing; never a panic.
func FuzzPrefix(f *testing.F) {
	for _, s := range []string{"192.0.2.7", "::ffff:192.0.2.7", "2001:db8::1", "fe80::1%eth0", "", "1.2.3", "[::1]:80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		p, ok := alerts.Prefix(addr)
		if !ok {
			return
		}
		a, err := netip.ParseAddr(addr)
		if err != nil {
			t.Fatalf("Prefix(%q) = %v for an address that does not parse", addr, p)
		}
		a = a.Unmap().WithZone("")
		if want := map[bool]int{true: 24, false: 48}[a.Is4()]; p.Bits() != want || !p.Contains(a) {
			t.Fatalf("Prefix(%q) = %v", addr, p)
		}
	})
}
