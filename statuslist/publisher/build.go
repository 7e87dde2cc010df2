package publisher

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/authz/authz/statuslist"
	"github.com/authz/authz/store"
)

// bits is the size of an entry: VALID, INVALID and SUSPENDED need two.
const bits = 2

// published is a signed Status List Token ready to serve.
type published struct {
	token, gzipped []byte
	etag, gzETag   string
	lst            string
	gen            int64
	kids           []string // the JWKS kids the token names (jwks_kids)
	iat, exp       time.Time
}

// capacityFor is the size of a list holding indices below n: a quarter
// more (at least 8192) for indices allocated before the next build, in
// whole blocks of 8192 entries (2 KiB at 2 bits).
func capacityFor(n int64) int64 {
	const block = 8192
	c := n + max(n/4, block)
	return (c + block - 1) / block * block
}

// Refresh rebuilds and, if anything changed, re-signs the list now.
func (p *Publisher) Refresh(ctx context.Context) error {
	gen, err := p.st.Generation(ctx)
	if err != nil {
		return err
	}
	return p.rebuild(ctx, gen)
}

// rebuild decides the status of every entry that may not be VALID and
// publishes the list. gen is the generation read before the store was
// read: a change committed meanwhile moves the generation past gen and
// brings another rebuild.
//
// Most builds read only the exceptions (store.ListStatusExceptions), which
// costs in proportion to what is not active rather than to the list. Every
// FullScanInterval, and until one has succeeded, a build reads every entry
// instead (scanAll): it finds the epochs of credentials that died, ends
// them (see over), and so vouches for the condition the exceptions query
// relies on for everything that died before it.
func (p *Publisher) rebuild(ctx context.Context, gen int64) (err error) {
	p.buildMu.Lock()
	defer p.buildMu.Unlock()
	start := time.Now()
	defer func() {
		if err != nil {
			p.m.builds.WithLabelValues("failed").Inc()
		}
	}()
	now := p.now()
	b := p.newBuild(now)
	full := p.fullAt.IsZero() || now.Sub(p.fullAt) >= p.cfg.FullScanInterval
	var count int64
	kind := "exceptions"
	if full {
		kind = "full"
		count, err = p.scanAll(ctx, b)
	} else {
		count, err = p.scanExceptions(ctx, b)
	}
	if err != nil {
		return err
	}
	p.m.scans.WithLabelValues(kind).Inc()
	size := capacityFor(b.top + 1)
	l, err := statuslist.New(bits, size)
	if err != nil {
		return err
	}
	for _, m := range b.marks {
		if err := l.Set(m.idx, m.st); err != nil {
			return err
		}
	}
	lst, err := l.Encode()
	if err != nil {
		return err
	}
	p.capacity.Store(size)
	p.scannedAt, p.nextChange = now, b.next
	b.counts[statuslist.Valid] = float64(count) - b.counts[statuslist.Invalid] - b.counts[statuslist.Suspended]
	for st, n := range b.counts {
		p.m.entries.WithLabelValues(statuslist.Status(st).String()).Set(n)
	}
	ended := p.endEpochs(ctx, now, b.overs)
	if ended != nil {
		// They stay INVALID; the next build tries again.
		p.cfg.Logger.Warn("status list: ending epochs of dead credentials failed", "err", ended)
	}
	if full && ended == nil && !b.truncated {
		p.fullAt = now
	}

	// Keep serving the same token while nothing changed, so that ETags
	// hold and gateways get 304s; re-sign when the content or the
	// generation (signing keys are part of it) moved, when it would expire
	// before the next rescan surely re-signs it, or when its key is no
	// longer published.
	kids := p.publishedKids(ctx, gen)
	if cur := p.cur.Load(); cur != nil && cur.lst == lst && cur.gen == gen && slices.Equal(cur.kids, kids) && now.Before(cur.iat.Add(p.cfg.resignAfter())) {
		if _, _, err := p.keys.Verify(ctx, string(cur.token), statuslist.TokenType); err == nil {
			p.m.builds.WithLabelValues("unchanged").Inc()
			p.m.duration.Observe(time.Since(start).Seconds())
			return nil
		}
	}
	iat := now.Truncate(time.Second)
	claims := statuslist.Token{
		Issuer:     p.cfg.Issuer,
		Subject:    p.uri,
		IssuedAt:   iat.Unix(),
		Expiry:     iat.Add(p.cfg.Validity).Unix(),
		TTL:        int64(p.cfg.TTL / time.Second),
		StatusList: statuslist.Encoded{Bits: bits, Lst: lst},
		JWKSKids:   kids,
	}
	tok, err := p.keys.Sign(ctx, claims, statuslist.TokenType)
	if err != nil {
		return fmt.Errorf("statuslist: sign: %w", err)
	}
	pub, err := newPublished(tok, lst, gen, iat, iat.Add(p.cfg.Validity))
	if err != nil {
		return err
	}
	pub.kids = kids
	p.cur.Store(pub)
	p.m.builds.WithLabelValues("published").Inc()
	p.m.duration.Observe(time.Since(start).Seconds())
	p.m.size.Set(float64(len(tok)))
	p.cfg.Logger.Debug("status list published", "entries", count, "capacity", size, "full", full,
		"invalid", b.counts[statuslist.Invalid], "suspended", b.counts[statuslist.Suspended], "took", time.Since(start))
	return nil
}

// kidLister is implemented by keys that can say which kids their JWKS
// publishes (jwks.Manager); reloader by keys that can re-read the store.
type (
	kidLister interface{ PublishedKids() []string }
	reloader  interface {
		Reload(ctx context.Context) error
	}
)

// publishedKids returns the kids the list names, nil if the keys cannot
// say. When the generation moved since the served list (a signing key may
// have been withdrawn on any replica), the keys are re-read first: this
// build may run before the key manager's own reload, and a list naming a
// withdrawn kid would keep it alive at gateways until the next re-sign.
func (p *Publisher) publishedKids(ctx context.Context, gen int64) []string {
	kl, ok := p.keys.(kidLister)
	if !ok {
		return nil
	}
	if r, ok := p.keys.(reloader); ok {
		if cur := p.cur.Load(); cur == nil || cur.gen != gen {
			if err := r.Reload(ctx); err != nil {
				p.cfg.Logger.Warn("status list: reloading signing keys failed; naming the kids last loaded", "err", err)
			}
		}
	}
	return kl.PublishedKids()
}

// build is what one rebuild gathers from the entries it reads.
type build struct {
	now         time.Time
	retireAfter time.Duration
	marks       []mark // the entries that are not VALID
	// overs are current epochs that can never issue again, to be ended;
	// truncated, that there were more than maxEndPerBuild of them.
	overs     map[int64]string
	truncated bool
	counts    [3]float64
	top       int64
	// next is the earliest moment the list changes by time alone: a key
	// expires, or an ended epoch retires.
	next time.Time
}

type mark struct {
	idx int64
	st  statuslist.Status
}

func (p *Publisher) newBuild(now time.Time) *build {
	return &build{now: now, retireAfter: p.cfg.retireAfter(), overs: make(map[int64]string), top: -1}
}

func (b *build) soon(t time.Time) {
	if t.After(b.now) && (b.next.IsZero() || t.Before(b.next)) {
		b.next = t
	}
}

// visit decides one entry.
func (p *Publisher) visit(b *build, e store.StatusEntry) {
	st := Decide(e, b.now, b.retireAfter)
	if st != statuslist.Valid {
		b.marks = append(b.marks, mark{e.Idx, st})
		b.counts[st]++
	}
	if over(e, b.now) {
		if len(b.overs) < p.maxEnd {
			b.overs[e.Idx] = e.Credential
		} else {
			b.truncated = true
		}
	}
	if e.InvalidatedAt != nil {
		p.forget(e.Credential, e.Idx)
		b.soon(e.InvalidatedAt.Add(b.retireAfter + time.Second))
	} else if e.CredentialExpiresAt != nil {
		b.soon(*e.CredentialExpiresAt)
	}
	b.top = max(b.top, e.Idx)
}

// scanAll reads every entry, in pages, and returns how many there are.
func (p *Publisher) scanAll(ctx context.Context, b *build) (int64, error) {
	var n int64
	for after := int64(-1); ; {
		page, err := p.st.ListStatusEntries(ctx, after, p.cfg.PageSize)
		if err != nil {
			return 0, fmt.Errorf("statuslist: list entries: %w", err)
		}
		for _, e := range page {
			p.visit(b, e)
		}
		n += int64(len(page))
		if len(page) < p.cfg.PageSize {
			return n, nil
		}
		after = page[len(page)-1].Idx
	}
}

// scanExceptions reads the entries that may not be VALID and returns how
// many entries there are. It may skip the current entries of keys revoked
// or expired, and of owners deleted, before the last full build: that
// build ended their epochs (an ended epoch is always read), and a new
// index for such a credential can only be allocated by a request that
// passed its checks before the credential died, within exceptionsMargin.
func (p *Publisher) scanExceptions(ctx context.Context, b *build) (int64, error) {
	// An expiry beyond the next rescan is found by that rescan.
	horizon := b.now.Add(p.cfg.RescanInterval)
	x, err := p.st.ListStatusExceptions(ctx, b.now, p.fullAt.Add(-exceptionsMargin), horizon, func(e store.StatusEntry) error {
		p.visit(b, e)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("statuslist: list exceptions: %w", err)
	}
	b.top = max(b.top, x.Top)
	if x.NextExpiry != nil {
		b.soon(*x.NextExpiry)
	}
	return x.Count, nil
}

// exceptionsMargin is how far before the last full build scanExceptions
// still looks for credentials that died: longer than any request takes
// between checking a credential (on a cache that follows the store within
// seconds) and allocating its index, plus the clocks' skew.
const exceptionsMargin = 5*time.Minute + clockSkew

// maxEndPerBuild bounds the epochs one build ends (and so its writes); the
// rest wait for the next build.
const maxEndPerBuild = 10_000

// endEpochs ends the current epochs of credentials that can never issue a
// token again (see over), so that their indices retire and are reclaimed.
// Their status stays INVALID until then. An epoch is ended only if it is
// still the one the build saw, in batches of a bounded transaction size.
func (p *Publisher) endEpochs(ctx context.Context, now time.Time, epochs map[int64]string) error {
	const batch = 1000
	idxs := slices.Sorted(maps.Keys(epochs))
	for len(idxs) > 0 {
		n, done := min(batch, len(idxs)), 0
		err := p.st.Tx(ctx, func(tx store.Tx) error {
			for _, idx := range idxs[:n] {
				cred := epochs[idx]
				cur, err := tx.GetStatusIndex(ctx, cred)
				if errors.Is(err, store.ErrNotFound) || (err == nil && cur != idx) {
					continue
				}
				if err != nil {
					return err
				}
				if err := tx.InvalidateStatusIndex(ctx, cred, now); err != nil {
					return err
				}
				done++
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("statuslist: end epochs: %w", err)
		}
		p.m.ended.Add(float64(done))
		idxs = idxs[n:]
	}
	return nil
}

func newPublished(tok, lst string, gen int64, iat, exp time.Time) (*published, error) {
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write([]byte(tok)); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(tok))
	tag := base64.RawURLEncoding.EncodeToString(sum[:12])
	return &published{
		token: []byte(tok), gzipped: gz.Bytes(),
		// Strong validators differ between content codings (RFC 9110
		// §8.8.3).
		etag: `"` + tag + `"`, gzETag: `"` + tag + `-gzip"`,
		lst: lst, gen: gen, iat: iat, exp: exp,
	}, nil
}

// Run keeps the list current until ctx ends: it rebuilds when
// store.Generation moves (pushed by the store where it can, polled
// otherwise), when this process commits a change, when an index beyond the
// list was allocated, when a key expires or an ended epoch retires, and
// every RescanInterval; at most once per
// MinRebuildInterval. It also purges indices whose epochs ended long ago.
func (p *Publisher) Run(ctx context.Context) error {
	changes := p.st.Changes(ctx)
	poll := time.NewTicker(p.cfg.PollInterval)
	defer poll.Stop()
	purge := time.NewTicker(p.cfg.PurgeInterval)
	defer purge.Stop()
	// This replica's own changes are noticed without waiting for a poll:
	// LocalChanges is an atomic read, cheap at this rate.
	local := time.NewTicker(localCheckInterval)
	defer local.Stop()
	// A build held back by MinRebuildInterval runs as soon as it may.
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	if wait := p.step(ctx); wait > 0 {
		retry.Reset(wait)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-changes:
			if !ok {
				changes = nil // the feed ended (reconnecting); polling goes on
				continue
			}
			p.dropClaims()
			p.dirty = true
		case <-p.wake:
		case <-poll.C:
		case <-retry.C:
		case <-local.C:
			if p.st.LocalChanges() == p.local {
				continue
			}
		case <-purge.C:
			if _, err := p.Purge(ctx); err != nil {
				p.cfg.Logger.Warn("status list: purge failed", "err", err)
			}
		}
		if wait := p.step(ctx); wait > 0 {
			retry.Reset(wait)
		}
	}
}

// localCheckInterval is how often Run looks at the store's LocalChanges.
const localCheckInterval = 50 * time.Millisecond

// step rebuilds the list if it is due and the rate limit allows.
//
// It returns how long until a build held back by MinRebuildInterval may
// run (0 if none is pending).
func (p *Publisher) step(ctx context.Context) time.Duration {
	gen, err := p.st.Generation(ctx)
	if err != nil {
		p.cfg.Logger.Debug("status list: generation check failed", "err", err)
		return 0
	}
	if !p.genKnown || gen != p.gen {
		p.gen, p.genKnown = gen, true
		p.dropClaims()
		p.dirty = true
	}
	if lc := p.st.LocalChanges(); lc != p.local {
		p.local = lc
		p.dirty = true
	}
	p.buildMu.Lock()
	now := p.now()
	stale := now.Sub(p.scannedAt) >= p.cfg.RescanInterval || (!p.nextChange.IsZero() && !now.Before(p.nextChange))
	p.buildMu.Unlock()
	if !p.dirty && !stale && !p.grow.Load() && p.cur.Load() != nil {
		return 0
	}
	if !p.lastBuild.IsZero() {
		if since := p.since(p.lastBuild); since < p.cfg.MinRebuildInterval {
			return p.cfg.MinRebuildInterval - since
		}
	}
	p.lastBuild = time.Now()
	p.dirty = false
	p.grow.Store(false)
	if err := p.rebuild(ctx, gen); err != nil {
		p.dirty = true
		p.cfg.Logger.Warn("status list: rebuild failed; serving the previous list until it expires", "err", err)
	}
	return 0
}

// Purge frees the indices of epochs that ended long enough ago that no
// unexpired token and no unexpired list still refers to them as theirs,
// so that new credentials reuse them and the list stays small.
func (p *Publisher) Purge(ctx context.Context) (int64, error) {
	n, err := p.st.PurgeStatusEntries(ctx, p.now().Add(-p.cfg.purgeAfter()))
	if err != nil {
		return 0, err
	}
	p.m.purged.Add(float64(n))
	return n, nil
}
