package storetest

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

func webhook(id string, due time.Time) store.Webhook {
	return store.Webhook{
		ID: id, EventType: "key.revoked", Payload: json.RawMessage(`{"key_id":"key_1"}`),
		CreatedAt: due, NextAttemptAt: due,
	}
}

// chain builds n audit events after head, hashed the simple way (the audit
// package owns the real format; the store only keeps the bytes).
func chain(head store.AuditHead, n int, mk func(i int, e *store.AuditEvent)) []store.AuditEvent {
	out := make([]store.AuditEvent, n)
	prev := head.Hash
	for i := range out {
		e := store.AuditEvent{
			Seq: head.Seq + int64(i) + 1, ID: fmt.Sprintf("evt_%d", head.Seq+int64(i)+1), Time: at(time.Duration(head.Seq+int64(i)) * time.Minute),
			Actor: "system", Action: "token.issue", Target: "client:cli_1", TenantID: "ten_a", Outcome: "success",
			RequestID: "req", ClientAddr: "192.0.2.1", PrevHash: prev,
		}
		if mk != nil {
			mk(i, &e)
		}
		h := sha256.Sum256(append(append([]byte{}, prev...), e.ID...))
		e.Hash = h[:]
		prev = e.Hash
		out[i] = e
	}
	return out
}

func appendAudit(t *testing.T, s store.Store, n int, mk func(i int, e *store.AuditEvent)) []store.AuditEvent {
	t.Helper()
	ctx := ctxOf(t)
	var evs []store.AuditEvent
	must(t, s.Tx(ctx, func(tx store.Tx) error {
		head, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		evs = chain(head, n, mk)
		return tx.InsertAudit(ctx, evs)
	}))
	return evs
}

func testAudit(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	must(t, s.Tx(ctx, func(tx store.Tx) error {
		head, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		if head.Seq != 0 || head.Hash != nil {
			return fmt.Errorf("head of an empty log = %+v", head)
		}
		return nil
	}))
	// Details are kept byte for byte: the hash chain covers them.
	details := json.RawMessage("{\"b\": 1,  \"a\":[\"\\u00e9\", \"é\"]}\n")
	evs := appendAudit(t, s, 5, func(i int, e *store.AuditEvent) {
		if i == 1 {
			e.Outcome, e.ErrorCode, e.Action, e.Target = "refused", "key_revoked", "token.refuse", "key:key_1"
			e.Details = details
		}
		if i == 3 {
			e.Outcome, e.ErrorCode, e.Action, e.TenantID = "refused", "owner_suspended", "token.refuse", "ten_b"
		}
	})
	evs = append(evs, appendAudit(t, s, 3, nil)...)

	all, next, err := s.ListAudit(ctx, store.AuditFilter{}, store.Page{})
	must(t, err)
	if d := diff(all, evs); d != "" || next != "" {
		t.Fatalf("ListAudit (next %q):%s", next, d)
	}
	if !slices.Equal(all[1].Details, details) {
		t.Fatalf("details came back as %q", all[1].Details)
	}

	seqs := func(es []store.AuditEvent) []int64 {
		var out []int64
		for _, e := range es {
			out = append(out, e.Seq)
		}
		return out
	}
	for _, c := range []struct {
		name string
		f    store.AuditFilter
		want []int64
	}{
		{"outcome", store.AuditFilter{Outcome: "refused"}, []int64{2, 4}},
		{"code", store.AuditFilter{ErrorCode: "key_revoked"}, []int64{2}},
		{"target", store.AuditFilter{Target: "key:key_1"}, []int64{2}},
		{"tenant", store.AuditFilter{TenantID: "ten_b"}, []int64{4}},
		{"action and actor", store.AuditFilter{Action: "token.issue", Actor: "system"}, []int64{1, 3, 5, 6, 7, 8}},
		{"since, until", store.AuditFilter{Since: ptr(at(2 * time.Minute)), Until: ptr(at(5 * time.Minute))}, []int64{3, 4, 5}},
		{"descending", store.AuditFilter{Descending: true, Outcome: "success"}, []int64{8, 7, 6, 5, 3, 1}},
	} {
		var got []int64
		p := store.Page{Limit: 2}
		for {
			page, next, err := s.ListAudit(ctx, c.f, p)
			must(t, err)
			got = append(got, seqs(page)...)
			if next == "" {
				break
			}
			p.After = next
		}
		if d := diff(got, c.want); d != "" {
			t.Errorf("ListAudit by %s, in pages of 2:%s", c.name, d)
		}
	}
	_, _, err = s.ListAudit(ctx, store.AuditFilter{}, store.Page{After: "not-a-seq"})
	if err == nil {
		t.Error("ListAudit accepted a malformed cursor")
	}

	counts, err := s.CountAuditByCode(ctx, store.AuditFilter{})
	must(t, err)
	if d := diff(counts, map[string]int64{"": 6, "key_revoked": 1, "owner_suspended": 1}); d != "" {
		t.Errorf("CountAuditByCode:%s", d)
	}
	counts, err = s.CountAuditByCode(ctx, store.AuditFilter{Outcome: "refused", Until: ptr(at(2 * time.Minute))})
	must(t, err)
	if d := diff(counts, map[string]int64{"key_revoked": 1}); d != "" {
		t.Errorf("CountAuditByCode(refused, until 2m):%s", d)
	}

	// Events that do not continue the chain are refused and leave nothing.
	for _, c := range []struct {
		name string
		evs  func(head store.AuditHead) []store.AuditEvent
	}{
		{"a gap after the head", func(h store.AuditHead) []store.AuditEvent { h.Seq++; return chain(h, 1, nil) }},
		{"behind the head", func(h store.AuditHead) []store.AuditEvent { h.Seq--; return chain(h, 1, nil) }},
		{"a gap inside the batch", func(h store.AuditHead) []store.AuditEvent {
			es := chain(h, 3, nil)
			return append(es[:1], es[2])
		}},
	} {
		err := s.Tx(ctx, func(tx store.Tx) error {
			head, err := tx.AuditHead(ctx)
			if err != nil {
				return err
			}
			return tx.InsertAudit(ctx, c.evs(head))
		})
		if err == nil {
			t.Errorf("InsertAudit accepted %s", c.name)
		}
	}
	all, _, err = s.ListAudit(ctx, store.AuditFilter{}, store.Page{})
	must(t, err)
	if len(all) != len(evs) {
		t.Fatalf("refused inserts left %d events, want %d", len(all), len(evs))
	}
}

// testAuditHeadLock: concurrent appenders, each reading the head and
// inserting after it, never fork the chain.
func testAuditHeadLock(t *testing.T, s store.Store) {
	const writers, each = 8, 5
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			for range each {
				errs[w] = s.Tx(ctxOf(t), func(tx store.Tx) error {
					head, err := tx.AuditHead(ctxOf(t))
					if err != nil {
						return err
					}
					evs := chain(head, 2, func(i int, e *store.AuditEvent) { e.ID = fmt.Sprintf("evt_%d_%d", w, e.Seq) })
					return tx.InsertAudit(ctxOf(t), evs)
				})
				if errs[w] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	var all []store.AuditEvent
	p := store.Page{Limit: store.MaxLimit}
	for {
		page, next, err := s.ListAudit(ctxOf(t), store.AuditFilter{}, p)
		must(t, err)
		all = append(all, page...)
		if next == "" {
			break
		}
		p.After = next
	}
	if len(all) != writers*each*2 {
		t.Fatalf("%d events, want %d", len(all), writers*each*2)
	}
	var prev []byte
	for i, e := range all {
		if e.Seq != int64(i+1) || !slices.Equal(e.PrevHash, prev) {
			t.Fatalf("event %d (seq %d) does not continue the chain", i, e.Seq)
		}
		prev = e.Hash
	}
	must(t, s.Tx(ctxOf(t), func(tx store.Tx) error {
		head, err := tx.AuditHead(ctxOf(t))
		if err == nil && (head.Seq != int64(len(all)) || !slices.Equal(head.Hash, prev)) {
			err = fmt.Errorf("head %d, want %d and the last hash", head.Seq, len(all))
		}
		return err
	}))
}

// listAllAudit returns the whole audit log, in seq order.
func listAllAudit(t *testing.T, s store.Store) []store.AuditEvent {
	t.Helper()
	var all []store.AuditEvent
	p := store.Page{Limit: store.MaxLimit}
	for {
		page, next, err := s.ListAudit(ctxOf(t), store.AuditFilter{}, p)
		must(t, err)
		all = append(all, page...)
		if next == "" {
			return all
		}
		p.After = next
	}
}

// headOf reads the audit head.
func headOf(t *testing.T, s store.Store) store.AuditHead {
	t.Helper()
	var h store.AuditHead
	must(t, s.Tx(ctxOf(t), func(tx store.Tx) (err error) {
		h, err = tx.AuditHead(ctxOf(t))
		return err
	}))
	return h
}

// testAuditAppend: AppendAudit stores events chained after the head it is
// told, in a transaction of its own; told a head that is not the head's
// seq and hash, it writes nothing and says ErrConflict. It mixes with
// appends under the head's lock.
func testAuditAppend(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	must(t, s.AppendAudit(ctx, nil))
	details := json.RawMessage(`{"jti":"j1", "b": "\u00e9"}`)
	evs := chain(store.AuditHead{}, 3, func(i int, e *store.AuditEvent) {
		if i == 1 {
			e.Details, e.ErrorCode, e.Outcome = details, "invalid_scope", "refused"
		}
	})
	must(t, s.AppendAudit(ctx, evs)) // the first events ever: no previous hash
	evs = append(evs, appendAudit(t, s, 2, nil)...)
	head := headOf(t, s)
	if head.Seq != 5 || !slices.Equal(head.Hash, evs[4].Hash) {
		t.Fatalf("head %d, want 5 and the last hash", head.Seq)
	}
	more := chain(head, 1, nil)
	must(t, s.AppendAudit(ctx, more))
	evs = append(evs, more...)
	if d := diff(listAllAudit(t, s), evs); d != "" {
		t.Fatalf("ListAudit after AppendAudit:%s", d)
	}

	head = headOf(t, s)
	for _, c := range []struct {
		name string
		evs  []store.AuditEvent
	}{
		{"behind the head", chain(store.AuditHead{Seq: head.Seq - 1, Hash: evs[len(evs)-2].Hash}, 2, nil)},
		{"a gap after the head", chain(store.AuditHead{Seq: head.Seq + 1, Hash: head.Hash}, 1, nil)},
		{"the head's seq with another hash", chain(store.AuditHead{Seq: head.Seq, Hash: []byte("forked")}, 2, nil)},
		{"the head's seq with no hash", chain(store.AuditHead{Seq: head.Seq}, 1, nil)},
	} {
		wantErr(t, s.AppendAudit(ctx, c.evs), store.ErrConflict, "AppendAudit of events "+c.name)
	}
	gap := chain(head, 3, nil)
	if err := s.AppendAudit(ctx, append(gap[:1], gap[2])); err == nil {
		t.Error("AppendAudit accepted a gap inside the batch")
	}
	if d := diff(listAllAudit(t, s), evs); d != "" {
		t.Fatalf("refused appends left:%s", d)
	}
	if h := headOf(t, s); h.Seq != head.Seq || !slices.Equal(h.Hash, head.Hash) {
		t.Fatalf("refused appends moved the head to %d", h.Seq)
	}

	// Writers that all believe the same head: one wins, the others are
	// told, and the chain stays one.
	const writers = 8
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			errs[w] = s.AppendAudit(ctx, chain(head, 2, func(_ int, e *store.AuditEvent) { e.ID = fmt.Sprintf("evt_w%d_%d", w, e.Seq) }))
		})
	}
	wg.Wait()
	won := 0
	for w, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("writer %d: %v, want success or ErrConflict", w, err)
		}
	}
	all := listAllAudit(t, s)
	if won != 1 || len(all) != len(evs)+2 {
		t.Fatalf("%d of %d writers appended after one head; %d events, want %d", won, writers, len(all), len(evs)+2)
	}
	var prev []byte
	for i, e := range all {
		if e.Seq != int64(i+1) || !slices.Equal(e.PrevHash, prev) {
			t.Fatalf("event %d (seq %d) does not continue the chain", i, e.Seq)
		}
		prev = e.Hash
	}
}

func testAssertionJTI(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	must(t, s.InsertAssertionJTI(ctx, "cli_1", "jti-1", at(time.Minute)))
	wantErr(t, s.InsertAssertionJTI(ctx, "cli_1", "jti-1", at(time.Minute)), store.ErrConflict, "replaying a jti")
	must(t, s.InsertAssertionJTI(ctx, "cli_2", "jti-1", at(time.Minute))) // per client

	// Concurrent uses of one assertion: exactly one wins.
	const n = 12
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = s.InsertAssertionJTI(ctx, "cli_1", "jti-race", at(time.Minute)) })
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("a concurrent replay failed with %v, want ErrConflict", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d of %d concurrent uses of one jti succeeded, want exactly 1", wins, n)
	}
}

func testRevokedTokens(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	if r, err := s.TokenRevoked(ctx, "jti-1"); err != nil || r {
		t.Fatalf("TokenRevoked before revocation = %v, %v", r, err)
	}
	must(t, s.RevokeToken(ctx, "jti-1", at(time.Minute)))
	must(t, s.RevokeToken(ctx, "jti-1", at(time.Minute))) // twice is fine
	if r, err := s.TokenRevoked(ctx, "jti-1"); err != nil || !r {
		t.Fatalf("TokenRevoked after revocation = %v, %v", r, err)
	}
	if r, _ := s.TokenRevoked(ctx, "jti-2"); r {
		t.Fatal("an unrelated jti reads as revoked")
	}
}

func testPurgeExpired(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	now := at(30 * 24 * time.Hour)
	must(t, s.InsertAssertionJTI(ctx, "cli_1", "old", now.Add(-time.Second)))
	must(t, s.InsertAssertionJTI(ctx, "cli_1", "live", now.Add(time.Second)))
	must(t, s.RevokeToken(ctx, "old", now.Add(-time.Hour)))
	must(t, s.RevokeToken(ctx, "live", now.Add(time.Hour)))
	must(t, s.RevokeToken(ctx, "edge", now)) // expiring exactly now is kept
	for _, w := range []struct {
		id        string
		created   time.Time
		delivered *time.Time
	}{
		{"whk_old", now.Add(-10 * 24 * time.Hour), ptr(now.Add(-8 * 24 * time.Hour))},
		{"whk_recent", now.Add(-10 * 24 * time.Hour), ptr(now.Add(-6 * 24 * time.Hour))},
		{"whk_pending", now.Add(-10 * 24 * time.Hour), nil},
		// Never delivered for over a month: long given up by any retry policy.
		{"whk_abandoned", now.Add(-31 * 24 * time.Hour), nil},
	} {
		wh := webhook(w.id, w.created)
		wh.DeliveredAt = w.delivered
		must(t, s.EnqueueWebhook(ctx, wh))
	}
	n, err := s.PurgeExpired(ctx, now)
	must(t, err)
	if n != 4 {
		t.Fatalf("PurgeExpired removed %d rows, want 4", n)
	}
	wantErr(t, s.InsertAssertionJTI(ctx, "cli_1", "live", now), store.ErrConflict, "a live jti after purge")
	must(t, s.InsertAssertionJTI(ctx, "cli_1", "old", now.Add(time.Minute))) // purged: usable again
	for jti, want := range map[string]bool{"old": false, "live": true, "edge": true} {
		if r, _ := s.TokenRevoked(ctx, jti); r != want {
			t.Errorf("TokenRevoked(%s) after purge = %v", jti, r)
		}
	}
	ws, _, err := s.ListWebhooks(ctx, store.WebhookFilter{}, store.Page{})
	must(t, err)
	var ids []string
	for _, w := range ws {
		ids = append(ids, w.ID)
	}
	if d := diff(ids, []string{"whk_pending", "whk_recent"}); d != "" {
		t.Errorf("webhooks after purge:%s", d)
	}
	if n, _ := s.PurgeExpired(ctx, now); n != 0 {
		t.Errorf("a second purge removed %d rows", n)
	}
}

func testWebhooks(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	now := at(time.Hour)
	for i, due := range []time.Time{now.Add(-time.Minute), now, now.Add(time.Minute), now.Add(-2 * time.Minute)} {
		must(t, s.EnqueueWebhook(ctx, webhook("whk_"+strconv.Itoa(i), due)))
	}
	wantErr(t, s.EnqueueWebhook(ctx, webhook("whk_0", now)), store.ErrConflict, "enqueueing a webhook id twice")

	got, err := s.ClaimWebhooks(ctx, now, 30*time.Second, 10)
	must(t, err)
	var ids []string
	for _, w := range got {
		ids = append(ids, w.ID)
		if !w.NextAttemptAt.Equal(now.Add(30 * time.Second)) {
			t.Errorf("claimed %s has NextAttemptAt %v, want now+lease", w.ID, w.NextAttemptAt)
		}
	}
	if d := diff(ids, []string{"whk_3", "whk_0", "whk_1"}); d != "" {
		t.Fatalf("ClaimWebhooks (due now, by creation):%s", d)
	}
	if again, _ := s.ClaimWebhooks(ctx, now.Add(29*time.Second), 30*time.Second, 10); len(again) != 0 {
		t.Fatalf("claimed again within the lease: %d webhooks", len(again))
	}

	must(t, s.MarkWebhookDelivered(ctx, "whk_0", now))
	must(t, s.MarkWebhookFailed(ctx, "whk_1", 1, now.Add(time.Hour), "503 from receiver"))
	wantErr(t, s.MarkWebhookDelivered(ctx, "whk_missing", now), store.ErrNotFound, "delivering a missing webhook")
	wantErr(t, s.MarkWebhookFailed(ctx, "whk_missing", 1, now, "x"), store.ErrNotFound, "failing a missing webhook")

	got, err = s.ClaimWebhooks(ctx, now.Add(31*time.Second), time.Minute, 1)
	must(t, err)
	if len(got) != 1 || got[0].ID != "whk_3" {
		t.Fatalf("after the lease, with limit 1: %+v", got)
	}
	pending, _, err := s.ListWebhooks(ctx, store.WebhookFilter{Pending: true}, store.Page{})
	must(t, err)
	if len(pending) != 3 {
		t.Fatalf("%d pending webhooks, want 3", len(pending))
	}
	for _, w := range pending {
		if w.ID == "whk_1" && (w.Attempts != 1 || w.LastError != "503 from receiver" || !w.NextAttemptAt.Equal(now.Add(time.Hour))) {
			t.Errorf("failed webhook = %+v", w)
		}
		if string(w.Payload) != `{"key_id":"key_1"}` {
			t.Errorf("payload = %s", w.Payload)
		}
	}
}

// testClaimWebhooksConcurrently: concurrent claimers never get the same
// webhook.
func testClaimWebhooksConcurrently(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	const total, claimers = 60, 6
	for i := range total {
		must(t, s.EnqueueWebhook(ctx, webhook(fmt.Sprintf("whk_%03d", i), at(time.Duration(i)*time.Millisecond))))
	}
	now := at(time.Hour)
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	errs := make([]error, claimers)
	for c := range claimers {
		wg.Go(func() {
			for {
				ws, err := s.ClaimWebhooks(ctx, now, time.Hour, 4)
				if err != nil || len(ws) == 0 {
					errs[c] = err
					return
				}
				mu.Lock()
				for _, w := range ws {
					seen[w.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	if len(seen) != total {
		t.Fatalf("%d distinct webhooks claimed, want %d", len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("%s claimed %d times", id, n)
		}
	}
}

func testStatusList(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	_, err := s.GetStatusIndex(ctx, "client:cli_1")
	wantErr(t, err, store.ErrNotFound, "GetStatusIndex before allocation")
	alloc := func(cred string) int64 {
		t.Helper()
		idx, err := s.AllocateStatusIndex(ctx, cred, t0)
		must(t, err)
		return idx
	}
	for i, cred := range []string{"client:cli_1", "key:key_1", "key:key_2"} {
		if idx := alloc(cred); idx != int64(i) {
			t.Fatalf("first allocation for %s = %d, want %d", cred, idx, i)
		}
	}
	if idx := alloc("key:key_1"); idx != 1 {
		t.Fatalf("allocating again for key_1 = %d, want its current 1", idx)
	}
	if idx, err := s.GetStatusIndex(ctx, "key:key_1"); err != nil || idx != 1 {
		t.Fatalf("GetStatusIndex(key_1) = %d, %v", idx, err)
	}
	if _, err := s.AllocateStatusIndex(ctx, "not-a-credential", t0); err == nil {
		t.Fatal("AllocateStatusIndex accepted a credential without a kind")
	}

	must(t, s.InvalidateStatusIndex(ctx, "key:key_1", at(time.Hour)))
	must(t, s.InvalidateStatusIndex(ctx, "key:key_1", at(2*time.Hour))) // no current index: no-op
	_, err = s.GetStatusIndex(ctx, "key:key_1")
	wantErr(t, err, store.ErrNotFound, "GetStatusIndex after invalidation")
	// Index 1 is not free until purged: tokens carrying it must stay invalid.
	if idx := alloc("key:key_1"); idx != 3 {
		t.Fatalf("allocation after invalidation = %d, want the next new index 3", idx)
	}
	must(t, s.InvalidateStatusIndex(ctx, "client:cli_1", at(3*time.Hour)))

	n, err := s.PurgeStatusEntries(ctx, at(2*time.Hour)) // frees index 1, keeps 0
	must(t, err)
	if n != 1 {
		t.Fatalf("PurgeStatusEntries removed %d entries, want 1", n)
	}
	if idx := alloc("client:cli_9"); idx != 1 {
		t.Fatalf("allocation after purge = %d, want the freed 1", idx)
	}
	if idx := alloc("client:cli_8"); idx != 4 {
		t.Fatalf("allocation after the free list ran out = %d, want 4", idx)
	}
	n, err = s.PurgeStatusEntries(ctx, at(4*time.Hour)) // frees 0
	must(t, err)
	if n != 1 {
		t.Fatalf("second purge removed %d entries, want 1", n)
	}
	if idx := alloc("client:cli_1"); idx != 0 {
		t.Fatalf("allocation after freeing 0 = %d, want 0", idx)
	}
}

// testAllocateStatusIndexConcurrently: concurrent callers for one
// credential all get the same index, and distinct credentials distinct ones.
func testAllocateStatusIndexConcurrently(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	const n = 10
	var wg sync.WaitGroup
	same := make([]int64, n)
	other := make([]int64, n)
	errs := make([]error, 2*n)
	for i := range n {
		wg.Go(func() { same[i], errs[i] = s.AllocateStatusIndex(ctx, "client:cli_1", t0) })
		wg.Go(func() { other[i], errs[n+i] = s.AllocateStatusIndex(ctx, fmt.Sprintf("key:key_%d", i), t0) })
	}
	wg.Wait()
	for _, err := range errs {
		must(t, err)
	}
	for _, idx := range same {
		if idx != same[0] {
			t.Fatalf("concurrent allocations for one credential got %v", same)
		}
	}
	all := append(slices.Clone(other), same[0])
	slices.Sort(all)
	for i, idx := range all {
		if idx != int64(i) {
			t.Fatalf("indices %v are not 0..%d without gaps or repeats", all, n)
		}
	}
}

func testStatusEntries(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	must(t, s.CreateTenant(ctx, tenant("ten_a")))
	susp := tenant("ten_s")
	susp.Status = store.StatusSuspended
	must(t, s.CreateTenant(ctx, susp))
	must(t, s.CreatePrincipal(ctx, principal("prn_1", "ten_a")))
	p2 := principal("prn_2", "ten_s")
	p2.Status = store.StatusDeleted
	must(t, s.CreatePrincipal(ctx, p2))
	c := client("cli_1", "ten_a", "prn_1")
	c.Status = store.StatusSuspended
	must(t, s.CreateClient(ctx, c))
	k := legacyKey("key_1", "ten_s", "prn_2")
	k.ExpiresAt = ptr(at(time.Hour))
	must(t, s.CreateLegacyKey(ctx, k))

	for _, cred := range []string{"client:cli_1", "key:key_1", "key:key_gone", "client:cli_gone"} {
		_, err := s.AllocateStatusIndex(ctx, cred, t0)
		must(t, err)
	}
	must(t, s.InvalidateStatusIndex(ctx, "key:key_gone", at(time.Minute)))
	all := []store.StatusEntry{
		{Idx: 0, Credential: "client:cli_1", CredentialStatus: store.StatusSuspended, OwnerStatus: store.StatusActive, TenantStatus: store.StatusActive},
		{Idx: 1, Credential: "key:key_1", CredentialStatus: store.StatusActive, CredentialExpiresAt: ptr(at(time.Hour)),
			OwnerStatus: store.StatusDeleted, TenantStatus: store.StatusSuspended},
		{Idx: 2, Credential: "key:key_gone", InvalidatedAt: ptr(at(time.Minute))},
		{Idx: 3, Credential: "client:cli_gone"},
	}
	for _, c := range []struct {
		after int64
		limit int
		want  []store.StatusEntry
	}{{-1, 0, all}, {0, 2, all[1:3]}, {3, 10, nil}} {
		got, err := s.ListStatusEntries(ctx, c.after, c.limit)
		must(t, err)
		if d := diff(got, c.want); d != "" {
			t.Errorf("ListStatusEntries(%d, %d):%s", c.after, c.limit, d)
		}
	}
}

// testStatusExceptions: ListStatusExceptions finds exactly the entries its
// contract names, each as ListStatusEntries reads it, and the list's
// extent. Times: now is at(2h), since at(1h).
func testStatusExceptions(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	now, since := at(2*time.Hour), at(time.Hour)
	before, after := at(30*time.Minute), at(90*time.Minute) // of since
	var got []store.StatusEntry
	collect := func(e store.StatusEntry) error { got = append(got, e); return nil }
	empty, err := s.ListStatusExceptions(ctx, now, since, at(24*time.Hour), collect)
	must(t, err)
	if len(got) != 0 || empty.Top != -1 || empty.Count != 0 || empty.NextExpiry != nil {
		t.Fatalf("ListStatusExceptions on an empty list = %+v, %+v", got, empty)
	}
	must(t, s.CreateTenant(ctx, tenant("ten_a")))
	off := tenant("ten_s")
	off.Status = store.StatusSuspended
	must(t, s.CreateTenant(ctx, off))
	principals := map[string]func(*store.Principal){
		"prn_ok":  nil,
		"prn_sus": func(p *store.Principal) { p.Status = store.StatusSuspended }, // long ago: still read
		"prn_del": func(p *store.Principal) {
			p.Status, p.StatusChangedAt, p.DeletedAt = store.StatusDeleted, after, &after
		},
		"prn_old": func(p *store.Principal) {
			p.Status, p.StatusChangedAt, p.DeletedAt = store.StatusDeleted, before, &before
		},
	}
	for id, f := range principals {
		p := principal(id, "ten_a")
		if f != nil {
			f(&p)
		}
		must(t, s.CreatePrincipal(ctx, p))
	}
	must(t, s.CreatePrincipal(ctx, principal("prn_s", "ten_s")))
	clients := []struct {
		id, tenant, owner string
		status            store.Status
		want              bool
	}{
		{"cli_ok", "ten_a", "prn_ok", store.StatusActive, false},
		{"cli_sus", "ten_a", "prn_ok", store.StatusSuspended, true},
		{"cli_of_sus", "ten_a", "prn_sus", store.StatusActive, true},
		{"cli_of_del", "ten_a", "prn_del", store.StatusActive, true},
		{"cli_of_old", "ten_a", "prn_old", store.StatusActive, false},
		{"cli_in_off", "ten_s", "prn_s", store.StatusActive, true},
	}
	want := map[string]bool{}
	for _, c := range clients {
		cl := client(c.id, c.tenant, c.owner)
		cl.Status = c.status
		must(t, s.CreateClient(ctx, cl))
		want["client:"+c.id] = c.want
	}
	keys := []struct {
		id, tenant, owner string
		change            func(*store.LegacyKey)
		want              bool
	}{
		{"key_ok", "ten_a", "prn_ok", func(k *store.LegacyKey) { k.ExpiresAt = ptr(at(3 * time.Hour)) }, false},
		{"key_rev", "ten_a", "prn_ok", func(k *store.LegacyKey) { k.Status, k.RevokedAt = store.StatusRevoked, &after }, true},
		{"key_rev_old", "ten_a", "prn_ok", func(k *store.LegacyKey) { k.Status, k.RevokedAt = store.StatusRevoked, &before }, false},
		{"key_exp", "ten_a", "prn_ok", func(k *store.LegacyKey) { k.ExpiresAt = &after }, true},
		{"key_exp_old", "ten_a", "prn_ok", func(k *store.LegacyKey) { k.ExpiresAt = &before }, false},
		{"key_of_sus", "ten_a", "prn_sus", nil, true},
		{"key_of_del", "ten_a", "prn_del", nil, true},
		{"key_of_old", "ten_a", "prn_old", nil, false},
		{"key_in_off", "ten_s", "prn_s", nil, true},
		{"key_ended", "ten_a", "prn_ok", nil, true},   // invalidated: always read
		{"key_purged", "ten_a", "prn_ok", nil, false}, // freed
	}
	for _, c := range keys {
		k := legacyKey(c.id, c.tenant, c.owner)
		if c.change != nil {
			c.change(&k)
		}
		must(t, s.CreateLegacyKey(ctx, k))
		want["key:"+c.id] = c.want
	}
	// Expires before key_ok but holds no index: not the next expiry.
	idle := legacyKey("key_idle", "ten_a", "prn_ok")
	idle.ExpiresAt = ptr(at(150 * time.Minute))
	must(t, s.CreateLegacyKey(ctx, idle))

	for _, cred := range slices.Sorted(maps.Keys(want)) {
		_, err := s.AllocateStatusIndex(ctx, cred, t0)
		must(t, err)
	}
	must(t, s.InvalidateStatusIndex(ctx, "key:key_purged", t0))
	must(t, s.InvalidateStatusIndex(ctx, "key:key_ended", before))
	if _, err := s.PurgeStatusEntries(ctx, at(time.Minute)); err != nil {
		t.Fatal(err)
	}

	all, err := s.ListStatusEntries(ctx, -1, 1000)
	must(t, err)
	var wantEntries []store.StatusEntry
	for _, e := range all {
		if want[e.Credential] {
			wantEntries = append(wantEntries, e)
		}
	}
	ext, err := s.ListStatusExceptions(ctx, now, since, at(24*time.Hour), collect)
	must(t, err)
	if d := diff(got, wantEntries); d != "" {
		t.Errorf("ListStatusExceptions entries:%s", d)
	}
	if top := all[len(all)-1].Idx; ext.Top != top || ext.Count != int64(len(all)) {
		t.Errorf("ListStatusExceptions: top %d, count %d; want %d, %d", ext.Top, ext.Count, top, len(all))
	}
	if ext.NextExpiry == nil || !ext.NextExpiry.Equal(at(3*time.Hour)) {
		t.Errorf("ListStatusExceptions: next expiry %v, want key_ok's %v", ext.NextExpiry, at(3*time.Hour))
	}

	// Expiries beyond the horizon are not looked for.
	for _, c := range []struct {
		horizon time.Time
		want    *time.Time
	}{{at(3 * time.Hour), ptr(at(3 * time.Hour))}, {at(3*time.Hour - time.Microsecond), nil}} {
		ext, err := s.ListStatusExceptions(ctx, now, since, c.horizon, func(store.StatusEntry) error { return nil })
		must(t, err)
		if d := diff(ext.NextExpiry, c.want); d != "" {
			t.Errorf("ListStatusExceptions next expiry up to %v:%s", c.horizon, d)
		}
	}

	// An error from each stops the listing and comes back.
	stop := errors.New("stop")
	calls := 0
	_, err = s.ListStatusExceptions(ctx, now, since, at(24*time.Hour), func(store.StatusEntry) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("ListStatusExceptions with each failing: %v after %d calls, want %v after 1", err, calls, stop)
	}
}
