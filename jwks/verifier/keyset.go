package verifier

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// keySet is one fetched JWKS, immutable once published.
type keySet struct {
	// keys verify access tokens: raw less the withdrawn kids (see
	// remoteKeySet.withdrawn).
	keys map[string]*publicKey
	// raw is the JWKS as fetched; it verifies status lists, so that a
	// list signed by a key newer than the last list can still be read.
	raw       map[string]*publicKey
	fetchedAt time.Time
	// expiresAt is when Cache-Control says the set goes stale.
	expiresAt time.Time
}

// remoteKeySet is the issuer's JWKS as the verifier knows it. The current
// set sits behind an atomic pointer, so the warm path is one load and one
// map lookup. Fetches are coalesced (one in flight at a time, whoever asks)
// and, except for the scheduled refresh, happen at most once per
// minInterval, so a flood of tokens with random kids cannot turn into a
// flood of requests to the issuer.
type remoteKeySet struct {
	url         string
	client      *http.Client
	algs        []string
	now         func() time.Time
	minInterval time.Duration
	defaultTTL  time.Duration
	maxTTL      time.Duration
	maxStale    time.Duration
	timeout     time.Duration
	log         *slog.Logger
	metrics     *metrics
	// life bounds every fetch: it ends when the verifier is closed.
	life context.Context
	// sleep is how the background refresher waits (tests drive it).
	sleep func(ctx context.Context, d time.Duration) bool

	cur atomic.Pointer[keySet]

	// installMu serialises replacing cur (a JWKS fetch, a status list's
	// kids) and guards withdrawn and listedIat. withdrawn are the kids
	// that the newest status list naming kids (statuslist.Token.JWKSKids,
	// signed at listedIat) omits although this verifier had fetched them:
	// the issuer no longer publishes them, whatever a JWKS response (maybe
	// a stale cached one) says. A kid fetched only after that list is not
	// withdrawn by it: a new key is published long before it signs, and
	// the next list names it.
	installMu sync.Mutex
	withdrawn map[string]bool
	listedIat int64

	mu          sync.Mutex
	lastAttempt time.Time
	lastErr     error
	inflight    *fetchCall
}

type fetchCall struct {
	done    chan struct{}
	err     error
	started time.Time // lastAttempt when it began
}

// usable returns the current set if it may still be used: fresh, or stale
// by no more than maxStale (the issuer being unreachable must not stop a
// gateway at once, but a key withdrawn during an outage must not live on
// forever either).
func (r *remoteKeySet) usable(now time.Time) *keySet {
	s := r.cur.Load()
	if s == nil || now.After(s.expiresAt.Add(r.maxStale)) {
		return nil
	}
	return s
}

// lookup returns the key for kid, refreshing the set when it has expired or
// does not know kid (both subject to the refetch rate limit).
func (r *remoteKeySet) lookup(ctx context.Context, kid string) (*publicKey, error) {
	s := r.cur.Load()
	now := r.now()
	refreshed := false
	if s == nil || now.After(s.expiresAt) {
		refreshed = r.refresh(ctx, false)
		s = r.usable(r.now())
		if s == nil {
			return nil, refuse(ReasonUnavailable, "", r.lastError())
		}
	}
	if k := s.keys[kid]; k != nil {
		return k, nil
	}
	if s.raw[kid] != nil {
		return nil, errKeyWithdrawn
	}
	if !refreshed {
		// Whether this call fetched or was held back by the rate limit (a
		// fetch that just ended, for another caller), the set may have
		// changed since s was loaded: look again.
		r.refresh(ctx, false)
		if s = r.usable(r.now()); s == nil {
			return nil, refuse(ReasonUnavailable, "", r.lastError())
		}
		if k := s.keys[kid]; k != nil {
			return k, nil
		}
	}
	return nil, refuse(ReasonUnknownKey, "", nil)
}

// errKeyWithdrawn refuses a token whose kid the JWKS still publishes but
// the issuer's newest status list does not: the key was withdrawn.
var errKeyWithdrawn = &Error{Reason: ReasonUnknownKey,
	Detail: "The token's signing key was withdrawn by its issuer; obtain a new token."}

// lookupRaw returns the key for kid from the JWKS as fetched, withdrawn or
// not: status lists are verified with it (see keySet.raw).
func (r *remoteKeySet) lookupRaw(ctx context.Context, kid string) (*publicKey, error) {
	k, err := r.lookup(ctx, kid) // refreshes the set as an access token would
	if err == nil {
		return k, nil
	}
	if s := r.usable(r.now()); s != nil && s.raw[kid] != nil {
		return s.raw[kid], nil
	}
	return nil, err
}

// applyListed takes the kids named by a status list signed at iat: a kid
// this verifier fetched that the list omits is withdrawn — access tokens
// signed with it are refused from now on, whatever this verifier's JWKS
// cache holds — until a later list names it again. A JWKS that differs
// from the list is refetched at once (a new key, or a response that still
// carries the withdrawn one).
func (r *remoteKeySet) applyListed(kids []string, iat int64) {
	r.installMu.Lock()
	if iat < r.listedIat {
		r.installMu.Unlock()
		return
	}
	listed := make(map[string]bool, len(kids))
	for _, k := range kids {
		listed[k] = true
	}
	cur := r.cur.Load()
	withdrawn := map[string]bool{}
	var newly []string
	consider := func(kid string) {
		if !listed[kid] && !withdrawn[kid] {
			withdrawn[kid] = true
			if !r.withdrawn[kid] {
				newly = append(newly, kid)
			}
		}
	}
	for kid := range r.withdrawn {
		consider(kid)
	}
	unknown := false
	if cur != nil {
		for kid := range cur.raw {
			consider(kid)
		}
		for kid := range listed {
			if cur.raw[kid] == nil {
				unknown = true
			}
		}
	}
	r.withdrawn, r.listedIat = withdrawn, iat
	if cur != nil {
		next := *cur
		next.keys = withoutKids(cur.raw, withdrawn)
		r.cur.Store(&next)
	}
	r.installMu.Unlock()
	if len(newly) > 0 {
		slices.Sort(newly)
		r.log.Warn("signing keys withdrawn by the issuer's status list; their tokens are refused", "jwks_uri", r.url, "kids", newly)
	}
	if len(newly) > 0 || unknown {
		go r.refresh(r.life, len(newly) > 0)
	}
}

// withoutKids is raw less the withdrawn kids.
func withoutKids(raw map[string]*publicKey, withdrawn map[string]bool) map[string]*publicKey {
	if len(withdrawn) == 0 {
		return raw
	}
	out := make(map[string]*publicKey, len(raw))
	for kid, k := range raw {
		if !withdrawn[kid] {
			out[kid] = k
		}
	}
	return out
}

func (r *remoteKeySet) lastError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// refresh fetches the set unless a fetch was attempted less than
// minInterval ago (force skips that check), joining a fetch already in
// flight. It waits for the fetch or for ctx, and reports whether a fetch
// took place (successful or not) on this call's behalf.
//
// A fetch in flight that began minInterval or more before this call does
// not stand for it: its response may predate a key published since (the
// token naming that key), and the rate limit would have let this call
// fetch anew. Once it ends, this call fetches again (or joins a newer
// fetch), rather than refuse a new key on an old answer.
func (r *remoteKeySet) refresh(ctx context.Context, force bool) bool {
	for {
		r.mu.Lock()
		c := r.inflight
		now := r.now()
		if c == nil {
			if !force && !r.lastAttempt.IsZero() && now.Sub(r.lastAttempt) < r.minInterval {
				r.mu.Unlock()
				return false
			}
			r.lastAttempt = now
			c = &fetchCall{done: make(chan struct{}), started: now}
			r.inflight = c
			// The fetch runs on the verifier's lifetime, not the caller's: a
			// caller that gives up must not fail the fetch for the others.
			go r.run(c)
		}
		r.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return true
		}
		if now.Sub(c.started) < r.minInterval {
			return true
		}
	}
}

func (r *remoteKeySet) run(c *fetchCall) {
	err := r.fetch()
	r.mu.Lock()
	r.lastErr = err
	r.inflight = nil
	r.mu.Unlock()
	c.err = err
	close(c.done)
}

func (r *remoteKeySet) fetch() error {
	ctx, cancel := context.WithTimeout(r.life, r.timeout)
	defer cancel()
	body, _, h, err := get(ctx, r.client, r.url)
	if err != nil {
		r.metrics.fetch(false)
		r.log.Warn("jwks fetch failed; serving the cached key set", "jwks_uri", r.url, "err", err)
		return err
	}
	keys, err := parseJWKS(body, r.algs)
	if err != nil {
		r.metrics.fetch(false)
		r.log.Error("jwks refused; serving the cached key set", "jwks_uri", r.url, "err", err)
		return err
	}
	// A key that is still published keeps its identity across fetches, so
	// that verifications cached against it stay valid (see verifiedCache).
	if prev := r.cur.Load(); prev != nil {
		for kid, k := range keys {
			if old := prev.raw[kid]; old != nil && old.equal(k) {
				keys[kid] = old
			}
		}
	}
	now := r.now()
	r.installMu.Lock()
	next := &keySet{keys: withoutKids(keys, r.withdrawn), raw: keys, fetchedAt: now, expiresAt: now.Add(r.ttl(h))}
	prev := r.cur.Swap(next)
	r.installMu.Unlock()
	r.metrics.fetch(true)
	r.metrics.keys(len(keys), now)
	if prev == nil || !sameKids(prev.keys, keys) {
		r.log.Info("jwks loaded", "jwks_uri", r.url, "kids", slices.Sorted(maps.Keys(keys)), "ttl", next.expiresAt.Sub(now))
	}
	return nil
}

func sameKids(a, b map[string]*publicKey) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

// ttl is how long a fetched set stays fresh: the response's max-age,
// clamped to [minInterval, maxTTL]. no-store, no-cache or max-age=0 mean
// "revalidate", which for a key set is the minimum interval, not every
// request. Without Cache-Control the default applies.
func (r *remoteKeySet) ttl(h http.Header) time.Duration {
	d, ok := maxAge(h.Values("Cache-Control"))
	if !ok {
		d = r.defaultTTL
	}
	return min(max(d, r.minInterval), r.maxTTL)
}

// maxAge extracts the freshness lifetime from Cache-Control values.
func maxAge(values []string) (time.Duration, bool) {
	found := false
	var age time.Duration
	for _, v := range values {
		for _, dir := range strings.Split(v, ",") {
			name, arg, _ := strings.Cut(strings.TrimSpace(dir), "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				return 0, true
			case "max-age":
				n, err := strconv.ParseInt(strings.Trim(arg, `"`), 10, 64)
				if err != nil || n < 0 {
					continue
				}
				age, found = time.Duration(min(n, int64(365*24*3600)))*time.Second, true
			}
		}
	}
	return age, found
}

// background refreshes the set before it goes stale, so that the request
// path rarely waits for a fetch. It retries a failed fetch every
// minInterval and stops when the verifier's lifetime ends.
func (r *remoteKeySet) background(done chan<- struct{}) {
	defer close(done)
	for r.sleep(r.life, r.nextRefresh()) {
		r.refresh(r.life, true)
	}
}

// sleep waits for d; it reports false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// nextRefresh schedules the next background fetch at three quarters of
// the set's lifetime.
func (r *remoteKeySet) nextRefresh() time.Duration {
	s := r.cur.Load()
	if s == nil || r.lastError() != nil {
		return r.minInterval
	}
	d := s.fetchedAt.Add(s.expiresAt.Sub(s.fetchedAt) * 3 / 4).Sub(r.now())
	return max(d, time.Second)
}
