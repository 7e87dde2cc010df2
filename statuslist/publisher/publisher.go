package publisher

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authz/authz/statuslist"
	"github.com/authz/authz/store"
)

// Publisher hands out status claims (oauth.StatusLists) and builds and
// serves the Status List Token. It is safe for concurrent use; Run keeps
// it current.
type Publisher struct {
	st   store.Store
	keys Keys
	cfg  Config
	uri  string

	claims atomic.Pointer[claimCache]
	// alloc gives credentials their first index, first uses arriving
	// together in one commit.
	alloc *allocator

	// cur is the signed list being served; nil until the first build.
	cur atomic.Pointer[published]
	// capacity is the number of entries of the last list built. An index
	// at or beyond it asks Run for a rebuild, so that the list covers it
	// before gateways meet it.
	capacity atomic.Int64
	grow     atomic.Bool
	wake     chan struct{}

	// buildMu serialises builds; the fields below it belong to the
	// builder.
	buildMu   sync.Mutex
	scannedAt time.Time // injected clock: when the last build read the store
	// nextChange is when the list next changes by time alone (a key's
	// expiry, an epoch's retirement); zero if never.
	nextChange time.Time
	// fullAt is when the last build that read every entry and ended every
	// dead epoch it found began (injected clock); zero before the first.
	fullAt time.Time
	// maxEnd is maxEndPerBuild, which tests lower.
	maxEnd int

	// Run's own state.
	gen       int64
	genKnown  bool
	local     uint64
	dirty     bool
	lastBuild time.Time // wall clock: rate limit of rebuilds
	since     func(time.Time) time.Duration

	m *metrics
}

// claimCache is one generation's credential → status claim map. It is
// replaced whole, so a load that began before a change can only write into
// the discarded map.
type claimCache struct {
	mu    sync.RWMutex
	m     map[string]*statuslist.Reference
	local uint64    // the store's LocalChanges when the map began
	born  time.Time // injected clock
}

// New returns a Publisher over st that signs with keys. Call Run to build
// and keep the list current; until the first build the list answers 503,
// and status claims are read from the store.
func New(st store.Store, keys Keys, cfg Config) (*Publisher, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if st == nil || keys == nil {
		return nil, errors.New("statuslist: store and keys are required")
	}
	p := &Publisher{
		st: st, keys: keys, cfg: cfg, uri: cfg.Issuer + PathList,
		wake: make(chan struct{}, 1), since: time.Since, maxEnd: maxEndPerBuild,
		m: newMetrics(cfg.Registerer),
	}
	p.alloc = newAllocator(st, p.now, p.m.allocBatch)
	p.claims.Store(p.newClaimCache())
	return p, nil
}

// URI is the list's URI: the uri of every status claim and the sub of the
// Status List Token.
func (p *Publisher) URI() string { return p.uri }

func (p *Publisher) now() time.Time { return p.cfg.Now() }

func (p *Publisher) newClaimCache() *claimCache {
	return &claimCache{m: make(map[string]*statuslist.Reference), local: p.st.LocalChanges(), born: p.now()}
}

// cache returns the claim map, replacing it first when this process
// committed a change (an invalidation here must never hand out the old
// index again, not even once) or when it is older than ClaimCacheMaxAge.
func (p *Publisher) cache() *claimCache {
	c := p.claims.Load()
	if c.local != p.st.LocalChanges() || p.now().Sub(c.born) > p.cfg.ClaimCacheMaxAge {
		nc := p.newClaimCache()
		if p.claims.CompareAndSwap(c, nc) {
			return nc
		}
		return p.claims.Load()
	}
	return c
}

// dropClaims forgets every cached index: another replica committed a
// change, which may have ended an epoch.
func (p *Publisher) dropClaims() { p.claims.Store(p.newClaimCache()) }

// forget drops credential's cached claim if it still names idx, an index
// whose epoch has ended.
func (p *Publisher) forget(credential string, idx int64) {
	c := p.claims.Load()
	c.mu.RLock()
	ref, ok := c.m[credential]
	c.mu.RUnlock()
	if ok && ref.StatusList.Idx == idx {
		c.mu.Lock()
		delete(c.m, credential)
		c.mu.Unlock()
	}
}

// StatusClaim implements oauth.StatusLists: the "status" claim of a token
// issued to credential ("client:<id>" or "key:<id>"). A cached claim costs
// a map read; otherwise the credential's current index is read, and
// allocated the first time the credential is used (one write per
// credential epoch, never per token; first uses arriving together share
// one commit, see allocator). Storage errors are returned: a token
// without its status is never issued.
//
// The claim returned is shared and must not be modified.
func (p *Publisher) StatusClaim(ctx context.Context, credential string) (any, error) {
	c := p.cache()
	c.mu.RLock()
	ref, ok := c.m[credential]
	c.mu.RUnlock()
	if ok {
		p.m.claimHits.Inc()
		return ref, nil
	}
	p.m.claimMisses.Inc()
	idx, err := p.st.GetStatusIndex(ctx, credential)
	if errors.Is(err, store.ErrNotFound) {
		idx, err = p.alloc.allocate(ctx, credential)
		if err == nil {
			p.m.allocations.Inc()
		}
	}
	if err != nil {
		return nil, err
	}
	if idx >= p.capacity.Load() {
		p.grow.Store(true)
		p.poke()
	}
	ref = &statuslist.Reference{StatusList: &statuslist.ListReference{Idx: idx, URI: p.uri}}
	c.mu.Lock()
	full := len(c.m) >= p.cfg.MaxClaims
	if !full {
		c.m[credential] = ref
	}
	c.mu.Unlock()
	if full {
		p.claims.CompareAndSwap(c, p.newClaimCache())
	}
	return ref, nil
}

// poke asks Run to look at the list now rather than at its next poll.
func (p *Publisher) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}
