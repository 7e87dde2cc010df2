package audit

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

// seedTimed appends one event per time, each in its own transaction.
func seedTimed(t *testing.T, st store.Store, times ...time.Time) {
	t.Helper()
	for i, at := range times {
		ev := event(fmt.Sprintf("a%d", i+1))
		ev.Time = at
		ev.Details = json.RawMessage(fmt.Sprintf(`{"n":%d,"note":"a <b> & c"}`, i+1))
		if i == 1 { // bytes a JSON round trip would not keep
			ev.Details = json.RawMessage("{\"n\": 2}\n")
		}
		appendTx(t, st, ev)
	}
}

func exportTo(t *testing.T, st store.Store, until time.Time) (Segment, []byte) {
	t.Helper()
	var buf bytes.Buffer
	seg, err := Export(context.Background(), st, until, time.Now(), &buf)
	if err != nil {
		t.Fatalf("export until %s: %v", until, err)
	}
	return seg, buf.Bytes()
}

func codeOf(err error) errcode.Code {
	var e *errcode.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// TestExportPruneVerify: a segment exported, verified offline and pruned
// with its last hash; a wrong or malformed anchor deletes nothing; the log
// verifies from the new anchor, and the next segment chains on.
func TestExportPruneVerify(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		base := time.Date(2026, 1, 10, 8, 0, 0, 0, time.UTC)
		var times []time.Time
		for i := range 8 {
			times = append(times, base.Add(time.Duration(i)*time.Hour))
		}
		seedTimed(t, b.st, times...)
		until := base.Add(4*time.Hour + time.Minute) // events 1..5

		seg, file := exportTo(t, b.st, until)
		if seg.FirstSeq != 1 || seg.LastSeq != 5 || seg.Events != 5 || seg.PrevHash != "" {
			t.Fatalf("segment = %+v, want events 1..5 from the start", seg)
		}
		if want := hex.EncodeToString(eventAt(t, b.st, 5).Hash); seg.LastHash != want {
			t.Fatalf("last hash %s, want event 5's %s", seg.LastHash, want)
		}
		if n := bytes.Count(file, []byte("\n")); n != 6 {
			t.Fatalf("segment has %d lines, want a header and 5 events:\n%s", n, file)
		}
		if !bytes.Contains(file, []byte(`"details_b64":`)) || !bytes.Contains(file, []byte(`"note":"a <b> & c"`)) {
			t.Fatalf("details not written as expected (JSON when exact, base64 otherwise):\n%s", file)
		}
		rep, err := VerifySegment(bytes.NewReader(file))
		if err != nil || !rep.OK || rep.Events != 5 || rep.HeadHash != seg.LastHash {
			t.Fatalf("VerifySegment = %+v, %v", rep, err)
		}

		// Refused anchors change nothing.
		other := hex.EncodeToString(eventAt(t, b.st, 4).Hash)
		for _, c := range []struct {
			name, anchor string
			until        time.Time
			code         errcode.Code
			says         string
		}{
			{"another event's hash", other, until, errcode.Conflict, "ends at event 5"},
			{"the right hash for another until", seg.LastHash, base.Add(2 * time.Hour), errcode.Conflict, "ends at event 2"},
			{"not hex", "zz" + seg.LastHash[2:], until, errcode.RequestInvalid, "64 hex digits"},
			{"too short", seg.LastHash[:62], until, errcode.RequestInvalid, "64 hex digits"},
			{"missing", "", until, errcode.RequestInvalid, "64 hex digits"},
			{"nothing before until", seg.LastHash, base.Add(-time.Hour), errcode.NotFound, "nothing to export"},
		} {
			_, err := Prune(ctx, b.st, c.until, c.anchor, time.Now())
			if codeOf(err) != c.code || !strings.Contains(err.Error(), c.says) {
				t.Errorf("%s: prune error %v, want %s saying %q", c.name, err, c.code, c.says)
			}
		}
		if n := len(allEvents(t, b.st)); n != 8 {
			t.Fatalf("refused prunes left %d events, want all 8", n)
		}
		if a, err := b.st.AuditAnchor(ctx); err != nil || a.Seq != 0 {
			t.Fatalf("refused prunes moved the anchor to %+v (%v)", a, err)
		}

		res, err := Prune(ctx, b.st, until, seg.LastHash, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if res.AnchorSeq != 5 || res.AnchorHash != seg.LastHash || res.Rows+int64(res.Partitions) == 0 {
			t.Fatalf("prune = %+v", res)
		}
		evs := allEvents(t, b.st)
		if len(evs) != 4 || evs[0].Seq != 6 || evs[3].Action != "audit.prune" {
			t.Fatalf("after the prune: %d events from %d, want 6..8 and the prune's own event", len(evs), evs[0].Seq)
		}
		vr, err := Verify(ctx, b.st)
		if err != nil || !vr.OK || vr.AnchorSeq != 5 || vr.AnchorHash != seg.LastHash || vr.Events != 4 {
			t.Fatalf("verify after the prune = %+v, %v", vr, err)
		}
		// Pruning again with the same anchor is harmless.
		if again, err := Prune(ctx, b.st, until, seg.LastHash, time.Now()); err != nil || again.AnchorSeq != 5 || again.Rows != 0 {
			t.Fatalf("second prune = %+v, %v", again, err)
		}

		// The next segment starts where the first ended.
		seg2, file2 := exportTo(t, b.st, time.Now().Add(time.Minute))
		if seg2.FirstSeq != 6 || seg2.PrevHash != seg.LastHash || seg2.LastSeq != 9 {
			t.Fatalf("next segment = %+v, want 6..9 chained to %s", seg2, seg.LastHash)
		}
		if rep, err := VerifySegment(bytes.NewReader(file2)); err != nil || !rep.OK || rep.AnchorHash != seg.LastHash {
			t.Fatalf("next segment verifies: %+v, %v", rep, err)
		}

		// A kept event deleted behind the store's back is still caught.
		b.exec(t, `DELETE FROM audit_events WHERE seq = 6`)
		vr, err = Verify(ctx, b.st)
		if err != nil || vr.OK || vr.FirstBreak.Seq != 6 || vr.FirstBreak.Problem != ProblemMissing {
			t.Fatalf("verify with event 6 deleted = %+v, %v", vr, err)
		}
		// And export refuses to write a broken log.
		if _, err := Export(ctx, b.st, time.Now().Add(time.Minute), time.Now(), &bytes.Buffer{}); codeOf(err) != errcode.Conflict {
			t.Fatalf("export of a broken log: %v, want a conflict naming the break", err)
		}
	})
}

// TestVerifySegmentTampered: every way of editing an exported segment is
// reported with the line it happened at.
func TestVerifySegmentTampered(t *testing.T) {
	b := openSQLite(t)
	base := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	seedTimed(t, b.st, base, base.Add(time.Minute), base.Add(2*time.Minute), base.Add(3*time.Minute), base.Add(4*time.Minute))
	_, file := exportTo(t, b.st, base.Add(time.Hour))
	lines := strings.SplitAfter(string(file), "\n")
	lines = lines[:len(lines)-1] // the empty string after the last newline
	if len(lines) != 6 {
		t.Fatalf("%d lines", len(lines))
	}
	join := func(ls ...string) string { return strings.Join(ls, "") }
	edit := func(i int, from, to string) string {
		ls := append([]string{}, lines...)
		if !strings.Contains(ls[i], from) {
			t.Fatalf("line %d has no %q: %s", i+1, from, ls[i])
		}
		ls[i] = strings.Replace(ls[i], from, to, 1)
		return join(ls...)
	}
	editHash := func(header string) string {
		i := strings.Index(header, `"last_hash":"`) + len(`"last_hash":"`)
		c := "0"
		if header[i] == '0' {
			c = "1"
		}
		return join(append([]string{header[:i] + c + header[i+1:]}, lines[1:]...)...)
	}
	without := func(i int) string {
		ls := append([]string{}, lines[:i]...)
		return join(append(ls, lines[i+1:]...)...)
	}
	tests := []struct {
		name    string
		file    string
		line    int
		problem string
	}{
		{"intact", string(file), 0, ""},
		{"field edited", edit(3, `"action":"a3"`, `"action":"a9"`), 4, ProblemAltered},
		{"time edited", edit(2, `"time":"2026-02-01T00:01:00Z"`, `"time":"2026-02-01T00:01:01Z"`), 3, ProblemAltered},
		{"details edited", edit(5, `"n":5`, `"n":6`), 6, ProblemAltered},
		{"base64 details edited", edit(2, `"details_b64":"eyJuIjogMn0K"`, `"details_b64":"eyJuIjogM30K"`), 3, ProblemAltered},
		{"line removed", without(3), 4, ProblemMissing},
		{"first event removed", without(1), 2, ProblemMissing},
		{"last event removed", without(5), 6, ProblemMissing},
		{"lines swapped", join(lines[0], lines[1], lines[3], lines[2], lines[4], lines[5]), 3, ProblemMissing},
		{"event moved to the end", join(lines[0], lines[1], lines[3], lines[4], lines[5], lines[2]), 3, ProblemMissing},
		{"header's last hash lengthened", edit(0, `"last_hash":"`, `"last_hash":"00`), 1, ProblemAltered},
		{"header's last hash edited", editHash(lines[0]), 1, ProblemAltered},
		{"not JSON", edit(4, `{`, `x`), 5, ProblemAltered},
		{"a field added", edit(4, `{`, `{"extra":1,`), 5, ProblemAltered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := VerifySegment(strings.NewReader(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if tt.line == 0 {
				if !rep.OK {
					t.Fatalf("intact segment: %+v", rep.FirstBreak)
				}
				return
			}
			if rep.OK || rep.FirstBreak.Line != tt.line || rep.FirstBreak.Problem != tt.problem ||
				!strings.Contains(rep.FirstBreak.Detail, fmt.Sprintf("line %d", tt.line)) {
				t.Fatalf("report %+v, want line %d %s", rep.FirstBreak, tt.line, tt.problem)
			}
		})
	}
	for _, bad := range []string{"", "not json\n", `{"format":"other"}` + "\n"} {
		if _, err := VerifySegment(strings.NewReader(bad)); !errors.Is(err, ErrSegmentUnreadable) {
			t.Errorf("VerifySegment(%q) = %v, want ErrSegmentUnreadable", bad, err)
		}
	}
}

// TestRecordingDuringPrune: the group-commit recorder (every token's
// audit event goes through it) keeps recording while segments are
// exported and pruned over and over; every recorded event ends up in
// exactly one segment or in the kept log, and both verify.
//
// Events are stamped from a counter, and each prune's until is the stamp
// of the oldest event still being recorded: everything stamped before it
// is committed, as it is for a real until far enough in the past, so
// export and prune agree on the segment (a prune whose until is still
// being written to is refused, which TestExportPruneVerify covers).
func TestRecordingDuringPrune(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		rec := NewRecorder(b.st, RecorderConfig{})
		go rec.Run(ctx)
		seedLog(t, b.st, 50)

		base := time.Now().Add(-time.Hour).Truncate(time.Second)
		stampOf := func(n int64) time.Time { return base.Add(time.Duration(n) * time.Millisecond) }
		const writers, each = 4, 150
		var counter atomic.Int64
		var inFlight [writers]atomic.Int64
		for w := range writers {
			inFlight[w].Store(math.MaxInt64)
		}
		settled := func() time.Time { // the stamp before which every event is committed
			u := counter.Load()
			for w := range writers {
				u = min(u, inFlight[w].Load())
			}
			return stampOf(u)
		}
		var recorded atomic.Int64
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				defer inFlight[w].Store(math.MaxInt64)
				for i := range each {
					inFlight[w].Store(counter.Load()) // a lower bound of the number taken next
					n := counter.Add(1)
					inFlight[w].Store(n)
					ev := event("token.issue")
					ev.Time = stampOf(n)
					ev.Target = fmt.Sprintf("client:w%d_%d", w, i)
					if err := rec.Record(ctx, ev); err != nil {
						t.Errorf("record during prune: %v", err)
						return
					}
					recorded.Add(1)
				}
			})
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()

		var segments [][]byte
		prunes := 0
	loop:
		for {
			select {
			case <-done:
				break loop
			default:
			}
			until := settled()
			var buf bytes.Buffer
			seg, err := Export(ctx, b.st, until, time.Now(), &buf)
			if IsNothingToExport(err) {
				continue
			}
			if err != nil {
				cancel()
				t.Fatal(err)
			}
			if _, err := Prune(ctx, b.st, until, seg.LastHash, time.Now()); err != nil {
				cancel()
				t.Fatalf("prune %d: %v", prunes, err)
			}
			segments = append(segments, buf.Bytes())
			prunes++
		}
		if err := rec.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if prunes < 2 {
			t.Errorf("only %d prunes ran while recording: the test did not overlap them", prunes)
		}
		// Every token.issue event: in a segment or still in the store.
		targets := map[string]int{}
		prev := ""
		for i, s := range segments {
			rep, err := VerifySegment(bytes.NewReader(s))
			if err != nil || !rep.OK {
				t.Fatalf("segment %d: %+v, %v", i, rep.FirstBreak, err)
			}
			if rep.AnchorHash != prev {
				t.Fatalf("segment %d starts after %s, the one before ended at %s", i, rep.AnchorHash, prev)
			}
			prev = rep.HeadHash
			for _, l := range strings.Split(string(s), "\n")[1:] {
				if ev, err := parseSegmentLine([]byte(l)); err == nil && ev.Action == "token.issue" {
					targets[ev.Target]++
				}
			}
		}
		for _, ev := range allEvents(t, b.st) {
			if ev.Action == "token.issue" {
				targets[ev.Target]++
			}
		}
		if int64(len(targets)) != recorded.Load() || recorded.Load() != writers*each {
			t.Fatalf("%d distinct recorded events found, %d recorded, want %d", len(targets), recorded.Load(), writers*each)
		}
		for k, n := range targets {
			if n != 1 {
				t.Fatalf("event %s found %d times", k, n)
			}
		}
		vr, err := Verify(context.Background(), b.st)
		if err != nil || !vr.OK || (prunes > 0 && vr.AnchorHash != prev) {
			t.Fatalf("verify after %d prunes = %+v, %v", prunes, vr, err)
		}
		t.Logf("%s: %d events recorded during %d prunes", b.st.Backend(), recorded.Load(), prunes)
	})
}
