package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/authz/authz/store"
)

// seedLog appends n events, each in its own transaction, as admin changes
// do; event i (1-based) has action "a<i>".
func seedLog(t *testing.T, st store.Store, n int) {
	t.Helper()
	for i := 1; i <= n; i++ {
		ev := event(fmt.Sprintf("a%d", i))
		ev.Details = json.RawMessage(fmt.Sprintf(`{"n":%d}`, i))
		appendTx(t, st, ev)
	}
}

func eventAt(t *testing.T, st store.Store, seq int64) store.AuditEvent {
	t.Helper()
	for _, ev := range allEvents(t, st) {
		if ev.Seq == seq {
			return ev
		}
	}
	t.Fatalf("no event %d", seq)
	return store.AuditEvent{}
}

// forge changes event seq's actor and stores a hash recomputed for the new
// content, as someone who knows the chain function (it is public) would.
func forge(t *testing.T, b backend, seq int64) {
	ev := eventAt(t, b.st, seq)
	ev.Actor = "admin:cli_intruder"
	b.exec(t, `UPDATE audit_events SET actor = $1, hash = $2 WHERE seq = $3`, ev.Actor, Hash(ev.PrevHash, ev), seq)
}

func TestVerifyReportsTheFirstBreak(t *testing.T) {
	const n = 6
	tests := []struct {
		name    string
		tamper  func(t *testing.T, b backend)
		seq     int64
		problem string
	}{
		{"clean log", func(*testing.T, backend) {}, 0, ""},
		{"field changed", func(t *testing.T, b backend) {
			b.exec(t, `UPDATE audit_events SET actor = 'admin:cli_intruder' WHERE seq = 3`)
		}, 3, ProblemAltered},
		{"details changed by one byte", func(t *testing.T, b backend) {
			b.exec(t, `UPDATE audit_events SET details = $1 WHERE seq = 2`, []byte(`{"n":9}`))
		}, 2, ProblemAltered},
		{"time changed", func(t *testing.T, b backend) {
			ev := eventAt(t, b.st, 4)
			if b.st.Backend() == "sqlite" {
				b.exec(t, `UPDATE audit_events SET time = time + 1000000 WHERE seq = 4`)
			} else {
				b.exec(t, `UPDATE audit_events SET time = $1 WHERE seq = 4`, ev.Time.Add(1e9))
			}
		}, 4, ProblemAltered},
		{"first event changed", func(t *testing.T, b backend) {
			b.exec(t, `UPDATE audit_events SET outcome = 'refused' WHERE seq = 1`)
		}, 1, ProblemAltered},
		{"middle event deleted", func(t *testing.T, b backend) {
			b.exec(t, `DELETE FROM audit_events WHERE seq = 3`)
		}, 3, ProblemMissing},
		{"first event deleted", func(t *testing.T, b backend) {
			b.exec(t, `DELETE FROM audit_events WHERE seq = 1`)
		}, 1, ProblemMissing},
		{"last event deleted", func(t *testing.T, b backend) {
			b.exec(t, `DELETE FROM audit_events WHERE seq = $1`, n)
		}, n, ProblemMissing},
		{"last two events deleted", func(t *testing.T, b backend) {
			b.exec(t, `DELETE FROM audit_events WHERE seq >= $1`, n-1)
		}, n - 1, ProblemMissing},
		{"two events swapped", func(t *testing.T, b backend) {
			b.exec(t, `UPDATE audit_events SET seq = -1 WHERE seq = 3`)
			b.exec(t, `UPDATE audit_events SET seq = 3 WHERE seq = 4`)
			b.exec(t, `UPDATE audit_events SET seq = 4 WHERE seq = -1`)
		}, 3, ProblemReordered},
		{"distant events swapped", func(t *testing.T, b backend) {
			b.exec(t, `UPDATE audit_events SET seq = -1 WHERE seq = 2`)
			b.exec(t, `UPDATE audit_events SET seq = 2 WHERE seq = 6`)
			b.exec(t, `UPDATE audit_events SET seq = 6 WHERE seq = -1`)
		}, 2, ProblemReordered},
		{"hash forged", func(t *testing.T, b backend) {
			b.exec(t, `UPDATE audit_events SET hash = $1 WHERE seq = 3`, make([]byte, 32))
		}, 3, ProblemAltered},
		{"change with recomputed hash, not rechained", func(t *testing.T, b backend) { forge(t, b, 3) }, 3, ProblemAltered},
		{"first event changed with recomputed hash", func(t *testing.T, b backend) { forge(t, b, 1) }, 1, ProblemAltered},
		{"last event changed with recomputed hash", func(t *testing.T, b backend) { forge(t, b, n) }, n, ProblemAltered},
		{"prev_hash changed", func(t *testing.T, b backend) {
			b.exec(t, `UPDATE audit_events SET prev_hash = $1 WHERE seq = 5`, make([]byte, 32))
		}, 5, ProblemAltered},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel() // each case has databases of its own
			eachBackend(t, func(t *testing.T, b backend) {
				seedLog(t, b.st, n)
				tc.tamper(t, b)
				rep, err := Verify(context.Background(), b.st)
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if rep.Head != n {
					t.Fatalf("Head = %d, want %d", rep.Head, n)
				}
				if tc.problem == "" {
					if !rep.OK || rep.FirstBreak != nil || rep.Events != n {
						t.Fatalf("clean log: %+v, break %+v", rep, rep.FirstBreak)
					}
					return
				}
				if rep.OK || rep.FirstBreak == nil {
					t.Fatalf("tampering not detected: %+v", rep)
				}
				if got := *rep.FirstBreak; got.Seq != tc.seq || got.Problem != tc.problem || got.Detail == "" {
					t.Fatalf("first break = %+v, want seq %d %s", got, tc.seq, tc.problem)
				}
			})
		})
	}
}

// The walk pages through the log: a break past the first pages is found,
// and a clean log longer than a page verifies.
func TestVerifyAcrossPages(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		const total = 2*store.MaxLimit + 500
		batch := make([]store.AuditEvent, 0, 500)
		for i := range total {
			batch = append(batch, event(fmt.Sprintf("a%d", i+1)))
			if len(batch) == cap(batch) {
				appendTx(t, b.st, batch...)
				batch = batch[:0]
			}
		}
		mustVerify(t, b.st, total)

		b.exec(t, `UPDATE audit_events SET target = 'tenant:ten_2' WHERE seq = $1`, 2*store.MaxLimit+7)
		rep, err := Verify(context.Background(), b.st)
		if err != nil {
			t.Fatal(err)
		}
		if rep.OK || rep.FirstBreak == nil || rep.FirstBreak.Seq != 2*store.MaxLimit+7 || rep.FirstBreak.Problem != ProblemAltered {
			t.Fatalf("Verify = %+v, break %+v; want seq %d altered", rep, rep.FirstBreak, 2*store.MaxLimit+7)
		}
	})
}

func TestVerifyEmptyLog(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend) {
		rep, err := Verify(context.Background(), b.st)
		if err != nil || !rep.OK || rep.Events != 0 || rep.Head != 0 {
			t.Fatalf("Verify(empty) = %+v, %v", rep, err)
		}
	})
}

func TestReportJSON(t *testing.T) {
	raw, err := json.Marshal(Report{Events: 3, Head: 3, HeadHash: "ab", FirstBreak: &Break{Seq: 2, ID: "evt_x", Problem: ProblemAltered, Detail: "d"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"events":3,"anchor_seq":0,"anchor_hash":"","head":3,"head_hash":"ab","ok":false,"first_break":{"seq":2,"id":"evt_x","problem":"altered","detail":"d"}}`
	if string(raw) != want {
		t.Fatalf("Report JSON = %s\nwant %s", raw, want)
	}
}
