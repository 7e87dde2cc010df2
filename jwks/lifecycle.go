package jwks

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/reqmeta"
	"github.com/authz/authz/store"
)

// Audit actions of SPEC's audit vocabulary.
const (
	ActionCreate   = "signing_key.create"
	ActionRotate   = "signing_key.rotate"
	ActionWithdraw = "signing_key.withdraw"
	ActionRemove   = "signing_key.remove"
)

// Init loads the signing keys and, on first start, creates the current and
// the next key together (nobody can have cached an older JWKS yet). It runs
// the creation in one transaction under the signing-key lock, so replicas
// starting together create one set. A stored key that does not open under
// the master key fails Init with an error wrapping masterkey.ErrWrongKey,
// before anything is written.
func (m *Manager) Init(ctx context.Context) error {
	if err := m.Reload(ctx); err != nil {
		return err
	}
	if s := m.snap.Load(); s.current != nil && s.nextRow != nil && s.nextRow.Alg == m.cfg.Alg {
		return nil
	}
	if err := m.change(ctx, "system", func(t *txKeys) error { return t.reconcile(reconcileInit) }); err != nil {
		return err
	}
	return m.Reload(ctx)
}

// Maintain does whatever the lifecycle says is due now: an automatic
// rotation, the removal of retired keys past RemoveAfter, a missing next
// key. It returns at once, without touching the store, when nothing is due.
// Run calls it on every tick.
func (m *Manager) Maintain(ctx context.Context) error {
	s := m.snap.Load()
	if s != nil && m.now().Before(m.dueAt(s)) {
		return nil
	}
	if err := m.change(ctx, "system", func(t *txKeys) error { return t.reconcile(reconcileScheduled) }); err != nil {
		return err
	}
	return m.Reload(ctx)
}

// dueAt is when the loaded key set next needs a change.
func (m *Manager) dueAt(s *snapshot) time.Time {
	if s.current == nil || s.nextRow == nil {
		return time.Time{}
	}
	due := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if at, ok := m.rotationAt(s.curRow, s.nextRow); ok && at.Before(due) {
		due = at
	}
	for _, r := range s.rows {
		if r.State == store.SigningRetired && r.RemoveAfter != nil && r.RemoveAfter.Before(due) {
			due = *r.RemoveAfter
		}
	}
	return due
}

// rotationAt is when the automatic rotation of cur to next happens: once cur
// has signed for RotationPeriod and next has been published long enough.
func (m *Manager) rotationAt(cur store.SigningKey, next *store.SigningKey) (time.Time, bool) {
	if m.cfg.RotationPeriod < 0 || next == nil {
		return time.Time{}, false
	}
	at := activated(cur).Add(m.cfg.RotationPeriod)
	if ready := next.PublishedAt.Add(m.cfg.publishAhead()); ready.After(at) {
		at = ready
	}
	return at, true
}

// Rotate makes the next key current, retires the current one and publishes
// a new next key. It is refused (RequestInvalid) while the next key has
// been published for less than CacheMaxAge+ClockSkew: verifiers may still
// hold a JWKS without it. It returns the new current key.
func (m *Manager) Rotate(ctx context.Context) (KeyInfo, error) {
	var out KeyInfo
	err := m.change(ctx, actorOf(ctx), func(t *txKeys) error {
		next := t.find(store.SigningNext)
		if next == nil {
			return errcode.New(errcode.RequestInvalid, "No next signing key is published; the server creates one at start-up and after every rotation. Retry shortly.")
		}
		if ready := next.PublishedAt.Add(m.cfg.publishAhead()); t.now.Before(ready) {
			return errcode.Newf(errcode.RequestInvalid,
				"The next signing key %s was published %s ago; it may sign only once it has been published for the JWKS max-age (%s) plus clock skew (%s), at %s. Retry then.",
				next.KID, t.now.Sub(next.PublishedAt).Round(time.Second), m.cfg.CacheMaxAge, m.cfg.ClockSkew, ready.Format(time.RFC3339))
		}
		cur, err := t.promote(*next, "manual")
		if err != nil {
			return err
		}
		out = infoOf(cur)
		_, err = t.create(store.SigningNext)
		return err
	})
	if err != nil {
		return KeyInfo{}, err
	}
	m.reloadAfterChange(ctx)
	return out, nil
}

// Withdraw removes a key from the JWKS at once, for a key that must no
// longer be trusted: tokens it signed stop verifying on this replica now
// and on the others within ReloadInterval. If it was the current key, the
// next key signs from now on and a new next key is published.
func (m *Manager) Withdraw(ctx context.Context, kid string) error {
	err := m.change(ctx, actorOf(ctx), func(t *txKeys) error {
		found := t.byKID(kid)
		if found == nil {
			return errcode.Newf(errcode.NotFound, "No signing key with kid %q is published.", kid)
		}
		row := *found
		if err := t.tx.DeleteSigningKey(t.ctx, kid); err != nil {
			return fmt.Errorf("jwks: delete signing key %s: %w", kid, err)
		}
		if err := t.audit(ActionWithdraw, kid, map[string]any{"alg": row.Alg, "state": row.State}); err != nil {
			return err
		}
		if err := t.reread(); err != nil {
			return err
		}
		if next := t.find(store.SigningNext); row.State == store.SigningCurrent && next != nil {
			// Emergency: the next key signs at once, even if some
			// verifier's cached JWKS predates it; that beats signing with
			// a distrusted key.
			if _, err := t.promote(*next, "current key withdrawn"); err != nil {
				return err
			}
		}
		return t.reconcile(reconcileRepair)
	})
	if err != nil {
		return err
	}
	m.reloadAfterChange(ctx)
	return nil
}

// reloadAfterChange makes a committed change visible on this replica at
// once. Failing that, Run picks it up: the change itself stands.
func (m *Manager) reloadAfterChange(ctx context.Context) {
	if err := m.Reload(ctx); err != nil {
		m.log.Warn("signing keys changed but could not be reloaded yet", "err", err)
	}
}

// Run keeps this replica's keys current until ctx ends: it reloads when the
// store reports a change (or, polling every ReloadInterval, when Generation
// moved), rotates when due and removes retired keys past RemoveAfter. Every
// replica may run it: changes happen under the signing-key lock after
// re-reading the keys, so no two replicas mint competing keys. Storage
// errors are logged and retried at the next tick.
func (m *Manager) Run(ctx context.Context) error {
	changes := m.st.Changes(ctx)
	tick := time.NewTicker(m.cfg.ReloadInterval)
	defer tick.Stop()
	failing := false
	step := func() {
		err := m.tick(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
		case err != nil && !failing:
			m.log.Error("signing key maintenance failing; retrying every reload interval", "err", err)
			failing = true
		case err == nil && failing:
			m.log.Info("signing key maintenance recovered")
			failing = false
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			step()
		case <-tick.C:
			step()
		}
	}
}

func (m *Manager) tick(ctx context.Context) error {
	gen, err := m.st.Generation(ctx)
	if err != nil {
		return fmt.Errorf("jwks: read generation: %w", err)
	}
	if s := m.snap.Load(); s == nil || s.gen != gen {
		if err := m.Reload(ctx); err != nil {
			return err
		}
	}
	return m.Maintain(ctx)
}

func actorOf(ctx context.Context) string {
	if a := reqmeta.From(ctx).Actor; a != "" {
		return a
	}
	return "system"
}

// change runs fn in one transaction holding the signing-key lock, with the
// keys as they are once the lock is held.
func (m *Manager) change(ctx context.Context, actor string, fn func(t *txKeys) error) error {
	var t *txKeys
	err := m.st.Tx(ctx, func(tx store.Tx) error {
		if err := tx.LockSigningKeys(ctx); err != nil {
			return fmt.Errorf("jwks: lock signing keys: %w", err)
		}
		// A fresh txKeys per attempt: a backend may retry fn.
		t = &txKeys{m: m, ctx: ctx, tx: tx, now: m.now(), actor: actor}
		if err := t.reread(); err != nil {
			return err
		}
		return fn(t)
	})
	if err != nil {
		return err
	}
	for _, log := range t.done {
		log()
	}
	return nil
}

// txKeys is the key set inside one locked transaction.
type txKeys struct {
	m     *Manager
	ctx   context.Context
	tx    store.Tx
	now   time.Time
	actor string
	rows  []store.SigningKey
	// done holds what to log once the transaction has committed.
	done []func()
}

func (t *txKeys) reread() error {
	rows, err := t.tx.ListSigningKeys(t.ctx)
	if err != nil {
		return fmt.Errorf("jwks: list signing keys: %w", err)
	}
	t.rows = rows
	return nil
}

func (t *txKeys) byKID(kid string) *store.SigningKey {
	for i := range t.rows {
		if t.rows[i].KID == kid {
			return &t.rows[i]
		}
	}
	return nil
}

// find returns the key in state; for next keys the one published first,
// for current keys the one activated last.
func (t *txKeys) find(state store.SigningKeyState) *store.SigningKey {
	var out *store.SigningKey
	for i := range t.rows {
		r := &t.rows[i]
		if r.State != state {
			continue
		}
		switch {
		case out == nil,
			state == store.SigningNext && r.PublishedAt.Before(out.PublishedAt),
			state == store.SigningCurrent && activated(*r).After(activated(*out)):
			out = r
		}
	}
	return out
}

// What reconcile does beyond restoring the invariant.
type reconcileMode int

const (
	// reconcileRepair only restores the invariant.
	reconcileRepair reconcileMode = 0
	// reconcileInit also replaces a next key of another algorithm than the
	// configured one. Only at start: replicas of a rolling deployment that
	// disagree on the algorithm would otherwise replace each other's next
	// key on every tick.
	reconcileInit reconcileMode = 1
	// reconcileScheduled also rotates when the rotation is due.
	reconcileScheduled reconcileMode = 2
)

// reconcile brings the key set to its invariant: retired keys past
// RemoveAfter removed, exactly one current key, one next key; plus what
// mode adds.
func (t *txKeys) reconcile(mode reconcileMode) error {
	cfg := t.m.cfg
	for _, r := range t.rows {
		if r.State == store.SigningRetired && r.RemoveAfter != nil && !t.now.Before(*r.RemoveAfter) {
			if err := t.remove(r, "retention ended"); err != nil {
				return err
			}
		}
	}
	if err := t.reread(); err != nil {
		return err
	}
	// Should a bug or a hand edit leave two current keys, keep the newest.
	cur := t.find(store.SigningCurrent)
	for _, r := range t.rows {
		if r.State == store.SigningCurrent && cur != nil && r.KID != cur.KID {
			if err := t.retire(r); err != nil {
				return err
			}
		}
	}
	next := t.find(store.SigningNext)
	switch {
	case cur == nil && next != nil:
		// A next key is published: it is the best signer there is.
		if _, err := t.promote(*next, "no current key"); err != nil {
			return err
		}
	case cur == nil:
		if len(t.rows) > 0 {
			t.m.log.Warn("no current or next signing key; creating one that signs at once")
		}
		if _, err := t.create(store.SigningCurrent); err != nil {
			return err
		}
	case mode&reconcileScheduled != 0:
		if at, ok := t.m.rotationAt(*cur, next); ok && !t.now.Before(at) {
			if _, err := t.promote(*next, "scheduled"); err != nil {
				return err
			}
		}
	}
	if next = t.find(store.SigningNext); mode&reconcileInit != 0 && next != nil && next.Alg != cfg.Alg {
		// It never signed, so it can go at once; its replacement is
		// published ahead like any next key.
		if err := t.remove(*next, "algorithm changed to "+cfg.Alg); err != nil {
			return err
		}
		next = nil
	}
	if next == nil {
		if _, err := t.create(store.SigningNext); err != nil {
			return err
		}
	}
	return nil
}

// create generates and stores a key in state (next, or current on first
// start) and records signing_key.create.
func (t *txKeys) create(state store.SigningKeyState) (store.SigningKey, error) {
	row, err := generateKey(t.m.cfg.Alg, t.m.sealer, t.now)
	if err != nil {
		return store.SigningKey{}, err
	}
	row.State = state
	if state == store.SigningCurrent {
		now := t.now
		row.ActivatedAt = &now
	}
	if err := t.tx.CreateSigningKey(t.ctx, row); err != nil {
		return store.SigningKey{}, fmt.Errorf("jwks: store signing key %s: %w", row.KID, err)
	}
	if err := t.audit(ActionCreate, row.KID, map[string]any{"alg": row.Alg, "state": row.State}); err != nil {
		return store.SigningKey{}, err
	}
	return row, t.reread()
}

// promote makes next the current key, retiring the current one if any, and
// records signing_key.rotate.
func (t *txKeys) promote(next store.SigningKey, reason string) (store.SigningKey, error) {
	details := map[string]any{"alg": next.Alg, "reason": reason}
	if cur := t.find(store.SigningCurrent); cur != nil {
		if err := t.retire(*cur); err != nil {
			return store.SigningKey{}, err
		}
		details["previous"] = cur.KID
	}
	now := t.now
	row, err := t.tx.UpdateSigningKey(t.ctx, next.KID, func(k store.SigningKey) (store.SigningKey, error) {
		k.State = store.SigningCurrent
		k.ActivatedAt = &now
		return k, nil
	})
	if err != nil {
		return store.SigningKey{}, fmt.Errorf("jwks: activate signing key %s: %w", next.KID, err)
	}
	if err := t.audit(ActionRotate, next.KID, details); err != nil {
		return store.SigningKey{}, err
	}
	return row, t.reread()
}

// retire stops a key from signing and schedules its removal once every
// token it signed has expired.
func (t *txKeys) retire(cur store.SigningKey) error {
	now := t.now
	removeAfter := now.Add(t.m.cfg.retention())
	_, err := t.tx.UpdateSigningKey(t.ctx, cur.KID, func(k store.SigningKey) (store.SigningKey, error) {
		k.State = store.SigningRetired
		k.RetiredAt = &now
		k.RemoveAfter = &removeAfter
		return k, nil
	})
	if err != nil {
		return fmt.Errorf("jwks: retire signing key %s: %w", cur.KID, err)
	}
	return t.reread()
}

// remove deletes a key whose publication is no longer needed.
func (t *txKeys) remove(r store.SigningKey, reason string) error {
	if err := t.tx.DeleteSigningKey(t.ctx, r.KID); err != nil {
		return fmt.Errorf("jwks: remove signing key %s: %w", r.KID, err)
	}
	return t.audit(ActionRemove, r.KID, map[string]any{"alg": r.Alg, "state": r.State, "reason": reason})
}

func (t *txKeys) audit(action, kid string, details map[string]any) error {
	t.done = append(t.done, func() { t.m.log.Info(action, "kid", kid, "actor", t.actor) })
	if t.m.cfg.Audit == nil {
		return nil
	}
	d, err := json.Marshal(details)
	if err != nil {
		return fmt.Errorf("jwks: audit details: %w", err)
	}
	meta := reqmeta.From(t.ctx)
	ev := store.AuditEvent{
		ID:         store.NewID(store.PrefixEvent),
		Time:       t.now,
		Actor:      t.actor,
		Action:     action,
		Target:     "signing_key:" + kid,
		Outcome:    "success",
		RequestID:  meta.RequestID,
		ClientAddr: meta.ClientAddr,
		Details:    d,
	}
	if err := t.m.cfg.Audit(t.ctx, t.tx, ev); err != nil {
		return fmt.Errorf("jwks: audit %s: %w", action, err)
	}
	return nil
}
