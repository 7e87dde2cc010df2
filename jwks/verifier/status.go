package verifier

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authz/authz/statuslist"
)

// Defaults of StatusListConfig.
const (
	// DefaultStatusListMaxStale is how long past its freshness a cached
	// status list keeps deciding while it cannot be refreshed (never past
	// its exp).
	DefaultStatusListMaxStale = 5 * time.Minute
	// DefaultStatusListTTL applies to a list that has neither a ttl claim
	// nor a Cache-Control max-age.
	DefaultStatusListTTL = 30 * time.Second
	// DefaultStatusListMinRefresh bounds fetches of one list: no refetch
	// for an index beyond a list younger than this, no two successful
	// fetches within half of it, and retries after failures from an
	// eighth of it, doubling up to eight times it. It is also the
	// shortest freshness a list is given.
	DefaultStatusListMinRefresh = time.Second
	// DefaultStatusListMaxSize bounds a Status List Token's size.
	DefaultStatusListMaxSize = 4 << 20
	// DefaultStatusListTimeout bounds one fetch.
	DefaultStatusListTimeout = 5 * time.Second
	// maxStatusLists bounds the lists a verifier caches. authz publishes
	// one; the bound only keeps a misbehaving issuer from growing the map.
	maxStatusLists = 64
)

// StatusListConfig configures the Token Status List check
// (draft-ietf-oauth-status-list) that Verify applies to every token with
// a status claim. Tokens without one pass it (issuers without lists).
type StatusListConfig struct {
	// Disabled turns the check off: status claims are ignored, and a
	// suspended owner's token is accepted until it expires. Only for
	// issuers that publish no lists.
	Disabled bool
	// MaxStale is how long past its freshness (min of ttl, max-age and
	// exp) a cached list keeps deciding while the issuer cannot be
	// reached, never past the list's exp (default 5 min). After that,
	// Verify fails with ReasonUnavailable: a status that cannot be known
	// is never taken for VALID.
	MaxStale time.Duration
	// MinRefreshInterval: no refetch for an index beyond a list younger
	// than this, no two fetches within half of it after a success; after
	// failures, retries from an eighth of it, doubling up to eight times
	// it (a blip costs a fraction of a second, an outage few requests);
	// also the shortest freshness given to a list (default 1 s).
	MinRefreshInterval time.Duration
	// DefaultTTL is the freshness of a list with neither a ttl claim nor
	// a Cache-Control max-age (default 30 s).
	DefaultTTL time.Duration
	// MaxSize bounds a Status List Token in bytes (default 4 MiB).
	MaxSize int
	// Timeout bounds one fetch (default 5 s).
	Timeout time.Duration
}

// StatusError is the cause carried by the *Error (ReasonStatus) that
// refuses a token whose status, read from its status list, is not VALID.
type StatusError struct {
	Status statuslist.Status
}

func (e *StatusError) Error() string { return "token status " + e.Status.String() }

// Refusals of the status check. They are shared values: the warm path
// allocates nothing, refusals included.
var (
	errStatusSuspended = &Error{Reason: ReasonStatus, Err: &StatusError{Status: statuslist.Suspended},
		Detail: "The token status is suspended: the token's client, owner or tenant is suspended. Obtain a new token once it is resumed."}
	errStatusInvalid = &Error{Reason: ReasonStatus, Err: &StatusError{Status: statuslist.Invalid},
		Detail: "The token status is invalid: the token or its credential was revoked. Obtain a new token."}
	errStatusForeign = &Error{Reason: ReasonStatus,
		Detail: "The token's status list is not on its issuer's origin; it is not fetched."}
	errStatusIssuer = &Error{Reason: ReasonStatus,
		Detail: "The token's status list was issued by another issuer than the token."}
	errStatusBeyond = &Error{Reason: ReasonStatus, Err: statuslist.ErrOutOfRange,
		Detail: "The token status is not in its issuer's status list yet; retry in a few seconds."}
)

// statusLists is the Token Status List check: a cache of the issuer's
// lists, one per uri, each refreshed in the background from half its
// freshness and fetched at most once at a time.
//
// The warm path — a token whose list is cached and fresh — is an atomic
// load of the list entry (a map lookup only with several lists), an
// atomic load of its snapshot, two time comparisons and a bit read: no
// lock, no allocation.
type statusLists struct {
	origin      string // scheme://host:port of the issuer (or of the JWKS)
	verify      func(ctx context.Context, token string) ([]byte, error)
	issuer      string // the list's iss must be this, when set
	client      *http.Client
	now         func() time.Time
	leeway      time.Duration
	maxStale    time.Duration
	minInterval time.Duration
	defaultTTL  time.Duration
	maxSize     int
	timeout     time.Duration
	log         *slog.Logger
	metrics     *statusMetrics
	life        context.Context
	// onKids receives the jwks_kids of every list fetched, with its iat
	// (remoteKeySet.applyListed); nil: ignored.
	onKids func(kids []string, iat int64)

	// lists is replaced whole (copy on write) under mu.
	lists atomic.Pointer[map[string]*statusList]
	// last is the list most recently added: with one list (authz
	// publishes one), the warm path compares a string instead of hashing
	// it for the map.
	last atomic.Pointer[statusList]

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// statusList is one list uri.
type statusList struct {
	uri string
	cur atomic.Pointer[listSnapshot]

	mu        sync.Mutex
	inflight  chan struct{} // closed when the fetch in flight ends
	lastStart time.Time     // of the last fetch (rate limit)
	lastErr   error         // of the last fetch
	failures  int           // consecutive failed fetches
}

// listSnapshot is one fetched list, immutable but for its two flags.
type listSnapshot struct {
	list *statuslist.List
	n    int64 // list.Len()
	iss  string
	etag string
	ttl  time.Duration // the ttl claim, 0 if none
	exp  time.Time     // the exp claim, zero if none
	// fetchedAt (or revalidated at, after a 304); refreshAt is when the
	// warm path starts a background refresh; freshUntil when a check
	// must wait for a fresh list; usableUntil when the list may no longer
	// decide at all.
	fetchedAt, refreshAt, freshUntil, usableUntil time.Time

	background atomic.Bool // a background refresh was started for it
}

func newStatusLists(cfg StatusListConfig, origin, issuer string, client *http.Client, now func() time.Time,
	leeway time.Duration, verify func(context.Context, string) ([]byte, error), m *statusMetrics, log *slog.Logger, life context.Context) *statusLists {
	// A token names the list; the list must come from the issuer, so
	// redirects (which could lead anywhere) are not followed.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s := &statusLists{
		origin:      origin,
		verify:      verify,
		issuer:      issuer,
		client:      &c,
		now:         now,
		leeway:      leeway,
		maxStale:    orDefault(cfg.MaxStale, DefaultStatusListMaxStale),
		minInterval: orDefault(cfg.MinRefreshInterval, DefaultStatusListMinRefresh),
		defaultTTL:  orDefault(cfg.DefaultTTL, DefaultStatusListTTL),
		maxSize:     orDefault(cfg.MaxSize, DefaultStatusListMaxSize),
		timeout:     orDefault(cfg.Timeout, DefaultStatusListTimeout),
		log:         log,
		metrics:     m,
		life:        life,
	}
	empty := map[string]*statusList{}
	s.lists.Store(&empty)
	m.watch(s)
	return s
}

// origin returns scheme://host:port of an http(s) URL, with the scheme's
// default port made explicit, or "" if u is not one.
func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.User != nil || p.Host == "" || p.Opaque != "" {
		return ""
	}
	scheme := strings.ToLower(p.Scheme)
	port := p.Port()
	switch {
	case scheme == "https" && port == "":
		port = "443"
	case scheme == "http" && port == "":
		port = "80"
	case scheme != "https" && scheme != "http":
		return ""
	}
	return scheme + "://" + strings.ToLower(p.Hostname()) + ":" + port
}

// check decides the status of c at now. It returns nil for a token
// without a status claim and for a VALID entry.
func (s *statusLists) check(ctx context.Context, c *Claims, now time.Time) error {
	ref := c.Status
	if ref == nil {
		return nil
	}
	l := s.last.Load()
	if l == nil || l.uri != ref.URI {
		l = (*s.lists.Load())[ref.URI]
	}
	if l != nil {
		if snap := l.cur.Load(); snap != nil {
			if now.Before(snap.freshUntil) && ref.Idx < snap.n {
				if !now.Before(snap.refreshAt) && snap.background.CompareAndSwap(false, true) {
					s.refresh(nil, l)
				}
				return s.decide(c, snap, ref.Idx)
			}
		}
	}
	return s.checkSlow(ctx, c, ref, l)
}

// checkSlow is check when the list is not cached, no longer fresh, or
// does not cover the index: fetch (or join the fetch in flight), fall
// back on a stale list within its bounds, fail closed beyond them.
func (s *statusLists) checkSlow(ctx context.Context, c *Claims, ref *statuslist.ListReference, l *statusList) error {
	if l == nil {
		var err error
		if l, err = s.list(ref.URI); err != nil {
			return err
		}
	}
	snap := l.cur.Load()
	if snap == nil || !s.now().Before(snap.freshUntil) {
		s.refresh(ctx, l)
		if snap = l.cur.Load(); snap == nil || !s.now().Before(snap.usableUntil) {
			s.metrics.refusal("unavailable")
			return refuse(ReasonUnavailable, "The token's status cannot be checked: the issuer's status list is unavailable. Retry shortly.", l.lastError())
		}
	}
	if ref.Idx >= snap.n {
		// A credential newer than the list: the issuer grows its list
		// as soon as it hands out such an index, so fetch once more
		// (unless the list is that new), then refuse.
		if s.now().Sub(snap.fetchedAt) >= s.minInterval {
			s.refresh(ctx, l)
			if next := l.cur.Load(); s.now().Before(next.usableUntil) {
				snap = next
			}
		}
		if ref.Idx >= snap.n {
			s.metrics.refusal("out_of_range")
			return errStatusBeyond
		}
	}
	return s.decide(c, snap, ref.Idx)
}

// decide reads entry idx (within the list) and refuses anything but VALID.
func (s *statusLists) decide(c *Claims, snap *listSnapshot, idx int64) error {
	// The draft: the list's iss is the referenced token's.
	if c.Issuer != snap.iss {
		s.metrics.refusal("issuer")
		return errStatusIssuer
	}
	st, _ := snap.list.Get(idx)
	switch st {
	case statuslist.Valid:
		return nil
	case statuslist.Suspended:
		s.metrics.refusal("suspended")
		return errStatusSuspended
	case statuslist.Invalid:
		s.metrics.refusal("invalid")
		return errStatusInvalid
	}
	s.metrics.refusal("other")
	return &Error{Reason: ReasonStatus, Err: &StatusError{Status: st},
		Detail: fmt.Sprintf("The token status is %s, not valid.", st)}
}

// list returns the cache entry of uri, creating it if uri is on the
// issuer's origin: a token never makes the verifier fetch anything else.
func (s *statusLists) list(uri string) (*statusList, error) {
	if origin(uri) != s.origin || s.origin == "" {
		s.metrics.refusal("foreign_uri")
		return nil, errStatusForeign
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := *s.lists.Load()
	if l := cur[uri]; l != nil {
		return l, nil
	}
	if len(cur) >= maxStatusLists {
		s.log.Error("status lists: too many lists; refusing tokens of a new one", "uri", uri, "max", maxStatusLists)
		return nil, refuse(ReasonUnavailable, "The token's status cannot be checked: the issuer uses too many status lists.", nil)
	}
	next := make(map[string]*statusList, len(cur)+1)
	for k, v := range cur {
		next[k] = v
	}
	l := &statusList{uri: uri}
	next[uri] = l
	s.lists.Store(&next)
	s.last.Store(l)
	return l, nil
}

func (l *statusList) lastError() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastErr
}

// refresh fetches l's list, joining the fetch in flight if there is one,
// unless the last one started too recently (retryPause). With a nil ctx
// it does not wait (a background refresh); otherwise it waits for the
// fetch or ctx.
func (s *statusLists) refresh(ctx context.Context, l *statusList) {
	l.mu.Lock()
	done := l.inflight
	if done == nil {
		now := s.now()
		if !l.lastStart.IsZero() && now.Sub(l.lastStart) < s.retryPause(l.failures) {
			l.mu.Unlock()
			return
		}
		l.lastStart = now
		s.mu.Lock()
		closed := s.closed
		if !closed {
			s.wg.Add(1)
		}
		s.mu.Unlock()
		if closed {
			l.mu.Unlock()
			return
		}
		done = make(chan struct{})
		l.inflight = done
		// The fetch runs on the verifier's lifetime: a caller that gives
		// up must not fail it for the others.
		go s.run(l, done)
	}
	l.mu.Unlock()
	if ctx == nil {
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// retryPause is the least time between the starts of two fetches of one
// list. After a success, half of minInterval: a list is fresh for at
// least minInterval, so this only holds back a list whose exp leaves it
// almost no freshness. After failures, from an eighth of minInterval,
// doubling with each, up to eight times it: the issuer's blips (a
// restart, a list between two builds) cost a fraction of a second, and
// an outage few requests.
func (s *statusLists) retryPause(failures int) time.Duration {
	if failures == 0 {
		return s.minInterval / 2
	}
	return min(s.minInterval/8<<min(failures-1, 6), 8*s.minInterval)
}

func (s *statusLists) run(l *statusList, done chan struct{}) {
	defer s.wg.Done()
	err := s.fetch(l)
	l.mu.Lock()
	l.inflight = nil
	l.lastErr = err
	if err != nil {
		l.failures++
	} else {
		l.failures = 0
	}
	l.mu.Unlock()
	close(done)
}

// close stops new fetches and waits for those in flight (the verifier's
// lifetime has ended, so they end promptly).
func (s *statusLists) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
}

// fetch gets the list at l.uri (conditionally, when an ETag is known),
// verifies it and installs it.
func (s *statusLists) fetch(l *statusList) error {
	ctx, cancel := context.WithTimeout(s.life, s.timeout)
	defer cancel()
	prev := l.cur.Load()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.uri, nil)
	if err != nil {
		return s.failed(l, "error", err)
	}
	req.Header.Set("Accept", statuslist.MediaType)
	if prev != nil && prev.etag != "" {
		req.Header.Set("If-None-Match", prev.etag)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return s.failed(l, "error", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(s.maxSize)+1))
	now := s.now()
	switch {
	case err != nil:
		return s.failed(l, "error", fmt.Errorf("GET %s: %w", l.uri, err))
	case resp.StatusCode == http.StatusNotModified && prev != nil:
		// The same token: only its freshness is renewed.
		next := s.snapshot(prev.list, prev.iss, prev.etag, prev.ttl, prev.exp, resp.Header, now)
		l.cur.Store(next)
		s.metrics.fetch("not_modified")
		return nil
	case resp.StatusCode != http.StatusOK:
		return s.failed(l, "error", fmt.Errorf("GET %s: status %d", l.uri, resp.StatusCode))
	case len(body) > s.maxSize:
		return s.failed(l, "invalid", fmt.Errorf("GET %s: status list token larger than %d bytes", l.uri, s.maxSize))
	}
	claims, err := s.verify(ctx, string(bytes.TrimSpace(body)))
	if err != nil {
		return s.failed(l, "invalid", fmt.Errorf("status list token from %s: %w", l.uri, err))
	}
	tok, list, err := statuslist.ParseToken(claims, l.uri, s.issuer, now, s.leeway)
	if err != nil {
		return s.failed(l, "invalid", fmt.Errorf("status list token from %s: %w", l.uri, err))
	}
	var exp time.Time
	if tok.Expiry != 0 {
		exp = time.Unix(tok.Expiry, 0)
	}
	// The kids first: a token decided on this list must not pass with a
	// key the list withdraws.
	if s.onKids != nil && tok.JWKSKids != nil {
		s.onKids(tok.JWKSKids, tok.IssuedAt)
	}
	next := s.snapshot(list, tok.Issuer, resp.Header.Get("ETag"), time.Duration(tok.TTL)*time.Second, exp, resp.Header, now)
	l.cur.Store(next)
	s.metrics.fetch("success")
	if prev == nil {
		s.log.Info("status list loaded", "uri", l.uri, "entries", next.n, "fresh_for", next.freshUntil.Sub(now))
	}
	return nil
}

// snapshot computes a fetched list's times: fresh for the least of ttl,
// max-age and what is left until exp (the default without ttl and
// max-age, at least minInterval), refreshed in the background from half
// of that (under traffic, a decision is made on a list at most about
// half a ttl older than the issuer's), and usable while stale for
// maxStale more, never past exp (with the leeway for clock skew).
func (s *statusLists) snapshot(list *statuslist.List, iss, etag string, ttl time.Duration, exp time.Time, h http.Header, now time.Time) *listSnapshot {
	fresh := time.Duration(-1)
	if ttl > 0 {
		fresh = ttl
	}
	if age, ok := maxAge(h.Values("Cache-Control")); ok && (fresh < 0 || age < fresh) {
		fresh = age
	}
	if fresh < 0 {
		fresh = s.defaultTTL
	}
	if !exp.IsZero() {
		fresh = min(fresh, exp.Sub(now))
	}
	fresh = max(fresh, s.minInterval)
	usable := now.Add(fresh + s.maxStale)
	if !exp.IsZero() {
		usable = minTime(usable, exp.Add(s.leeway))
	}
	freshUntil := minTime(now.Add(fresh), usable)
	return &listSnapshot{
		list: list, n: list.Len(), iss: iss, etag: etag, ttl: ttl, exp: exp,
		fetchedAt: now, refreshAt: minTime(now.Add(fresh/2), freshUntil),
		freshUntil: freshUntil, usableUntil: usable,
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (s *statusLists) failed(l *statusList, outcome string, err error) error {
	s.metrics.fetch(outcome)
	if cur := l.cur.Load(); cur != nil {
		s.log.Warn("status list fetch failed; deciding on the cached list while it is usable",
			"uri", l.uri, "usable_until", cur.usableUntil, "err", err)
	} else {
		s.log.Warn("status list fetch failed; tokens referring to it are refused as unavailable", "uri", l.uri, "err", err)
	}
	return err
}

// oldestAge is the age of the oldest cached list (for the age gauge).
func (s *statusLists) oldestAge() float64 {
	var oldest time.Time
	for _, l := range *s.lists.Load() {
		if snap := l.cur.Load(); snap != nil && (oldest.IsZero() || snap.fetchedAt.Before(oldest)) {
			oldest = snap.fetchedAt
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return s.now().Sub(oldest).Seconds()
}

// errNotStatusList: the token fetched as a status list is not one.
var errNotStatusList = errors.New("typ is not " + statuslist.TokenType)
