package audit

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

// segmentOf writes a valid segment of n chained events, without a store.
func segmentOf(t testing.TB, n int) []byte {
	evs := make([]store.AuditEvent, n)
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range evs {
		evs[i] = store.AuditEvent{ID: "evt_" + strings.Repeat("x", i+1), Time: base.Add(time.Duration(i) * time.Second),
			Action: "token.issue", Outcome: OutcomeSuccess, Details: json.RawMessage(`{"i":1}`)}
	}
	evs[n/2].Details = json.RawMessage("{\"a\": [1, 2]}\n")
	chain(store.AuditHead{}, evs)
	var buf bytes.Buffer
	sw := newSegmentWriter(&buf)
	if err := sw.header(SegmentHeader{Format: SegmentFormat, FirstSeq: 1, LastSeq: int64(n), Events: int64(n),
		LastHash: hex.EncodeToString(evs[n-1].Hash), Until: base.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if err := sw.event(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := sw.flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzVerifySegment: whatever the file, VerifySegment answers without
// panicking, and a segment it passes has as many events as its header
// says, ending at the header's hash.
func FuzzVerifySegment(f *testing.F) {
	f.Add(segmentOf(f, 4))
	f.Add([]byte(""))
	f.Add([]byte(`{"format":"authz-audit-segment-v1","first_seq":1,"last_seq":1,"events":1,"prev_hash":"","last_hash":"00"}` + "\n{}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := VerifySegment(bytes.NewReader(data))
		if err != nil || !rep.OK {
			return
		}
		if rep.Events != rep.Head-rep.AnchorSeq {
			t.Fatalf("passed a segment of %d events for seqs %d..%d", rep.Events, rep.AnchorSeq+1, rep.Head)
		}
	})
}

func TestSegmentOfVerifies(t *testing.T) {
	if rep, err := VerifySegment(bytes.NewReader(segmentOf(t, 5))); err != nil || !rep.OK || rep.Events != 5 {
		t.Fatalf("%+v, %v", rep, err)
	}
}
