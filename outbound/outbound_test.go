package outbound

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listener serves h on addr (e.g. "127.0.0.2:0") until the test ends and
// counts the requests it received.
type listener struct {
	url  string
	hits atomic.Int64
}

func serve(t *testing.T, addr string, h http.HandlerFunc) *listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	l := &listener{url: "http://" + ln.Addr().String()}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.hits.Add(1)
		h(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l
}

func allow(t *testing.T, cidrs ...string) []netip.Prefix {
	t.Helper()
	p, err := ParseCIDRs(cidrs)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const doc = `{"keys":[]}`

func ok(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(doc)) }

func TestFetch(t *testing.T) {
	inside := serve(t, "127.0.0.2:0", ok) // an "internal service"
	redirector := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, inside.url+"/latest/meta-data", http.StatusFound)
	})
	plain := serve(t, "127.0.0.1:0", ok)
	missing := serve(t, "127.0.0.1:0", http.NotFound)
	big := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 1025))) // chunked or not, over the cap
	})
	exact := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", 1024)))
	})
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	slow := serve(t, "127.0.0.1:0", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
	})
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(plain.url, "http://"))

	tests := []struct {
		name    string
		allow   []string
		url     string
		wantErr string // "" = success; else a fragment of the logged reason
		notHit  *listener
	}{
		{"loopback refused without an allow list", nil, plain.url, "127.0.0.1 is loopback", plain},
		{"localhost resolves to loopback: refused", nil, "http://localhost:" + port, "is loopback", plain},
		{"direct private address refused though another loopback address is allowed", []string{"127.0.0.1/32"}, inside.url, "127.0.0.2 is loopback", inside},
		{"redirect to 127.0.0.2 refused", []string{"127.0.0.1/32"}, redirector.url, "never follow redirects", inside},
		{"redirect refused even where the target is allowed", []string{"127.0.0.0/8"}, redirector.url, "never follow redirects", inside},
		{"allowed CIDR works", []string{"127.0.0.2/32"}, inside.url, "", nil},
		{"allowed single address works", []string{"127.0.0.1"}, plain.url, "", nil},
		{"status other than 200", []string{"127.0.0.1/32"}, missing.url, "answered HTTP 404", nil},
		{"size cap", []string{"127.0.0.1/32"}, big.url, "1024-byte cap", nil},
		{"exactly the cap is fine", []string{"127.0.0.1/32"}, exact.url, "", nil},
		{"timeout", []string{"127.0.0.1/32"}, slow.url, "Timeout", nil},
		{"not http", []string{"127.0.0.1/32"}, "file:///etc/passwd", "not an absolute http(s) URL", nil},
		{"metadata endpoint", nil, "http://169.254.169.254/latest/meta-data", "link-local", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var before int64
			if tc.notHit != nil {
				before = tc.notHit.hits.Load()
			}
			f := New(Config{Allow: allow(t, tc.allow...), MaxBytes: 1024, Timeout: 300 * time.Millisecond})
			body, err := f.Get(context.Background(), tc.url, "application/json")
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				if len(body) == 0 {
					t.Fatal("empty body")
				}
				return
			}
			if err == nil {
				t.Fatalf("Get succeeded (%d bytes), want a failure", len(body))
			}
			if !errors.Is(err, ErrFetch) {
				t.Fatalf("error %v does not match ErrFetch", err)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not say %q", err, tc.wantErr)
			}
			if tc.notHit != nil && tc.notHit.hits.Load() != before {
				t.Fatal("the refused destination received the request")
			}
		})
	}
}

// TestClientRefusesLikeGet: the client handed to webhook delivery applies
// the same rules.
func TestClientRefusesLikeGet(t *testing.T) {
	inside := serve(t, "127.0.0.2:0", ok)
	f := New(Config{Allow: allow(t, "127.0.0.1/32")})
	resp, err := f.Client().Post(inside.url, "application/json", strings.NewReader("{}"))
	if err == nil {
		resp.Body.Close()
		t.Fatal("webhook POST to a refused address went through")
	}
	if !errors.Is(err, ErrDestination) || inside.hits.Load() != 0 {
		t.Fatalf("err = %v, hits = %d", err, inside.hits.Load())
	}
}

func TestRefused(t *testing.T) {
	f := New(Config{Allow: allow(t, "10.20.0.0/16", "fd00:1::/32")})
	for _, tc := range []struct {
		ip   string
		want string // "" allowed
	}{
		{"8.8.8.8", ""},
		{"2606:4700:4700::1111", ""},
		{"10.20.1.2", ""}, // allowed by the operator
		{"fd00:1::5", ""}, // allowed by the operator
		{"10.0.0.1", "private"},
		{"172.16.0.1", "private"},
		{"192.168.1.1", "private"},
		{"fd12::1", "private"},
		{"127.0.0.1", "loopback"},
		{"127.9.9.9", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.0.0.1", "private"},
		{"169.254.169.254", "link-local"},
		{"fe80::1", "link-local"},
		{"0.0.0.0", "unspecified"},
		{"::", "unspecified"},
		{"224.0.0.1", "multicast"},
		{"ff02::1", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"100.64.0.1", "shared address space (100.64.0.0/10)"},
		{"0.1.2.3", "'this network' (0.0.0.0/8)"},
		{"198.18.0.1", "benchmarking (198.18.0.0/15)"},
		{"64:ff9b::a00:1", "NAT64 (64:ff9b::/96)"},
		{"2002:a00:1::1", "6to4 (2002::/16)"},
	} {
		if got := f.Refused(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Refused(%s) = %q, want %q", tc.ip, got, tc.want)
		}
	}
}

func TestParseCIDRs(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    string
		wantErr bool
	}{
		{nil, "", false},
		{[]string{"127.0.0.0/8"}, "127.0.0.0/8", false},
		{[]string{"10.1.2.3/8, fd00::/8", "192.0.2.7"}, "10.0.0.0/8 fd00::/8 192.0.2.7/32", false},
		{[]string{"::ffff:10.0.0.1"}, "10.0.0.1/32", false},
		{[]string{"::ffff:10.0.0.0/104"}, "10.0.0.0/8", false},
		{[]string{""}, "", false},
		{[]string{"10.0.0.0/33"}, "", true},
		{[]string{"example.com"}, "", true},
	} {
		got, err := ParseCIDRs(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("ParseCIDRs(%q) error %v", tc.in, err)
			continue
		}
		var s []string
		for _, p := range got {
			s = append(s, p.String())
		}
		if strings.Join(s, " ") != tc.want {
			t.Errorf("ParseCIDRs(%q) = %q, want %q", tc.in, s, tc.want)
		}
	}
}

// FuzzParseCIDRs: the operator's allow list never panics, and what it
// accepts is a valid, masked prefix.
func FuzzParseCIDRs(f *testing.F) {
	for _, s := range []string{"127.0.0.0/8", "10.0.0.1", "fd00::/8,192.168.0.0/16", "::ffff:1.2.3.4/128", "1.2.3.4/40", ",,", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParseCIDRs([]string{s})
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("ParseCIDRs(%q) gave %v", s, p)
			}
		}
	})
}
