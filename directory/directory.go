package directory

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/authz/authz/store"
)

// Config tunes a Directory. Zero values take the defaults.
type Config struct {
	// PollInterval is how often the generation is read (default 250 ms).
	PollInterval time.Duration
	// MaxStaleness: when the generation has not been confirmed for this
	// long (default 750 ms), reads bypass the cache. PollInterval plus
	// MaxStaleness bounds how late a change is seen, and stays under 1 s.
	MaxStaleness time.Duration
	// MaxEntries bounds the cache; it is dropped whole when exceeded
	// (default 100,000).
	MaxEntries int
	Registerer prometheus.Registerer
	Logger     *slog.Logger
	Now        func() time.Time
}

// Directory implements the reads of legacykeys.Lookup and the client path
// with caching. It is safe for concurrent use.
type Directory struct {
	st  store.Store
	cfg Config

	cur       atomic.Pointer[snapshot]
	gen       atomic.Int64
	local     atomic.Uint64 // the store's LocalChanges when the snapshot began
	confirmed atomic.Int64  // unix nanos of the last successful generation check

	hits, misses, bypass prometheus.Counter
	flushes              prometheus.Counter
}

// snapshot is one generation's cache. A flush replaces the whole snapshot,
// so a slow load that started before a change can only ever write into the
// discarded one: no stale entry survives a flush.
type snapshot struct {
	mu      sync.RWMutex
	entries map[key]entry
}

type kind uint8

const (
	kindTenant kind = iota
	kindPrincipal
	kindClient
	kindKeyHash
	kindRoles
	kindAudience
	kindSCIMToken
	kindSCIMTokenID
)

type key struct {
	kind kind
	id   string
}

type entry struct {
	val any
	err error // store.ErrNotFound is cached too: unknown ids are as common as known ones
}

// New returns a Directory over st. Call Run to keep it fresh; until Run has
// confirmed a generation, every read goes to the store.
func New(st store.Store, cfg Config) *Directory {
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 250 * time.Millisecond
	}
	if cfg.MaxStaleness <= 0 {
		cfg.MaxStaleness = 750 * time.Millisecond
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100_000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &Directory{st: st, cfg: cfg}
	d.cur.Store(newSnapshot())
	d.hits = prometheus.NewCounter(prometheus.CounterOpts{Name: "authz_directory_hits_total", Help: "Hot-path reads answered from the cache."})
	d.misses = prometheus.NewCounter(prometheus.CounterOpts{Name: "authz_directory_misses_total", Help: "Hot-path reads that went to the store."})
	d.bypass = prometheus.NewCounter(prometheus.CounterOpts{Name: "authz_directory_bypass_total", Help: "Hot-path reads that skipped the cache because its freshness could not be confirmed."})
	d.flushes = prometheus.NewCounter(prometheus.CounterOpts{Name: "authz_directory_flushes_total", Help: "Times the cache was dropped after a change."})
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(d.hits, d.misses, d.bypass, d.flushes)
	}
	return d
}

func newSnapshot() *snapshot { return &snapshot{entries: make(map[key]entry)} }

// Run keeps the cache coherent until ctx ends: it drops it when the store
// pushes a change and when a poll sees the generation move.
func (d *Directory) Run(ctx context.Context) error {
	changes := d.st.Changes(ctx)
	t := time.NewTicker(d.cfg.PollInterval)
	defer t.Stop()
	d.check(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-changes:
			if !ok {
				changes = nil // the feed ended (reconnecting); polling continues
				continue
			}
			d.Invalidate()
			d.check(ctx)
		case <-t.C:
			d.check(ctx)
		}
	}
}

// check reads the generation and drops the cache if it moved.
func (d *Directory) check(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.PollInterval*2)
	defer cancel()
	g, err := d.st.Generation(ctx)
	if err != nil {
		// Leave confirmed where it was: after MaxStaleness reads bypass the
		// cache, and with the database down they fail as they must.
		d.cfg.Logger.Debug("directory: generation check failed", "err", err)
		return
	}
	if old := d.gen.Swap(g); old != g {
		d.Invalidate()
	}
	d.confirmed.Store(d.cfg.Now().UnixNano())
}

// Invalidate drops everything cached.
func (d *Directory) Invalidate() {
	d.cur.Store(newSnapshot())
	d.flushes.Inc()
}

func (d *Directory) fresh() bool {
	c := d.confirmed.Load()
	return c != 0 && d.cfg.Now().UnixNano()-c <= int64(d.cfg.MaxStaleness)
}

// get returns the cached value for k, loading it with load on a miss.
func get[T any](ctx context.Context, d *Directory, k key, load func(context.Context) (T, error)) (T, error) {
	// This replica's own changes (an admin call answered a moment ago)
	// must be seen by the very next request, not at the next poll.
	if lc := d.st.LocalChanges(); lc != d.local.Load() && d.local.Swap(lc) != lc {
		d.Invalidate()
	}
	if !d.fresh() {
		d.bypass.Inc()
		return load(ctx)
	}
	s := d.cur.Load()
	s.mu.RLock()
	e, ok := s.entries[k]
	s.mu.RUnlock()
	if ok {
		d.hits.Inc()
		if e.err != nil {
			var zero T
			return zero, e.err
		}
		return e.val.(T), nil
	}
	d.misses.Inc()
	v, err := load(ctx)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return v, err // never cache an outage
	}
	s.mu.Lock()
	if len(s.entries) >= d.cfg.MaxEntries {
		s.mu.Unlock()
		d.Invalidate()
		return v, err
	}
	s.entries[k] = entry{val: v, err: err}
	s.mu.Unlock()
	return v, err
}

// GetTenant returns the tenant with that id.
func (d *Directory) GetTenant(ctx context.Context, id string) (store.Tenant, error) {
	return get(ctx, d, key{kindTenant, id}, func(ctx context.Context) (store.Tenant, error) { return d.st.GetTenant(ctx, id) })
}

// GetPrincipal returns the principal with that id (tombstones included).
func (d *Directory) GetPrincipal(ctx context.Context, id string) (store.Principal, error) {
	return get(ctx, d, key{kindPrincipal, id}, func(ctx context.Context) (store.Principal, error) { return d.st.GetPrincipal(ctx, id) })
}

// GetClient returns the client with that id.
func (d *Directory) GetClient(ctx context.Context, id string) (store.Client, error) {
	return get(ctx, d, key{kindClient, id}, func(ctx context.Context) (store.Client, error) { return d.st.GetClient(ctx, id) })
}

// GetLegacyKeyByHash returns the legacy key with that keyed hash.
func (d *Directory) GetLegacyKeyByHash(ctx context.Context, hash []byte) (store.LegacyKey, error) {
	return get(ctx, d, key{kindKeyHash, string(hash)}, func(ctx context.Context) (store.LegacyKey, error) { return d.st.GetLegacyKeyByHash(ctx, hash) })
}

// RolesOfPrincipal returns the roles bound to the principal.
func (d *Directory) RolesOfPrincipal(ctx context.Context, principalID string) ([]store.Role, error) {
	return get(ctx, d, key{kindRoles, principalID}, func(ctx context.Context) ([]store.Role, error) { return d.st.RolesOfPrincipal(ctx, principalID) })
}

// GetAudienceByIdentifier returns the registered audience with that
// identifier, for the token endpoint's audience check.
func (d *Directory) GetAudienceByIdentifier(ctx context.Context, identifier string) (store.Audience, error) {
	return get(ctx, d, key{kindAudience, identifier}, func(ctx context.Context) (store.Audience, error) {
		return d.st.GetAudienceByIdentifier(ctx, identifier)
	})
}

// GetSCIMTokenByHash returns the SCIM connector token with that keyed
// hash: an IdP's reconciliation authenticates every one of its requests,
// and a revocation moves the generation like a suspension does.
func (d *Directory) GetSCIMTokenByHash(ctx context.Context, hash []byte) (store.SCIMToken, error) {
	return get(ctx, d, key{kindSCIMToken, string(hash)}, func(ctx context.Context) (store.SCIMToken, error) {
		return d.st.GetSCIMTokenByHash(ctx, hash)
	})
}

// GetSCIMToken returns the SCIM connector token with that id: a refused
// exchange names the IdP that suspended the key's owner.
func (d *Directory) GetSCIMToken(ctx context.Context, id string) (store.SCIMToken, error) {
	return get(ctx, d, key{kindSCIMTokenID, id}, func(ctx context.Context) (store.SCIMToken, error) { return d.st.GetSCIMToken(ctx, id) })
}
