package audit

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/authz/authz/store"
)

// SegmentFormat names the layout of an exported segment: its first line.
const SegmentFormat = "authz-audit-segment-v1"

// SegmentHeader is the first line of an exported segment: which events
// follow and the hashes they must chain from and to. An auditor keeps
// LastHash (export prints it; the store keeps it as the anchor after the
// prune): a segment whose events were cut at the end no longer ends there.
type SegmentHeader struct {
	Format string `json:"format"`
	// FirstSeq..LastSeq are the events that follow, one per line, in
	// order; Events is their count.
	FirstSeq int64 `json:"first_seq"`
	LastSeq  int64 `json:"last_seq"`
	Events   int64 `json:"events"`
	// PrevHash is the hash of the event before FirstSeq (the previous
	// segment's LastHash; "" when FirstSeq is 1); LastHash is LastSeq's.
	PrevHash string `json:"prev_hash"`
	LastHash string `json:"last_hash"`
	// Until is the --until the segment was exported for, ExportedAt when.
	Until      time.Time `json:"until"`
	ExportedAt time.Time `json:"exported_at"`
}

// segmentLine is one event of a segment. Details are written as JSON when
// their stored bytes survive a JSON round trip exactly, and as base64 in
// DetailsB64 otherwise (whitespace, a trailing newline, bytes that are not
// JSON): the hash covers the exact bytes.
type segmentLine struct {
	Seq        int64           `json:"seq"`
	ID         string          `json:"id"`
	Time       time.Time       `json:"time"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	Target     string          `json:"target"`
	TenantID   string          `json:"tenant_id"`
	Outcome    string          `json:"outcome"`
	ErrorCode  string          `json:"error_code"`
	RequestID  string          `json:"request_id"`
	ClientAddr string          `json:"client_addr"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
	DetailsB64 []byte          `json:"details_b64,omitempty"`
	Details    json.RawMessage `json:"details,omitempty"`
}

// segmentWriter writes a segment line by line.
type segmentWriter struct {
	w   *bufio.Writer
	enc *json.Encoder
}

func newSegmentWriter(w io.Writer) *segmentWriter {
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	return &segmentWriter{w: bw, enc: enc}
}

func (sw *segmentWriter) header(h SegmentHeader) error { return sw.enc.Encode(h) }

func (sw *segmentWriter) event(ev store.AuditEvent) error {
	l := segmentLine{
		Seq: ev.Seq, ID: ev.ID, Time: ev.Time.UTC(), Actor: ev.Actor, Action: ev.Action, Target: ev.Target,
		TenantID: ev.TenantID, Outcome: ev.Outcome, ErrorCode: ev.ErrorCode, RequestID: ev.RequestID,
		ClientAddr: ev.ClientAddr, PrevHash: hex.EncodeToString(ev.PrevHash), Hash: hex.EncodeToString(ev.Hash),
	}
	switch {
	case len(ev.Details) == 0:
	case exactJSON(ev.Details):
		l.Details = ev.Details
	default:
		l.DetailsB64 = ev.Details
	}
	return sw.enc.Encode(l)
}

func (sw *segmentWriter) flush() error { return sw.w.Flush() }

// exactJSON reports whether d, written into a line as JSON, reads back as
// the very same bytes: valid, on one line, without the surrounding
// whitespace a decoder drops, and unchanged by the encoder (which
// compacts what it writes).
func exactJSON(d []byte) bool {
	if !json.Valid(d) || bytes.Equal(d, []byte("null")) {
		return false
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, d); err != nil {
		return false
	}
	return bytes.Equal(buf.Bytes(), d)
}

// ErrSegmentUnreadable: the file is not a segment at all (no header, or a
// header of another format). A segment whose events do not verify is
// reported as a Break instead.
var ErrSegmentUnreadable = errors.New("audit: not an exported audit segment")

// maxSegmentLine bounds one line of a segment (an event with its details).
const maxSegmentLine = 16 << 20

// VerifySegment checks an exported segment offline, with nothing but the
// file: every event's hash is recomputed, each must link to the one
// before (the first to the header's PrevHash), seqs must run from the
// header's FirstSeq to its LastSeq, and the last hash must be the
// header's LastHash. The first departure is reported with its line.
//
// The report's AnchorSeq/AnchorHash are the event before the segment,
// Head/HeadHash its last event: chain segments by checking that each
// one's AnchorHash is the previous one's HeadHash, and the last one's
// HeadHash against the hash export printed (or the store's anchor).
func VerifySegment(r io.Reader) (Report, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxSegmentLine)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return Report{}, fmt.Errorf("%w: line 1: %v", ErrSegmentUnreadable, err)
		}
		return Report{}, fmt.Errorf("%w: the file is empty", ErrSegmentUnreadable)
	}
	var h SegmentHeader
	dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil || h.Format != SegmentFormat {
		return Report{}, fmt.Errorf("%w: line 1 is not a %s header", ErrSegmentUnreadable, SegmentFormat)
	}
	prev, err1 := hex.DecodeString(h.PrevHash)
	last, err2 := hex.DecodeString(h.LastHash)
	rep := Report{AnchorSeq: h.FirstSeq - 1, AnchorHash: h.PrevHash, Head: h.LastSeq, HeadHash: h.LastHash}
	if err := errors.Join(err1, err2); err != nil || h.FirstSeq < 1 || h.LastSeq < h.FirstSeq || h.Events != h.LastSeq-h.FirstSeq+1 ||
		len(last) != sha256.Size || (len(prev) != sha256.Size && (h.FirstSeq > 1 || len(prev) != 0)) {
		rep.FirstBreak = &Break{Line: 1, Problem: ProblemAltered,
			Detail: "line 1: the header's seqs, count or hashes do not describe a segment (first_seq ≥ 1, last_seq ≥ first_seq, events = last_seq - first_seq + 1, hex hashes)"}
		return rep, nil
	}
	w := newWalker(h.FirstSeq-1, prev, store.AuditHead{Seq: h.LastSeq, Hash: last})
	line, prevLine := 1, 0
	for sc.Scan() {
		line++
		ev, err := parseSegmentLine(sc.Bytes())
		if err != nil {
			rep.FirstBreak = &Break{Line: line, Seq: w.expect, Problem: ProblemAltered, Detail: fmt.Sprintf("line %d: %v", line, err)}
			return rep, nil
		}
		if ev.Seq > h.LastSeq {
			rep.FirstBreak = &Break{Line: line, Seq: ev.Seq, ID: ev.ID, Problem: ProblemAltered,
				Detail: fmt.Sprintf("line %d: event %d is past the segment's last event %d", line, ev.Seq, h.LastSeq)}
			return rep, nil
		}
		rep.Events++
		if b := w.step(ev); b != nil {
			b.Line = line
			if b.Seq == ev.Seq-1 && b.Problem == ProblemAltered && ev.Seq > w.first {
				b.Line = prevLine // the event before was changed
			}
			b.Detail = fmt.Sprintf("line %d: %s", b.Line, b.Detail)
			rep.FirstBreak = b
			return rep, nil
		}
		prevLine = line
	}
	if err := sc.Err(); err != nil {
		rep.FirstBreak = &Break{Line: line + 1, Seq: w.expect, Problem: ProblemAltered, Detail: fmt.Sprintf("line %d: %v", line+1, err)}
		return rep, nil
	}
	if b := w.end(); b != nil {
		if b.Problem == ProblemMissing {
			b.Line = line + 1
			b.Detail = fmt.Sprintf("line %d: %s (the header says the segment ends at event %d)", b.Line, b.Detail, h.LastSeq)
		} else {
			// Every event verified against the one before: what does not
			// match is the header.
			b.Line = 1
			b.Detail = fmt.Sprintf("line 1: the header's last_hash is not the hash of the last event (line %d)", prevLine)
		}
		rep.FirstBreak = b
		return rep, nil
	}
	rep.OK = true
	return rep, nil
}

// parseSegmentLine reads one event line strictly: unknown fields, bad hex
// or both forms of details are refused rather than guessed at.
func parseSegmentLine(b []byte) (store.AuditEvent, error) {
	var l segmentLine
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		return store.AuditEvent{}, fmt.Errorf("not an event line: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return store.AuditEvent{}, errors.New("not an event line: more than one JSON value")
	}
	prev, err := hex.DecodeString(l.PrevHash)
	if err != nil {
		return store.AuditEvent{}, fmt.Errorf("prev_hash is not hex")
	}
	hash, err := hex.DecodeString(l.Hash)
	if err != nil {
		return store.AuditEvent{}, fmt.Errorf("hash is not hex")
	}
	if l.Details != nil && l.DetailsB64 != nil {
		return store.AuditEvent{}, errors.New("both details and details_b64")
	}
	ev := store.AuditEvent{
		Seq: l.Seq, ID: l.ID, Time: l.Time.UTC(), Actor: l.Actor, Action: l.Action, Target: l.Target,
		TenantID: l.TenantID, Outcome: l.Outcome, ErrorCode: l.ErrorCode, RequestID: l.RequestID,
		ClientAddr: l.ClientAddr, Details: l.Details, PrevHash: prev, Hash: hash,
	}
	if l.DetailsB64 != nil {
		ev.Details = l.DetailsB64
	}
	if len(prev) == 0 {
		ev.PrevHash = nil
	}
	return ev, nil
}
