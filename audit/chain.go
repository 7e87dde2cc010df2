package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/authz/authz/reqmeta"
	"github.com/authz/authz/store"
)

// Outcomes of an audited decision or change.
const (
	OutcomeSuccess = "success"
	OutcomeRefused = "refused"
)

// Actors that are not a credential.
const (
	ActorSystem = "system"
	ActorCLI    = "cli"
)

// hashDomain separates this chain's hashes from any other SHA-256 use and
// versions the encoding: a new encoding gets a new tag.
const hashDomain = "authz-audit-v1"

// ErrInvalidEvent is returned for an event that cannot be appended (no
// action, or details that are not JSON). It is a programming error of the
// caller, never a storage condition.
var ErrInvalidEvent = errors.New("audit: invalid event")

// Hash returns the chain hash of ev when it follows an event whose hash is
// prev. ev.PrevHash and ev.Hash are not read: prev takes PrevHash's place, so
// the result is the hash ev must carry if it is linked after prev. The
// encoding is documented in the package comment.
func Hash(prev []byte, ev store.AuditEvent) []byte {
	h := sha256.New()
	var n [8]byte
	lp := func(b []byte) {
		binary.BigEndian.PutUint32(n[:4], uint32(len(b)))
		h.Write(n[:4])
		h.Write(b)
	}
	u64 := func(v uint64) {
		binary.BigEndian.PutUint64(n[:], v)
		h.Write(n[:])
	}
	lp([]byte(hashDomain))
	u64(uint64(ev.Seq))
	lp(prev)
	lp([]byte(ev.ID))
	u64(uint64(ev.Time.UnixMicro()))
	for _, s := range []string{ev.Actor, ev.Action, ev.Target, ev.TenantID, ev.Outcome, ev.ErrorCode, ev.RequestID, ev.ClientAddr} {
		lp([]byte(s))
	}
	lp(ev.Details)
	return h.Sum(nil)
}

// Append chains events after the current head and inserts them, inside the
// caller's transaction: they commit or vanish with the change they record,
// and tx.AuditHead holds the head locked so that concurrent writers (on any
// replica) queue behind each other rather than fork the chain.
//
// Each event gets an ID, Time (now, if zero) and, when empty, the request
// id, client address and actor carried by ctx (see reqmeta). Times are
// truncated to microseconds UTC, the precision the store keeps, so that the
// hash computed here is the hash recomputed from the database. The caller's
// slice is not modified.
func Append(ctx context.Context, tx store.Tx, events ...store.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	head, err := tx.AuditHead(ctx)
	if err != nil {
		return fmt.Errorf("audit: read chain head: %w", err)
	}
	_, err = appendAfter(ctx, tx, head, events)
	return err
}

// appendAfter chains events after head (read by the caller in tx), inserts
// them, and returns the head they make.
func appendAfter(ctx context.Context, tx store.Tx, head store.AuditHead, events []store.AuditEvent) (store.AuditHead, error) {
	evs, err := completed(ctx, events)
	if err != nil {
		return store.AuditHead{}, err
	}
	next := chain(head, evs)
	if err := tx.InsertAudit(ctx, evs); err != nil {
		return store.AuditHead{}, fmt.Errorf("audit: insert %d events: %w", len(evs), err)
	}
	return next, nil
}

// completed returns a copy of events, checked and filled (see fill).
func completed(ctx context.Context, events []store.AuditEvent) ([]store.AuditEvent, error) {
	evs := make([]store.AuditEvent, len(events))
	now := time.Now()
	for i, ev := range events {
		if err := validate(ev); err != nil {
			return nil, err
		}
		fill(ctx, &ev, now)
		evs[i] = ev
	}
	return evs, nil
}

// chain numbers and links evs after head and returns the head they make.
func chain(head store.AuditHead, evs []store.AuditEvent) store.AuditHead {
	prev := head.Hash
	for i := range evs {
		evs[i].Seq = head.Seq + int64(i) + 1
		evs[i].PrevHash = prev
		evs[i].Hash = Hash(prev, evs[i])
		prev = evs[i].Hash
	}
	if len(evs) == 0 {
		return head
	}
	return store.AuditHead{Seq: evs[len(evs)-1].Seq, Hash: prev}
}

func validate(ev store.AuditEvent) error {
	if ev.Action == "" {
		return fmt.Errorf("%w: no action", ErrInvalidEvent)
	}
	if len(ev.Details) > 0 && !json.Valid(ev.Details) {
		return fmt.Errorf("%w: %s details are not valid JSON", ErrInvalidEvent, ev.Action)
	}
	return nil
}

// fill completes what the caller may leave out. It runs where the request's
// context is still at hand (Record, not the flusher), so that request id and
// client address are the request's.
func fill(ctx context.Context, ev *store.AuditEvent, now time.Time) {
	if ev.ID == "" {
		ev.ID = store.NewID(store.PrefixEvent)
	}
	stamp(ctx, ev, now)
	annotate(ev, reqmeta.From(ctx))
}

// annotate adds to an event's details who acted (the actor's client and
// the principal that owns it) and the request's User-Agent, when the
// request carried them and the details do not say already. The members
// are spliced in front of an object's, so the hot path (token.issue)
// pays no decoding; details that are not an object are left alone.
func annotate(ev *store.AuditEvent, m reqmeta.Meta) {
	var add []byte
	member := func(name, v string) {
		if v == "" || bytes.Contains(ev.Details, []byte(`"`+name+`":`)) {
			return
		}
		q, err := json.Marshal(v)
		if err != nil {
			return
		}
		add = append(add, `"`+name+`":`...)
		add = append(add, q...)
		add = append(add, ',')
	}
	member("actor_client", m.ActorClient)
	member("actor_principal", m.ActorPrincipal)
	member("user_agent", m.UserAgent)
	if len(add) == 0 {
		return
	}
	d := bytes.TrimSpace(ev.Details)
	switch {
	case len(d) == 0 || bytes.Equal(d, []byte("null")):
		ev.Details = append(append([]byte{'{'}, add[:len(add)-1]...), '}')
	case d[0] == '{':
		rest := bytes.TrimSpace(d[1:])
		out := append([]byte{'{'}, add...)
		if len(rest) > 0 && rest[0] == '}' {
			out = append(out[:len(out)-1], '}')
		} else {
			out = append(out, rest...)
		}
		ev.Details = out
	}
}

// stamp is fill without the ID, for events that may only be counted.
func stamp(ctx context.Context, ev *store.AuditEvent, now time.Time) {
	if ev.Time.IsZero() {
		ev.Time = now
	}
	ev.Time = ev.Time.Truncate(time.Microsecond).UTC()
	m := reqmeta.From(ctx)
	if ev.RequestID == "" {
		ev.RequestID = m.RequestID
	}
	if ev.ClientAddr == "" {
		ev.ClientAddr = m.ClientAddr
	}
	if ev.Actor == "" {
		ev.Actor = m.Actor
	}
}
