package reqmeta

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientAddrTrustedProxies(t *testing.T) {
	tp, err := ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.7", "fd00::/8"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		trusted TrustedProxies
		peer    string
		xff     []string
		want    string
	}{
		{"no proxies trusted: header ignored", TrustedProxies{}, "198.51.100.1:1234", []string{"203.0.113.9"}, "198.51.100.1"},
		{"untrusted peer: header ignored", tp, "198.51.100.1:1234", []string{"203.0.113.9"}, "198.51.100.1"},
		{"trusted peer: the entry it added", tp, "10.1.2.3:1234", []string{"203.0.113.9"}, "203.0.113.9"},
		{"a caller's forged entries left of the real one are not believed", tp, "10.1.2.3:1234", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"a chain of trusted proxies is walked", tp, "10.1.2.3:1234", []string{"203.0.113.9, 192.0.2.7", "10.9.9.9"}, "203.0.113.9"},
		{"entries with ports", tp, "10.1.2.3:1234", []string{"203.0.113.9:4430"}, "203.0.113.9"},
		{"IPv6 entry", tp, "[fd00::1]:1234", []string{"[2001:db8::5]:443"}, "2001:db8::5"},
		{"garbage stops at the last trusted hop", tp, "10.1.2.3:1234", []string{"203.0.113.9, nonsense"}, "10.1.2.3"},
		{"trusted peer without the header", tp, "10.1.2.3:1234", nil, "10.1.2.3"},
		{"only trusted entries", tp, "10.1.2.3:1234", []string{"10.4.4.4"}, "10.4.4.4"},
		{"IPv4-mapped peer", tp, "[::ffff:10.1.2.3]:1234", []string{"203.0.113.9"}, "203.0.113.9"},
		{"zone is not an address", tp, "10.1.2.3:1234", []string{"fe80::1%eth0"}, "10.1.2.3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen Meta
			h := tt.trusted.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = From(r.Context()) }))
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				req.Header.Add(ForwardedFor, v)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			if seen.ClientAddr != tt.want {
				t.Fatalf("client addr = %q, want %q", seen.ClientAddr, tt.want)
			}
		})
	}
}

func TestParseTrustedProxies(t *testing.T) {
	tests := []struct {
		in      []string
		ok      bool
		trusts  string
		refuses string
	}{
		{[]string{"10.0.0.0/8"}, true, "10.255.0.1", "11.0.0.1"},
		{[]string{"10.1.2.3/8"}, true, "10.9.9.9", "192.0.2.1"}, // masked
		{[]string{"2001:db8::/32"}, true, "2001:db8::1", "2001:db9::1"},
		{[]string{"127.0.0.1"}, true, "127.0.0.1", "127.0.0.2"},
		{[]string{"", " "}, true, "", "127.0.0.1"},
		{[]string{"10.0.0.0/33"}, false, "", ""},
		{[]string{"proxy.example"}, false, "", ""},
	}
	for _, tt := range tests {
		tp, err := ParseTrustedProxies(tt.in)
		if (err == nil) != tt.ok {
			t.Fatalf("%q: err = %v, want ok=%v", tt.in, err, tt.ok)
		}
		if tt.trusts != "" && !tp.Trusts(netip.MustParseAddr(tt.trusts)) {
			t.Errorf("%q does not trust %s", tt.in, tt.trusts)
		}
		if tt.refuses != "" && tp.Trusts(netip.MustParseAddr(tt.refuses)) {
			t.Errorf("%q trusts %s", tt.in, tt.refuses)
		}
	}
}

// FuzzClientAddr: whatever X-Forwarded-For says, the address is a valid
// address, and it is the peer's unless the peer is trusted.
func FuzzClientAddr(f *testing.F) {
	f.Add("203.0.113.9, 10.0.0.1", "10.1.2.3:1234")
	f.Add("[2001:db8::1]:443,,garbage", "10.1.2.3:1")
	f.Add("", "198.51.100.1:1")
	tp, _ := ParseTrustedProxies([]string{"10.0.0.0/8"})
	f.Fuzz(func(t *testing.T, xff, peer string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = peer
		req.Header.Set(ForwardedFor, xff)
		got := tp.ClientAddr(req)
		untrusted := TrustedProxies{}.ClientAddr(req)
		if a, err := netip.ParseAddr(untrusted); err != nil || !tp.Trusts(a) {
			if got != untrusted {
				t.Fatalf("untrusted peer %q: got %q from the header", peer, got)
			}
			return
		}
		if _, err := netip.ParseAddr(got); err != nil {
			t.Fatalf("client addr %q is not an address", got)
		}
	})
}
