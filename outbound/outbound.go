package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Defaults of Config.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultMaxBytes = 1 << 20
)

// ErrFetch is the one error callers show for any failed fetch: refused
// destination, unreachable host, timeout, redirect, bad status, oversized
// or unreadable body. Errors returned by Get match it with errors.Is; their
// text carries the detail for logs only.
var ErrFetch = errors.New("the remote document could not be fetched")

// ErrDestination is the dial error for a refused address (wrapped in the
// client's *url.Error, and matched by errors.Is).
var ErrDestination = errors.New("outbound: destination address not allowed")

// Config configures a Fetcher. Zero values take the defaults.
type Config struct {
	// Allow lists networks that may be reached although the rules refuse
	// them (operator flag --outbound-allow-cidr).
	Allow []netip.Prefix
	// Timeout bounds a whole request, from dial to the last body byte
	// (default 5 s).
	Timeout time.Duration
	// MaxBytes caps the body Get reads (default 1 MiB).
	MaxBytes int64
	// UserAgent is sent with every request (default "authz").
	UserAgent string
	Logger    *slog.Logger
}

// Fetcher sends outbound requests under the package's rules. It is safe
// for concurrent use.
type Fetcher struct {
	allow    []netip.Prefix
	maxBytes int64
	ua       string
	client   *http.Client
	log      *slog.Logger
}

// New returns a Fetcher.
func New(cfg Config) *Fetcher {
	f := &Fetcher{allow: append([]netip.Prefix(nil), cfg.Allow...), maxBytes: cfg.MaxBytes, ua: cfg.UserAgent, log: cfg.Logger}
	if f.maxBytes <= 0 {
		f.maxBytes = DefaultMaxBytes
	}
	if f.ua == "" {
		f.ua = "authz"
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: f.control}
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            dialer.DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           32,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		ExpectContinueTimeout:  time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	f.client = &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			return fmt.Errorf("redirect to %s refused: outbound requests never follow redirects", redacted(req.URL))
		},
	}
	return f
}

// ParseCIDRs reads the operator's allow list: CIDRs or single addresses
// (a /32 or /128), each entry possibly a comma-separated list.
func ParseCIDRs(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range list {
		for _, s := range strings.Split(item, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			if p, err := netip.ParsePrefix(s); err == nil {
				// Addresses are judged unmapped, so a mapped prefix is
				// stored as the IPv4 prefix it stands for.
				if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
					p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
				}
				out = append(out, p.Masked())
				continue
			}
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR (like 10.20.0.0/16 or fd00::/8) or an IP address", s)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		}
	}
	return out, nil
}

// Client returns the HTTP client that applies the rules, for callers that
// build their own requests (webhook delivery). Its errors are detailed:
// show them only to the operator.
func (f *Fetcher) Client() *http.Client { return f.client }

// Get fetches rawURL (http or https) and returns its body, which must come
// with status 200 and be at most MaxBytes long. Any failure is logged with
// its reason and returned as an error matching ErrFetch.
func (f *Fetcher) Get(ctx context.Context, rawURL, accept string) ([]byte, error) {
	body, err := f.get(ctx, rawURL, accept)
	if err != nil {
		u, _ := url.Parse(rawURL)
		f.log.WarnContext(ctx, "outbound fetch failed", "url", redacted(u), "err", err)
		return nil, fmt.Errorf("%w: %v", ErrFetch, err)
	}
	return body, nil
}

func (f *Fetcher) get(ctx context.Context, rawURL, accept string) ([]byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("not an absolute http(s) URL")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	req.Header.Set("User-Agent", f.ua)
	resp, err := f.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is logged apart, redacted
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("answered HTTP %d", resp.StatusCode)
	}
	if resp.ContentLength > f.maxBytes {
		return nil, fmt.Errorf("body of %d bytes exceeds the %d-byte cap", resp.ContentLength, f.maxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the body: %w", err)
	}
	if int64(len(body)) > f.maxBytes {
		return nil, fmt.Errorf("body exceeds the %d-byte cap", f.maxBytes)
	}
	return body, nil
}

// control runs after DNS resolution, for every address the dialer tries:
// the one place where the destination is known for certain.
func (f *Fetcher) control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: %q is not an IP address and port", ErrDestination, address)
	}
	if reason := f.Refused(ap.Addr()); reason != "" {
		return fmt.Errorf("%w: %s is %s; an operator may allow it with --outbound-allow-cidr", ErrDestination, ap.Addr(), reason)
	}
	return nil
}

// Refused returns why ip may not be reached ("loopback", "private", ...),
// or "" when it may.
func (f *Fetcher) Refused(ip netip.Addr) string {
	ip = ip.Unmap()
	for _, p := range f.allow {
		if p.Contains(ip) {
			return ""
		}
	}
	return refusal(ip)
}

// blockedPrefixes are special ranges that netip's predicates do not name.
var blockedPrefixes = []struct {
	p      netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "'this network' (0.0.0.0/8)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (100.64.0.0/10)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments (192.0.0.0/24)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking (198.18.0.0/15)"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved (240.0.0.0/4)"},
	{netip.MustParsePrefix("64:ff9b::/96"), "NAT64 (64:ff9b::/96)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "NAT64 (64:ff9b:1::/48)"},
	{netip.MustParsePrefix("2002::/16"), "6to4 (2002::/16)"},
	{netip.MustParsePrefix("100::/64"), "discard-only (100::/64)"},
}

func refusal(ip netip.Addr) string {
	switch {
	case !ip.IsValid():
		return "not an address"
	case ip.IsLoopback():
		return "loopback"
	case ip.IsUnspecified():
		return "unspecified"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast():
		return "multicast"
	case ip.Is4() && ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	for _, b := range blockedPrefixes {
		if b.p.Contains(ip) {
			return b.reason
		}
	}
	return ""
}

// redacted is u without user information, query or fragment, where
// tokens travel.
func redacted(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment, c.RawFragment = nil, "", false, "", ""
	return c.String()
}
