package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/authz/authz/store"
)

// Problems Verify reports.
const (
	// ProblemAltered: the event's content, its hash or its link no longer
	// matches what was written (a field changed, a hash forged or
	// recomputed).
	ProblemAltered = "altered"
	// ProblemMissing: events were deleted (in the middle or at the end).
	ProblemMissing = "missing"
	// ProblemReordered: an intact event sits at another position than the
	// one it was written at.
	ProblemReordered = "reordered"
)

// Break is the first place where the log departs from the chain.
type Break struct {
	Seq int64 `json:"seq"`
	// Line is the line of an exported segment where the break is (1 is
	// the header), for VerifySegment; 0 for the store.
	Line    int    `json:"line,omitempty"`
	ID      string `json:"id,omitempty"` // "" when the event is missing
	Problem string `json:"problem"`
	Detail  string `json:"detail"`
}

// Report is the outcome of Verify.
type Report struct {
	// Events is how many events were checked (up to the break, if any).
	Events int64 `json:"events"`
	// AnchorSeq and AnchorHash are where the walk began: the last event
	// pruned (0 and "" when nothing was), or for a segment the event
	// before its first. The first event checked must link to AnchorHash.
	AnchorSeq  int64  `json:"anchor_seq"`
	AnchorHash string `json:"anchor_hash"`
	// Head is the sequence number of the last event according to the
	// store's chain head, and HeadHash its hash: record it elsewhere to
	// detect a rewrite of the whole log later.
	Head       int64  `json:"head"`
	HeadHash   string `json:"head_hash"`
	OK         bool   `json:"ok"`
	FirstBreak *Break `json:"first_break,omitempty"`
}

// reorderWindow bounds how far from its position Verify looks for the
// position a moved event was written at: a million hashes at most, spent
// only once a break is found.
const reorderWindow = 1 << 19

// Verify walks the audit log from its anchor (the last event pruned, or
// the beginning) in order, recomputing every hash, and compares its end
// with the chain head. It reads one page at a time, so memory stays
// bounded whatever the log's length. Events appended after Verify read the
// head are not checked.
//
// A prune that moves the anchor while Verify walks deletes events Verify
// has yet to read; Verify then starts again from the new anchor rather
// than report them missing.
//
// A break is reported, not returned as an error: the error is for a store
// that cannot be read.
func Verify(ctx context.Context, st store.Store) (Report, error) {
	for attempt := 0; ; attempt++ {
		rep, anchor, err := verifyOnce(ctx, st)
		if err != nil || rep.OK || rep.FirstBreak.Problem != ProblemMissing || attempt == 2 {
			return rep, err
		}
		now, err := st.AuditAnchor(ctx)
		if err != nil {
			return rep, fmt.Errorf("audit: read chain anchor: %w", err)
		}
		if now.Seq == anchor.Seq {
			return rep, nil // not a prune's doing
		}
	}
}

func verifyOnce(ctx context.Context, st store.Store) (Report, store.AuditAnchor, error) {
	anchor, err := st.AuditAnchor(ctx)
	if err != nil {
		return Report{}, anchor, fmt.Errorf("audit: read chain anchor: %w", err)
	}
	var head store.AuditHead
	err = st.Tx(ctx, func(tx store.Tx) error {
		var err error
		head, err = tx.AuditHead(ctx)
		return err
	})
	if err != nil {
		return Report{}, anchor, fmt.Errorf("audit: read chain head: %w", err)
	}
	rep := Report{Head: head.Seq, HeadHash: hex.EncodeToString(head.Hash),
		AnchorSeq: anchor.Seq, AnchorHash: hex.EncodeToString(anchor.Hash)}
	w := newWalker(anchor.Seq, anchor.Hash, head)
	cursor := strconv.FormatInt(anchor.Seq, 10)
walk:
	for {
		page, next, err := st.ListAudit(ctx, store.AuditFilter{}, store.Page{Limit: store.MaxLimit, After: cursor})
		if err != nil {
			return rep, anchor, fmt.Errorf("audit: read events after seq cursor %q: %w", cursor, err)
		}
		for _, ev := range page {
			if ev.Seq > head.Seq {
				break walk // appended after the head was read
			}
			rep.Events++
			if b := w.step(ev); b != nil {
				rep.FirstBreak = b
				return rep, anchor, nil
			}
		}
		if next == "" || len(page) == 0 {
			break
		}
		cursor = next
	}
	if b := w.end(); b != nil {
		rep.FirstBreak = b
		return rep, anchor, nil
	}
	rep.OK = true
	return rep, anchor, nil
}

// walker checks events one at a time, remembering only the last good one.
type walker struct {
	head   store.AuditHead
	first  int64  // the seq of the first event (the anchor's plus one)
	expect int64  // the seq the next event must have
	prev   []byte // hash of the last good event (the anchor's before the first)
	prevID string
}

// newWalker starts a walk after the anchor event anchorSeq, whose hash is
// anchorHash (0 and nil: from the beginning), up to head.
func newWalker(anchorSeq int64, anchorHash []byte, head store.AuditHead) walker {
	return walker{head: head, first: anchorSeq + 1, expect: anchorSeq + 1, prev: anchorHash}
}

func (w *walker) step(ev store.AuditEvent) *Break {
	if ev.Seq > w.expect {
		detail := fmt.Sprintf("event %d is missing", w.expect)
		if ev.Seq-w.expect > 1 {
			detail = fmt.Sprintf("events %d to %d are missing", w.expect, ev.Seq-1)
		}
		return &Break{Seq: w.expect, Problem: ProblemMissing, Detail: detail}
	}
	if ev.Seq < w.expect { // a store that lists out of order or repeats a seq
		return &Break{Seq: ev.Seq, ID: ev.ID, Problem: ProblemReordered,
			Detail: fmt.Sprintf("event %d appears after event %d", ev.Seq, w.expect-1)}
	}

	linked := bytes.Equal(ev.PrevHash, w.prev)
	if linked && bytes.Equal(Hash(w.prev, ev), ev.Hash) {
		w.expect++
		w.prev = ev.Hash
		w.prevID = ev.ID
		return nil
	}
	if at, ok := w.writtenAt(ev); ok {
		return &Break{Seq: ev.Seq, ID: ev.ID, Problem: ProblemReordered,
			Detail: fmt.Sprintf("event %s was written as event %d", ev.ID, at)}
	}
	if !linked && ev.Seq > w.first && bytes.Equal(Hash(ev.PrevHash, ev), ev.Hash) {
		// This event is intact, so its prev_hash is what the previous
		// event's hash was when this one was written: the previous event
		// was changed afterwards and its hash recomputed to match.
		return &Break{Seq: ev.Seq - 1, ID: w.prevID, Problem: ProblemAltered,
			Detail: fmt.Sprintf("event %d was changed and its hash recomputed: event %d links to the hash it had when written", ev.Seq-1, ev.Seq)}
	}
	if !linked {
		return &Break{Seq: ev.Seq, ID: ev.ID, Problem: ProblemAltered,
			Detail: fmt.Sprintf("event %d's prev_hash is not the hash of event %d", ev.Seq, ev.Seq-1)}
	}
	return &Break{Seq: ev.Seq, ID: ev.ID, Problem: ProblemAltered,
		Detail: fmt.Sprintf("event %d's content does not match its hash", ev.Seq)}
}

// writtenAt finds the other position at which ev, as stored, hashes to its
// own Hash: an intact event that was moved. Nearest positions are tried
// first.
func (w *walker) writtenAt(ev store.AuditEvent) (int64, bool) {
	last := max(w.head.Seq, ev.Seq)
	moved := ev
	for d := int64(1); d <= reorderWindow; d++ {
		below, above := ev.Seq-d, ev.Seq+d
		if below < w.first && above > last {
			break
		}
		for _, s := range [2]int64{below, above} {
			if s < w.first || s > last {
				continue
			}
			moved.Seq = s
			if bytes.Equal(Hash(ev.PrevHash, moved), ev.Hash) {
				return s, true
			}
		}
	}
	return 0, false
}

// end compares where the walk stopped with the chain head.
func (w *walker) end() *Break {
	last := w.expect - 1
	if last < w.head.Seq {
		detail := fmt.Sprintf("the head is event %d but the log ends at event %d", w.head.Seq, last)
		return &Break{Seq: w.expect, Problem: ProblemMissing, Detail: detail}
	}
	if !bytes.Equal(w.prev, w.head.Hash) {
		return &Break{Seq: last, ID: w.prevID, Problem: ProblemAltered,
			Detail: fmt.Sprintf("the chain head records another hash for event %d: it was changed and its hash recomputed", last)}
	}
	return nil
}
