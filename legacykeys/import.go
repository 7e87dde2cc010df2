package legacykeys

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// Rejection is an input line that was not applied, and why.
type Rejection struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

// ImportSummary is what one Import call did. Orphans counts imported keys
// that are refused until an administrator acts: owner missing, deleted or
// suspended, or tenant suspended (they appear in the orphan report).
type ImportSummary struct {
	Imported       int         `json:"imported"`
	AlreadyPresent int         `json:"already_present"`
	Orphans        int         `json:"orphans"`
	Rejected       []Rejection `json:"rejected"`
	DryRun         bool        `json:"dry_run"`
}

// candidate is an import row ready to be inserted.
type candidate struct {
	key    store.LegacyKey
	line   int
	orphan bool
	proof  string // ProofRawKey or ProofSHA256
	drawn  bool   // the id was drawn by the import (may be redrawn)
}

// errDryRun rolls a dry run's transaction back after it counted everything.
var errDryRun = errors.New("legacykeys: dry run")

// idEncoding matches store.NewID's alphabet.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// idSequence names newly imported keys: 40 bits of the import's clock in
// seconds, then a 40-bit counter that starts at a random value for each
// Import call, in store.NewID's alphabet and length (the 40 bits of time
// are exactly its first 8 characters). The keys of one batch get
// consecutive ids, so the id's B-trees (the primary key and (tenant_id,
// id)) grow at one place instead of at a random place per key: an id
// derived from the key's hash dirtied a different page of both indexes
// per row at a million keys, and SQLite writes every dirty page at each
// commit (issue 19: two of the four randomly ordered indexes of a bulk
// import). Idempotence does not rest on the id: a key already stored is
// found by its hash (unique), whatever id the second import drew for it;
// an id that happens to be taken is drawn again (see Import).
type idSequence struct {
	b [10]byte
}

func newIDSequence(now time.Time) *idSequence {
	var q idSequence
	sec := uint64(now.Unix())
	for i := range 5 {
		q.b[i] = byte(sec >> (8 * (4 - i)))
	}
	if _, err := rand.Read(q.b[5:]); err != nil {
		panic("legacykeys: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return &q
}

// next returns the next id of the sequence.
func (q *idSequence) next() string {
	id := store.PrefixKey + idEncoding.EncodeToString(q.b[:])
	for i := 9; i >= 5; i-- { // the counter wraps within its 40 bits
		q.b[i]++
		if q.b[i] != 0 {
			break
		}
	}
	return id
}

// Import adds a batch of keys from an import file. It is idempotent: a key
// whose hash is already stored in the row's tenant is counted as already
// present and left as it is. A key stored in another tenant is never bound
// to the row's tenant: it becomes a conflicted claim (see conflict.go),
// counted as imported so that the answer does not tell whether the key
// exists elsewhere. Rows whose owner cannot be found are imported all the same, with
// the reference the file gave (so exchanges fail with owner_not_found, the
// orphan report lists them, and `key remap` can repair them). Rows with a
// problem, an unknown tenant or an owner in another tenant are rejected
// with their line number. A dry run writes nothing but counts the same.
//
// Owners are matched in memory: the external ids of the batch are looked up
// together, a few hundred per query, never once per row.
func (s *Service) Import(ctx context.Context, rows []ImportRow, dryRun bool) (ImportSummary, error) {
	sum := ImportSummary{DryRun: dryRun, Rejected: []Rejection{}}
	now := s.clock()
	dir := newDirectory(s.st)
	seq := newIDSequence(now)
	cands := make([]candidate, 0, len(rows))
	seen := make(map[string]bool, len(rows))
	reject := func(line int, reason string) {
		sum.Rejected = append(sum.Rejected, Rejection{Line: line, Reason: reason})
	}
	// The owners the batch names, resolved tenant by tenant in bulk.
	exts := map[string][]string{}
	for _, r := range rows {
		if r.Problem == "" && r.OwnerID == "" && r.OwnerExternalID != "" {
			exts[r.Tenant] = append(exts[r.Tenant], r.OwnerExternalID)
		}
	}
	for ten, ids := range exts {
		switch t, err := dir.tenant(ctx, ten); {
		case err != nil:
			return ImportSummary{}, err
		case t != nil:
			if err := dir.prefetch(ctx, t.ID, ids); err != nil {
				return ImportSummary{}, err
			}
		}
	}
	for _, r := range rows {
		if r.Problem != "" {
			reject(r.Line, r.Problem)
			continue
		}
		if p := rowProblem(r); p != "" {
			reject(r.Line, p)
			continue
		}
		var k store.LegacyKey
		drawn := false // k.ID was drawn here, not given by the key
		if r.Key != "" {
			p, _ := Parse(r.Key) // rowProblem checked it
			k.Hash = s.hasher.Hash(p.Raw)
			k.ID = p.ID
		} else {
			h, err := s.hasher.HashFromSHA256Hex(r.KeySHA256)
			if err != nil {
				reject(r.Line, errcode.Normalize(err).Text())
				continue
			}
			k.Hash = h
		}
		if k.ID == "" {
			k.ID, drawn = seq.next(), true
		}
		// The same key twice for one tenant in a batch is present once;
		// for two tenants it is a conflict (the second row is skipped by
		// the insert and then found held by the first tenant).
		once := r.Tenant + "\x00" + string(k.Hash)
		if seen[once] {
			sum.AlreadyPresent++ // the same key twice in one batch
			continue
		}
		tenant, err := dir.tenant(ctx, r.Tenant)
		if err != nil {
			return ImportSummary{}, err
		}
		if tenant == nil {
			reject(r.Line, fmt.Sprintf("no tenant %q: neither a tenant id nor a tenant name", r.Tenant))
			continue
		}
		var owner *store.Principal
		if r.OwnerID != "" {
			k.OwnerRef = r.OwnerID
			owner, err = dir.principal(ctx, tenant.ID, r.OwnerID)
		} else {
			k.OwnerRef = r.OwnerExternalID
			owner, err = dir.byExternalID(ctx, tenant.ID, r.OwnerExternalID)
		}
		var other *otherTenantError
		switch {
		case errors.As(err, &other):
			reject(r.Line, other.Error())
			continue
		case err != nil:
			return ImportSummary{}, err
		case owner != nil:
			k.OwnerID = owner.ID
		case r.OwnerID != "":
			// Keep the id the file gave: it may be a principal created later,
			// and it is what a refusal and the orphan report should name.
			k.OwnerID = r.OwnerID
		}
		seen[once] = true
		k.TenantID = tenant.ID
		k.Scopes, _ = cleanScopes(r.Scopes)
		k.Label, k.Environment = r.Label, r.Environment
		k.Source = store.SourceImported
		k.CreatedAt = now
		if r.CreatedAt != nil {
			k.CreatedAt = r.CreatedAt.UTC().Truncate(time.Microsecond)
		}
		if r.ExpiresAt != nil {
			k.ExpiresAt = ptrTo(r.ExpiresAt.UTC().Truncate(time.Microsecond))
		}
		k.Status = store.StatusActive
		k.UpdatedAt = now
		// Watched from now on, whatever the old system's creation time.
		k.AddedAt = now
		orphan := owner == nil || owner.Status != store.StatusActive || tenant.Status != store.StatusActive
		proof := ProofSHA256
		if r.Key != "" {
			proof = ProofRawKey
		}
		cands = append(cands, candidate{key: k, line: r.Line, orphan: orphan, proof: proof, drawn: drawn})
	}
	if len(cands) == 0 {
		return sum, nil
	}
	err := s.st.Tx(ctx, func(tx store.Tx) error {
		skipped, held, err := s.insertKeys(ctx, tx, cands, seq)
		if err != nil {
			return err
		}
		type tally struct{ imported, present, orphans, first, last int }
		per := map[string]*tally{}
		var order []string
		for i, c := range cands {
			t := per[c.key.TenantID]
			if t == nil {
				t = &tally{first: c.line}
				per[c.key.TenantID] = t
				order = append(order, c.key.TenantID)
			}
			t.first, t.last = min(t.first, c.line), max(t.last, c.line)
			if skipped[i] {
				// A key another tenant holds becomes a conflicted claim,
				// counted exactly like a new key (issue 18 §6).
				claimed := false
				if h, ok := held[string(c.key.Hash)]; ok && h.TenantID != c.key.TenantID {
					if claimed, err = s.claimForeign(ctx, tx, h, c.key, c.proof, now, dryRun); err != nil {
						return err
					}
				}
				if !claimed {
					t.present++
					sum.AlreadyPresent++
					continue
				}
			}
			t.imported++
			sum.Imported++
			if c.orphan {
				t.orphans++
				sum.Orphans++
			}
		}
		if dryRun {
			return errDryRun
		}
		// One event per tenant and batch: a million imported keys must not
		// become a million chained audit rows. The keys themselves carry
		// source "imported" and their creation time.
		var evs []store.AuditEvent
		for _, ten := range order {
			t := per[ten]
			evs = append(evs, s.eventOn(ctx, ActionImport, "tenant:"+ten, ten, map[string]any{
				"imported": t.imported, "already_present": t.present, "orphans": t.orphans,
				"first_line": t.first, "last_line": t.last,
			}))
		}
		return s.auditAll(ctx, tx, evs...)
	})
	if err != nil && !errors.Is(err, errDryRun) {
		return ImportSummary{}, err
	}
	return sum, nil
}

// insertKeys inserts the candidates' keys and reports which inserts were
// skipped, with the stored keys of the skipped ones by hash (one batched
// lookup per batch, so that re-importing a file costs one more indexed
// read per chunk of rows, not per row). Only the first candidate of an id
// is inserted: a later one of the same id (the same key for another
// tenant) is skipped. A skipped candidate whose hash is not stored lost
// its drawn id to another key: it draws again and is inserted in another
// round (80-bit ids, 40 of them counted from a random start per batch:
// this is for correctness, not an expected path).
func (s *Service) insertKeys(ctx context.Context, tx store.Tx, cands []candidate, seq *idSequence) ([]bool, map[string]store.LegacyKey, error) {
	skipped := make([]bool, len(cands))
	held := map[string]store.LegacyKey{}
	todo := make([]int, len(cands))
	for i := range todo {
		todo[i] = i
	}
	for round := 0; len(todo) > 0; round++ {
		if round == 5 {
			return nil, nil, fmt.Errorf("legacykeys: import: %d keys found no free id in %d rounds", len(todo), round)
		}
		keys := make([]store.LegacyKey, len(todo))
		for j, i := range todo {
			keys[j] = cands[i].key
		}
		ids, err := tx.CreateLegacyKeys(ctx, keys)
		if err != nil {
			return nil, nil, fmt.Errorf("legacykeys: import %d keys: %w", len(keys), err)
		}
		inserted := make(map[string]bool, len(ids))
		for _, id := range ids {
			inserted[id] = true
		}
		taken := make(map[string]bool, len(todo))
		var hashes [][]byte
		for _, i := range todo {
			id := cands[i].key.ID
			skipped[i] = !inserted[id] || taken[id]
			taken[id] = true
			if skipped[i] {
				hashes = append(hashes, cands[i].key.Hash)
			}
		}
		if len(hashes) > 0 {
			ks, err := tx.GetLegacyKeysByHash(ctx, hashes)
			if err != nil {
				return nil, nil, fmt.Errorf("legacykeys: import: look up %d present keys: %w", len(hashes), err)
			}
			for _, k := range ks {
				held[string(k.Hash)] = k
			}
		}
		var again []int
		for _, i := range todo {
			if _, ok := held[string(cands[i].key.Hash)]; skipped[i] && !ok && cands[i].drawn {
				cands[i].key.ID = seq.next()
				again = append(again, i)
			}
		}
		todo = again
	}
	return skipped, held, nil
}

// directory resolves tenants and owners for one Import call. Owners are
// read by the external ids the batch names (prefetch), a few hundred per
// query: never per row, and never the whole tenant, whose principals may
// outnumber the batch a hundredfold.
type directory struct {
	q       store.Queries
	tenants map[string]*store.Tenant // nil value: no such tenant
	// external maps tenant → external id → principal; non-deleted
	// principals win over tombstones, so a key lands on the live holder,
	// and an external id known only from a deleted principal still names
	// it (the key is then refused as owner_deleted, the exact cause). A
	// nil value: looked up, no such principal.
	external map[string]map[string]*store.Principal
	byID     map[string]*store.Principal // nil value: no such principal
	// byName and allTenants are filled by tenantIDs, once.
	byName     map[string]*store.Tenant
	allTenants []string
}

func newDirectory(q store.Queries) *directory {
	return &directory{q: q, tenants: map[string]*store.Tenant{}, external: map[string]map[string]*store.Principal{}, byID: map[string]*store.Principal{}, byName: map[string]*store.Tenant{}}
}

// tenant finds a tenant by id or, failing that, by its unique name.
func (d *directory) tenant(ctx context.Context, idOrName string) (*store.Tenant, error) {
	if t, ok := d.tenants[idOrName]; ok {
		return t, nil
	}
	t, err := d.q.GetTenant(ctx, idOrName)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if _, err := d.tenantIDs(ctx); err != nil {
			return nil, err
		}
		named := d.byName[idOrName]
		d.tenants[idOrName] = named
		return named, nil
	case err != nil:
		return nil, fmt.Errorf("legacykeys: get tenant %s: %w", idOrName, err)
	}
	d.tenants[idOrName] = &t
	return &t, nil
}

// tenantIDs lists every tenant, once per directory.
func (d *directory) tenantIDs(ctx context.Context) ([]string, error) {
	if d.allTenants != nil {
		return d.allTenants, nil
	}
	ids := []string{}
	page := store.Page{Limit: store.MaxLimit}
	for {
		ts, next, err := d.q.ListTenants(ctx, store.TenantFilter{}, page)
		if err != nil {
			return nil, fmt.Errorf("legacykeys: list tenants: %w", err)
		}
		for i := range ts {
			t := ts[i]
			d.tenants[t.ID] = &t
			d.byName[t.Name] = &t
			ids = append(ids, t.ID)
		}
		if next == "" || len(ts) == 0 {
			break
		}
		page.After = next
	}
	d.allTenants = ids
	return ids, nil
}

// prefetch resolves the external ids of a tenant not resolved yet, in
// bulk.
func (d *directory) prefetch(ctx context.Context, tenantID string, exts []string) error {
	m := d.external[tenantID]
	if m == nil {
		m = map[string]*store.Principal{}
		d.external[tenantID] = m
	}
	var want []string
	for _, e := range exts {
		if _, ok := m[e]; !ok {
			m[e] = nil
			want = append(want, e)
		}
	}
	if len(want) == 0 {
		return nil
	}
	ps, err := d.q.ListPrincipalsByExternalIDs(ctx, tenantID, want)
	if err != nil {
		return fmt.Errorf("legacykeys: principals of tenant %s by external id: %w", tenantID, err)
	}
	for i := range ps {
		p := &ps[i]
		d.byID[p.ID] = p
		if cur := m[p.ExternalID]; cur == nil || betterOwner(p, cur) {
			m[p.ExternalID] = p
		}
	}
	return nil
}

// betterOwner prefers a live principal, then the most recently deleted.
func betterOwner(p, cur *store.Principal) bool {
	pLive, curLive := p.Status != store.StatusDeleted, cur.Status != store.StatusDeleted
	if pLive != curLive {
		return pLive
	}
	if !pLive && p.DeletedAt != nil && cur.DeletedAt != nil {
		return p.DeletedAt.After(*cur.DeletedAt)
	}
	return false
}

func (d *directory) byExternalID(ctx context.Context, tenantID, ext string) (*store.Principal, error) {
	if p, ok := d.external[tenantID][ext]; ok {
		return p, nil
	}
	if err := d.prefetch(ctx, tenantID, []string{ext}); err != nil {
		return nil, err
	}
	return d.external[tenantID][ext], nil
}

// otherTenantError: the principal exists, in another tenant.
type otherTenantError struct{ id, tenant, want string }

func (e *otherTenantError) Error() string {
	return fmt.Sprintf("principal %s belongs to tenant %s, not %s", e.id, e.tenant, e.want)
}

// principal finds a principal by id for a key of tenantID; nil if none.
func (d *directory) principal(ctx context.Context, tenantID, id string) (*store.Principal, error) {
	p, ok := d.byID[id]
	if !ok {
		got, err := d.q.GetPrincipal(ctx, id)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("legacykeys: get principal %s: %w", id, err)
		default:
			p = &got
		}
		d.byID[id] = p
	}
	if p != nil && p.TenantID != tenantID {
		return nil, &otherTenantError{id: p.ID, tenant: p.TenantID, want: tenantID}
	}
	return p, nil
}
