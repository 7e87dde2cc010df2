package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/reqmeta"
	"github.com/authz/authz/store"
)

func event(action string) store.AuditEvent {
	return store.AuditEvent{Action: action, Target: "tenant:ten_1", TenantID: "ten_1", Outcome: OutcomeSuccess}
}

func headOf(t *testing.T, st store.Store) store.AuditHead {
	t.Helper()
	var h store.AuditHead
	if err := st.Tx(context.Background(), func(tx store.Tx) error {
		var err error
		h, err = tx.AuditHead(context.Background())
		return err
	}); err != nil {
		t.Fatalf("read head: %v", err)
	}
	return h
}

func allEvents(t *testing.T, st store.Store) []store.AuditEvent {
	t.Helper()
	var out []store.AuditEvent
	cursor := ""
	for {
		page, next, err := st.ListAudit(context.Background(), store.AuditFilter{}, store.Page{Limit: store.MaxLimit, After: cursor})
		if err != nil {
			t.Fatalf("ListAudit: %v", err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		cursor = next
	}
}

func appendTx(t *testing.T, st store.Store, evs ...store.AuditEvent) {
	t.Helper()
	if err := st.Tx(context.Background(), func(tx store.Tx) error { return Append(context.Background(), tx, evs...) }); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func mustVerify(t *testing.T, st store.Store, events int64) {
	t.Helper()
	rep, err := Verify(context.Background(), st)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !rep.OK || rep.FirstBreak != nil || rep.Events != events || rep.Head != events {
		t.Fatalf("Verify = %+v (break %+v), want OK over %d events", rep, rep.FirstBreak, events)
	}
}

func TestAppendCommitsOrVanishesWithItsTransaction(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		appendTx(t, b.st, event("tenant.create"))
		before := headOf(t, b.st)

		boom := errors.New("admin change failed after its audit event")
		err := b.st.Tx(ctx, func(tx store.Tx) error {
			if err := Append(ctx, tx, event("tenant.suspend"), event("principal.suspend")); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx = %v, want the change's error", err)
		}
		if after := headOf(t, b.st); after.Seq != before.Seq || string(after.Hash) != string(before.Hash) {
			t.Fatalf("head moved by a rolled-back Append: %d -> %d", before.Seq, after.Seq)
		}
		if evs := allEvents(t, b.st); len(evs) != 1 || evs[0].Action != "tenant.create" {
			t.Fatalf("events after rollback: %+v, want only tenant.create", evs)
		}

		// An invalid event is refused before anything is written.
		err = b.st.Tx(ctx, func(tx store.Tx) error {
			return Append(ctx, tx, event("tenant.resume"), store.AuditEvent{Action: "x", Details: json.RawMessage(`{`)})
		})
		if !errors.Is(err, ErrInvalidEvent) {
			t.Fatalf("Append of invalid details = %v, want ErrInvalidEvent", err)
		}

		// The chain continues where it was.
		appendTx(t, b.st, event("tenant.resume"))
		if evs := allEvents(t, b.st); len(evs) != 2 || evs[1].Seq != 2 {
			t.Fatalf("events: %+v, want tenant.resume as seq 2", evs)
		}
		mustVerify(t, b.st, 2)
	})
}

func TestAppendFillsRequestMetadata(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := reqmeta.With(context.Background(), reqmeta.Meta{RequestID: "req-42", ClientAddr: "192.0.2.9", Actor: "admin:cli_root"})
		at := time.Date(2026, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CEST", 2*3600))
		explicit := event("principal.suspend")
		explicit.Actor, explicit.Time = "cli", at
		if err := b.st.Tx(ctx, func(tx store.Tx) error { return Append(ctx, tx, event("tenant.create"), explicit) }); err != nil {
			t.Fatal(err)
		}
		evs := allEvents(t, b.st)
		if len(evs) != 2 {
			t.Fatalf("got %d events", len(evs))
		}
		filled, kept := evs[0], evs[1]
		if filled.RequestID != "req-42" || filled.ClientAddr != "192.0.2.9" || filled.Actor != "admin:cli_root" {
			t.Fatalf("metadata not taken from the context: %+v", filled)
		}
		if !store.HasPrefix(filled.ID, store.PrefixEvent) || filled.Time.IsZero() {
			t.Fatalf("id %q / time %v not filled", filled.ID, filled.Time)
		}
		if kept.Actor != "cli" {
			t.Fatalf("explicit actor overwritten: %q", kept.Actor)
		}
		if want := at.Truncate(time.Microsecond).UTC(); !kept.Time.Equal(want) || kept.Time.Location() != time.UTC || kept.Time.Nanosecond()%1000 != 0 {
			t.Fatalf("time = %v, want %v (microseconds, UTC)", kept.Time, want)
		}
		mustVerify(t, b.st, 2)
	})
}

// Admin transactions on many goroutines (and, on PostgreSQL, many
// connections) queue on the head lock and never fork the chain.
func TestConcurrentAppendsKeepOneChain(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		const writers, each = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers*each)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					err := b.st.Tx(context.Background(), func(tx store.Tx) error {
						return Append(context.Background(), tx, event(fmt.Sprintf("w%d.%d", w, i)))
					})
					if err != nil {
						errs <- err
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("concurrent Append: %v", err)
		}
		mustVerify(t, b.st, writers*each)
	})
}
