package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// Segment describes an exported segment: the events FirstSeq..LastSeq,
// chained from PrevHash (the anchor they follow) to LastHash.
type Segment = SegmentHeader

// ErrNothingToExport: no event above the anchor is older than --until.
var ErrNothingToExport = errcode.New(errcode.NotFound, "no audit event above the anchor is older than until: nothing to export or prune; pick a later until")

// Export writes the segment of the log that ends with the latest event
// stamped before until (see store.Queries.AuditSegmentEnd) and begins
// after the anchor: a header line, then one JSON line per event with its
// hashes (see SegmentHeader and VerifySegment). Every event is checked
// against the chain as it is written, so a log that was tampered with is
// not exported as if it were sound: Export fails naming the break.
//
// The segment is a run of seqs, not of times: an event stamped before
// until but chained after the segment's last event (a late writer) stays
// for the next segment, and the segment may hold an event stamped a
// little after until. Nothing is lost and the chain is never cut.
func Export(ctx context.Context, st store.Store, until, now time.Time, out io.Writer) (Segment, error) {
	anchor, err := st.AuditAnchor(ctx)
	if err != nil {
		return Segment{}, fmt.Errorf("audit: read chain anchor: %w", err)
	}
	end, err := st.AuditSegmentEnd(ctx, anchor.Seq, until)
	if err != nil {
		return Segment{}, fmt.Errorf("audit: find the segment's end: %w", err)
	}
	if end.Seq == 0 {
		return Segment{}, ErrNothingToExport
	}
	seg := Segment{
		Format: SegmentFormat, FirstSeq: anchor.Seq + 1, LastSeq: end.Seq, Events: end.Seq - anchor.Seq,
		PrevHash: hex.EncodeToString(anchor.Hash), LastHash: hex.EncodeToString(end.Hash),
		Until: until.UTC(), ExportedAt: now.UTC().Truncate(time.Microsecond),
	}
	sw := newSegmentWriter(out)
	if err := sw.header(seg); err != nil {
		return seg, fmt.Errorf("audit: write segment: %w", err)
	}
	w := newWalker(anchor.Seq, anchor.Hash, store.AuditHead{Seq: end.Seq, Hash: end.Hash})
	cursor := strconv.FormatInt(anchor.Seq, 10)
walk:
	for {
		page, next, err := st.ListAudit(ctx, store.AuditFilter{}, store.Page{Limit: store.MaxLimit, After: cursor})
		if err != nil {
			return seg, fmt.Errorf("audit: read events after seq %s: %w", cursor, err)
		}
		for _, ev := range page {
			if ev.Seq > end.Seq {
				break walk
			}
			if b := w.step(ev); b != nil {
				return seg, chainError(b)
			}
			if err := sw.event(ev); err != nil {
				return seg, fmt.Errorf("audit: write segment: %w", err)
			}
		}
		if next == "" || len(page) == 0 {
			break
		}
		cursor = next
	}
	if b := w.end(); b != nil {
		return seg, chainError(b)
	}
	if err := sw.flush(); err != nil {
		return seg, fmt.Errorf("audit: write segment: %w", err)
	}
	return seg, nil
}

// chainError is a break met while exporting: the log must be looked at
// (authz audit verify) before anything is pruned.
func chainError(b *Break) error {
	return errcode.New(errcode.Conflict, fmt.Sprintf("the audit chain is broken at event %d (%s: %s); nothing was exported: run 'authz audit verify' and investigate before pruning", b.Seq, b.Problem, b.Detail))
}

// Pruned is the outcome of Prune.
type Pruned struct {
	// AnchorSeq and AnchorHash are the chain's new anchor: the last event
	// of the pruned segment.
	AnchorSeq  int64  `json:"anchor_seq"`
	AnchorHash string `json:"anchor_hash"`
	// Rows were deleted one by one; Partitions were dropped whole.
	Rows       int64 `json:"rows_deleted"`
	Partitions int   `json:"partitions_dropped"`
}

// PruneBatch is how many rows one transaction of a prune deletes: small
// enough that an audit flush waiting behind it waits milliseconds.
const PruneBatch = 500

// ErrAnchorInvalid: the anchor given to Prune is not a hash.
var ErrAnchorInvalid = errcode.New(errcode.RequestInvalid,
	"anchor: must be the 64 hex digits of the last hash that 'authz audit export' printed for the same until")

// Prune deletes the segment Export wrote for until, provided anchorHex is
// its last hash, as export printed it: the proof that the events about
// to go were exported as they are. The anchor moves to that event in one
// transaction (verification then starts there), and the events at or
// below it are deleted afterwards in short batches (store PruneAudit). A
// wrong or missing anchor is refused, naming what to do, and nothing
// changes.
//
// Pruning again with the anchor already in place finishes a deletion that
// was interrupted.
func Prune(ctx context.Context, st store.Store, until time.Time, anchorHex string, now time.Time) (Pruned, error) {
	want, err := hex.DecodeString(anchorHex)
	if err != nil || len(want) != 32 {
		return Pruned{}, ErrAnchorInvalid
	}
	var out Pruned
	err = st.Tx(ctx, func(tx store.Tx) error {
		anchor, err := tx.LockAuditAnchor(ctx)
		if err != nil {
			return fmt.Errorf("audit: lock chain anchor: %w", err)
		}
		end, err := tx.AuditSegmentEnd(ctx, anchor.Seq, until)
		if err != nil {
			return fmt.Errorf("audit: find the segment's end: %w", err)
		}
		if end.Seq == 0 && anchor.Seq > 0 && bytes.Equal(anchor.Hash, want) {
			out.AnchorSeq, out.AnchorHash = anchor.Seq, anchorHex
			return nil // pruned already: finish the deletion below
		}
		if end.Seq == 0 {
			return ErrNothingToExport
		}
		if !bytes.Equal(end.Hash, want) {
			return errcode.New(errcode.Conflict, fmt.Sprintf(
				"anchor: the segment up to %s ends at event %d, whose hash is %x, not %s; nothing was deleted. Export again with the same --until, verify the file, and pass the hash that export prints",
				until.UTC().Format(time.RFC3339Nano), end.Seq, end.Hash, anchorHex))
		}
		out.AnchorSeq, out.AnchorHash = end.Seq, anchorHex
		if err := tx.SetAuditAnchor(ctx, store.AuditAnchor{Seq: end.Seq, Hash: end.Hash, Time: end.Time, PrunedAt: now}); err != nil {
			return err
		}
		// The prune is itself on the chain, after the events it kept.
		details, _ := json.Marshal(map[string]any{"anchor_seq": end.Seq, "anchor_hash": anchorHex,
			"until": until.UTC().Format(time.RFC3339Nano), "from_seq": anchor.Seq + 1})
		return Append(ctx, tx, store.AuditEvent{Time: now, Action: "audit.prune", Target: "audit:" + strconv.FormatInt(end.Seq, 10),
			Outcome: OutcomeSuccess, Details: details})
	})
	if err != nil {
		return Pruned{}, err
	}
	res, err := st.PruneAudit(ctx, PruneBatch)
	out.Rows, out.Partitions = res.Rows, res.Partitions
	if err != nil {
		return out, fmt.Errorf("audit: the anchor is at event %d; deleting the events below it stopped (run the prune again to finish): %w", out.AnchorSeq, err)
	}
	return out, nil
}

// IsNothingToExport reports whether err says there was nothing old enough.
func IsNothingToExport(err error) bool {
	var e *errcode.Error
	return errors.As(err, &e) && e == ErrNothingToExport
}
