package reqmeta

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ForwardedFor is the header through which a trusted proxy names the
// address it received a request from.
const ForwardedFor = "X-Forwarded-For"

// maxForwardedHops bounds the X-Forwarded-For entries read: a longer
// chain is a forgery or a loop, and the walk stops there.
const maxForwardedHops = 16

// TrustedProxies are the networks (the --trusted-proxy CIDRs) whose
// X-Forwarded-For is believed. The zero value trusts nobody: the client
// address is always the TCP peer's.
type TrustedProxies struct {
	nets []netip.Prefix
}

// ParseTrustedProxies reads CIDRs ("10.0.0.0/8", "fd00::/8") or single
// addresses ("192.0.2.7", a /32 or /128), reporting every bad entry.
func ParseTrustedProxies(cidrs []string) (TrustedProxies, error) {
	var tp TrustedProxies
	var errs []error
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if p, err := netip.ParsePrefix(c); err == nil {
			tp.nets = append(tp.nets, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(c); err == nil {
			a = a.Unmap()
			tp.nets = append(tp.nets, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		errs = append(errs, fmt.Errorf("--trusted-proxy %q: want a CIDR such as 10.0.0.0/8 or an address", c))
	}
	return tp, errors.Join(errs...)
}

// Trusts reports whether addr belongs to a trusted proxy.
func (tp TrustedProxies) Trusts(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range tp.nets {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// Len is the number of trusted networks.
func (tp TrustedProxies) Len() int { return len(tp.nets) }

// ClientAddr returns the address of the request's caller. It is the TCP
// peer, unless the peer is a trusted proxy: then X-Forwarded-For is read
// from the right (the entry the peer itself added) and the first address
// that is not a trusted proxy is the caller. Entries left of it were
// written by whoever the caller is and are never believed. An entry that
// is not an address ends the walk at the last trusted hop, which is then
// the address: nothing a caller writes can pick it.
func (tp TrustedProxies) ClientAddr(r *http.Request) string {
	peer := r.RemoteAddr
	if host, _, err := net.SplitHostPort(peer); err == nil {
		peer = host
	}
	addr, err := netip.ParseAddr(peer)
	if err != nil {
		return peer // not TCP (tests, unix sockets): as given
	}
	addr = addr.Unmap()
	if len(tp.nets) == 0 || !tp.Trusts(addr) {
		return addr.String()
	}
	return tp.walk(addr, r.Header.Values(ForwardedFor)).String()
}

// walk returns the caller's address given a trusted peer and the
// X-Forwarded-For header lines.
func (tp TrustedProxies) walk(peer netip.Addr, lines []string) netip.Addr {
	cur := peer
	hops := 0
	for i := len(lines) - 1; i >= 0; i-- {
		entries := strings.Split(lines[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			if hops++; hops > maxForwardedHops {
				return cur
			}
			a, ok := parseForwarded(entries[j])
			if !ok {
				return cur
			}
			if !tp.Trusts(a) {
				return a
			}
			cur = a
		}
	}
	return cur
}

// parseForwarded reads one X-Forwarded-For entry: an address, possibly
// with a port ("192.0.2.1:443", "[2001:db8::1]:443").
func parseForwarded(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// Middleware is the package Middleware with the client address taken
// through tp.
func (tp TrustedProxies) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(Header)
		if !validID(id) {
			id = NewID()
		}
		w.Header().Set(Header, id)
		next.ServeHTTP(w, r.WithContext(With(r.Context(), Meta{RequestID: id, ClientAddr: tp.ClientAddr(r), UserAgent: UserAgentOf(r.UserAgent())})))
	})
}
