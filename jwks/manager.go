package jwks

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/store"
)

// Manager keeps the signing keys of one replica in step with the store and
// signs and verifies with them. Its methods are safe for concurrent use.
//
// The signing and verification paths take no lock: they read an immutable
// snapshot behind an atomic pointer, which Reload swaps after reading the
// store.
type Manager struct {
	st     store.Store
	sealer *masterkey.Sealer
	cfg    Config
	log    *slog.Logger

	snap atomic.Pointer[snapshot]
	// reloadMu serialises reloads so that an older read never replaces a
	// newer snapshot.
	reloadMu sync.Mutex
}

// KeyInfo describes a signing key without its private part.
type KeyInfo struct {
	KID         string                `json:"kid"`
	Alg         string                `json:"alg"`
	State       store.SigningKeyState `json:"state"`
	CreatedAt   time.Time             `json:"created_at"`
	PublishedAt time.Time             `json:"published_at"`
	ActivatedAt *time.Time            `json:"activated_at,omitempty"`
	RetiredAt   *time.Time            `json:"retired_at,omitempty"`
	RemoveAfter *time.Time            `json:"remove_after,omitempty"`
}

func infoOf(k store.SigningKey) KeyInfo {
	return KeyInfo{
		KID:         k.KID,
		Alg:         k.Alg,
		State:       k.State,
		CreatedAt:   k.CreatedAt,
		PublishedAt: k.PublishedAt,
		ActivatedAt: k.ActivatedAt,
		RetiredAt:   k.RetiredAt,
		RemoveAfter: k.RemoveAfter,
	}
}

// snapshot is the loaded key set. It is never modified once published.
type snapshot struct {
	gen     int64
	rows    []store.SigningKey   // as stored, oldest first
	keys    map[string]*material // every published key (next, current, retired), by kid
	current *material            // nil until a current key exists
	curRow  store.SigningKey
	nextRow *store.SigningKey
	jwks    []byte // the JWKS document
	etag    string
}

// NewManager returns a Manager for the keys in st, sealed under mk. Call
// Init before serving, then Run in the background.
func NewManager(st store.Store, mk masterkey.Key, cfg Config) (*Manager, error) {
	if st == nil {
		return nil, errors.New("jwks: nil store")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Manager{
		st:     st,
		sealer: mk.Sealer(masterkey.PurposeSigningKeys),
		cfg:    cfg,
		log:    cfg.Logger,
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(&collector{m: m}); err != nil {
			return nil, fmt.Errorf("jwks: register metrics: %w", err)
		}
	}
	return m, nil
}

// PublishedKids returns the kids of every key this replica's JWKS
// publishes (next, current, retired), sorted: what the status list names
// (statuslist.Token.JWKSKids) so that a verifier learns of a withdrawal
// with the list.
func (m *Manager) PublishedKids() []string {
	s := m.snap.Load()
	if s == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(s.keys))
}

// now is the clock at the store's precision, so that what is written and
// what is read back compare equal.
func (m *Manager) now() time.Time { return m.cfg.Now().UTC().Truncate(time.Microsecond) }

// Ready reports whether a current key is loaded, that is whether tokens can
// be signed.
func (m *Manager) Ready() bool {
	s := m.snap.Load()
	return s != nil && s.current != nil
}

// Algs returns the algorithms of the published keys, the configured one
// first, for discovery metadata.
func (m *Manager) Algs() []string {
	algs := []string{m.cfg.Alg}
	if s := m.snap.Load(); s != nil {
		for _, r := range s.rows {
			if !slices.Contains(algs, r.Alg) {
				algs = append(algs, r.Alg)
			}
		}
	}
	return algs
}

// List returns the signing keys as stored, oldest first.
func (m *Manager) List(ctx context.Context) ([]KeyInfo, error) {
	rows, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("jwks: list signing keys: %w", err)
	}
	out := make([]KeyInfo, len(rows))
	for i, r := range rows {
		out[i] = infoOf(r)
	}
	return out, nil
}

// Reload reads the keys from the store and swaps the snapshot. Keys already
// loaded are reused; new ones are decrypted. On error the previous snapshot
// stays in place.
func (m *Manager) Reload(ctx context.Context) error {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	// Generation first: a change committed between the two reads shows up
	// as a moved generation at the next poll, never as a missed one.
	gen, err := m.st.Generation(ctx)
	if err != nil {
		return fmt.Errorf("jwks: read generation: %w", err)
	}
	rows, err := m.st.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("jwks: list signing keys: %w", err)
	}
	s, err := m.build(gen, rows, m.snap.Load())
	if err != nil {
		return err
	}
	old := m.snap.Swap(s)
	m.logChange(old, s)
	return nil
}

func (m *Manager) logChange(old, s *snapshot) {
	if old == nil || old.current == nil || s.current == nil {
		if s.current != nil {
			m.log.Info("signing keys loaded", "current", s.current.kid, "published", len(s.keys))
		}
		return
	}
	if old.current.kid != s.current.kid {
		m.log.Info("signing key changed", "previous", old.current.kid, "current", s.current.kid)
	}
}

// build makes a snapshot of rows, reusing the decrypted material of prev.
func (m *Manager) build(gen int64, rows []store.SigningKey, prev *snapshot) (*snapshot, error) {
	s := &snapshot{gen: gen, rows: rows, keys: make(map[string]*material, len(rows))}
	for _, r := range rows {
		var k *material
		if prev != nil {
			k = prev.keys[r.KID]
		}
		if k == nil || string(k.alg) != r.Alg {
			var err error
			if k, err = openKey(r, m.sealer); err != nil {
				return nil, err
			}
		}
		s.keys[r.KID] = k
		switch r.State {
		case store.SigningCurrent:
			// Should two rows ever claim to be current, sign with the one
			// activated last: it is the one the lock holder meant.
			if s.current == nil || activated(r).After(activated(s.curRow)) {
				s.current, s.curRow = k, r
			}
		case store.SigningNext:
			if s.nextRow == nil || r.PublishedAt.Before(s.nextRow.PublishedAt) {
				s.nextRow = &r
			}
		}
	}
	doc, err := document(s)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(doc)
	s.jwks = doc
	s.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	return s, nil
}

func activated(r store.SigningKey) time.Time {
	if r.ActivatedAt != nil {
		return *r.ActivatedAt
	}
	return r.CreatedAt
}

// document renders the JWKS: the current key first (clients that take the
// first key get the one that signs), then next, then retired keys, newest
// first. Only public members are written.
func document(s *snapshot) ([]byte, error) {
	rank := map[store.SigningKeyState]int{store.SigningCurrent: 0, store.SigningNext: 1, store.SigningRetired: 2}
	rows := slices.Clone(s.rows)
	slices.SortStableFunc(rows, func(a, b store.SigningKey) int {
		if d := rank[a.State] - rank[b.State]; d != 0 {
			return d
		}
		return b.PublishedAt.Compare(a.PublishedAt)
	})
	keys := make([]json.RawMessage, 0, len(rows))
	for _, r := range rows {
		keys = append(keys, s.keys[r.KID].publicJSON)
	}
	doc, err := json.Marshal(struct {
		Keys []json.RawMessage `json:"keys"`
	}{keys})
	if err != nil {
		return nil, fmt.Errorf("jwks: encode document: %w", err)
	}
	return doc, nil
}
