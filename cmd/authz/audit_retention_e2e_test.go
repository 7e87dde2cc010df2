package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/store/storetest"
)

// exported is what `authz audit export -o json` prints.
type exported struct {
	File      string `json:"file"`
	FirstSeq  int64  `json:"first_seq"`
	LastSeq   int64  `json:"last_seq"`
	Events    int64  `json:"events"`
	PrevHash  string `json:"prev_hash"`
	LastHash  string `json:"last_hash"`
	Until     string `json:"until"`
	PruneWith string `json:"prune_with"`
}

var tenants atomic.Int64

// tokenClient makes a tenant, a principal and a client-credentials client,
// and returns a function that asks for one token and reports whether it
// was issued, and the client's id.
func tokenClient(t *testing.T, c *cli) (func() bool, string) {
	t.Helper()
	var tenant, principal apiv1.Tenant
	c.json(&tenant, "tenant", "create", fmt.Sprintf("retention-%d", tenants.Add(1)))
	c.json(&principal, "principal", "create", "--tenant", tenant.ID, "--name", "batch", "--kind", "service")
	var cl apiv1.Client
	c.json(&cl, "client", "create", "--tenant", tenant.ID, "--owner", principal.ID)
	hc := &http.Client{Timeout: 10 * time.Second}
	return func() bool {
		req, err := http.NewRequest(http.MethodPost, c.issuer+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
		if err != nil {
			t.Error(err)
			return false
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(url.QueryEscape(cl.ID), url.QueryEscape(cl.ClientSecret))
		resp, err := hc.Do(req)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, cl.ID
}

// segmentActions counts the events of a segment file by action, of those
// whose actor or target names who.
func segmentActions(t *testing.T, file, who string) map[string]int {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for first := true; sc.Scan(); first = false {
		if first {
			continue
		}
		var ev struct{ Action, Actor, Target string }
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if strings.Contains(ev.Actor, who) || strings.Contains(ev.Target, who) {
			out[ev.Action]++
		}
	}
	return out
}

// verifyOffline runs `authz audit verify --segment` with no server in its
// environment at all.
func verifyOffline(t *testing.T, file string, extra ...string) result {
	t.Helper()
	cmd := exec.Command(authzBin, append([]string{"audit", "verify", "--segment", file}, extra...)...)
	cmd.Env = baseEnv(t.TempDir())
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestAuditRetentionCLI: through the real binary, on both backends,
// tokens are issued without pause while segments are exported and
// pruned; every issued token's event is found in exactly one place (a
// segment or the store), the log verifies from its anchor, each segment
// verifies offline and chains to the one before, a wrong anchor deletes
// nothing and a tampered segment is named by line.
func TestAuditRetentionCLI(t *testing.T) {
	for name, dbURL := range map[string]func(testing.TB) string{"sqlite": storetest.SQLiteURL, "postgres": storetest.PostgresURL} {
		t.Run(name, func(t *testing.T) {
			// No rate limit: the test asks as fast as it can.
			c := startServerWith(t, dbURL(t), "--rate-limit-client", "0", "--rate-limit-addr", "0")
			issue, clientID := tokenClient(t, c)
			dir := t.TempDir()
			for range 5 {
				if !issue() {
					t.Fatal("token refused before any prune")
				}
			}
			time.Sleep(1100 * time.Millisecond)

			// A wrong anchor, a missing one and an until given as a
			// duration are refused; nothing is deleted.
			var first exported
			until := time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
			c.json(&first, "audit", "export", "--until", until, "--out", filepath.Join(dir, "seg-0.jsonl"))
			if first.FirstSeq != 1 || first.LastSeq < 5 || !strings.Contains(first.PruneWith, first.LastHash) {
				t.Fatalf("export = %+v", first)
			}
			var before apiv1.AuditReport
			c.json(&before, "audit", "verify")
			wrong := strings.Repeat("0", 64)
			c.fails(nil, "nothing was deleted", "audit", "prune", "--until", until, "--anchor", wrong)
			c.fails(nil, "64 hex digits", "audit", "prune", "--until", until, "--anchor", "abc")
			if r := c.run(nil, "audit", "prune", "--until", until); r.code != exitUsage || !strings.Contains(r.stderr, "--anchor are both required") {
				t.Fatalf("prune without an anchor: exit %d %s", r.code, r.stderr)
			}
			c.fails(nil, "RFC 3339", "audit", "prune", "--until", "1h", "--anchor", first.LastHash)
			var after apiv1.AuditReport
			c.json(&after, "audit", "verify")
			if after.AnchorSeq != 0 || after.Events != before.Events {
				t.Fatalf("refused prunes changed the log: %d events anchored at %d, before %d", after.Events, after.AnchorSeq, before.Events)
			}
			c.ok("audit", "prune", "--until", until, "--anchor", first.LastHash)

			// Now prune over and over while tokens are issued.
			var issued, refused atomic.Int64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						if issue() {
							issued.Add(1)
						} else {
							refused.Add(1)
						}
					}
				})
			}
			segs := []exported{first}
			for i := 1; len(segs) < 4 && i < 20; i++ {
				time.Sleep(1100 * time.Millisecond)
				var e exported
				until := time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
				file := filepath.Join(dir, fmt.Sprintf("seg-%d.jsonl", i))
				c.json(&e, "audit", "export", "--until", until, "--out", file)
				// A token stamped before until may still be in flight;
				// the prune then refuses, and the next round exports again.
				if r := c.run(nil, "audit", "prune", "--until", until, "--anchor", e.LastHash); r.code != 0 {
					if !strings.Contains(r.stderr, "nothing was deleted") {
						t.Fatalf("prune: %s", r.stderr)
					}
					t.Logf("prune refused, exporting again: %s", r.stderr)
					continue
				}
				segs = append(segs, e)
			}
			close(stop)
			wg.Wait()
			if len(segs) < 4 || issued.Load() == 0 || refused.Load() != 0 {
				t.Fatalf("%d segments pruned, %d tokens issued, %d refused during prunes", len(segs), issued.Load(), refused.Load())
			}

			// The rest, up to now, in one more segment (not pruned). A
			// segment ends at the latest event stamped before --until, and
			// two requests may be stamped in one order and committed in the
			// other; one last token, issued alone after the others, is both
			// the latest stamped and the last committed, so the segment
			// holds every event before it.
			time.Sleep(1100 * time.Millisecond)
			if !issue() {
				t.Fatal("the last token was refused")
			}
			issued.Add(1)
			time.Sleep(10 * time.Millisecond)
			var rest exported
			c.json(&rest, "audit", "export", "--until", time.Now().Add(time.Second).UTC().Format(time.RFC3339), "--out", filepath.Join(dir, "rest.jsonl"))
			var rep apiv1.AuditReport
			c.json(&rep, "audit", "verify")
			last := segs[len(segs)-1]
			if !rep.OK || rep.AnchorSeq != last.LastSeq || rep.AnchorHash != last.LastHash {
				t.Fatalf("verify after the prunes = %+v, want ok from anchor %d", rep, last.LastSeq)
			}
			tokens := 0
			prev := ""
			for _, s := range append(segs, rest) {
				if s.PrevHash != prev {
					t.Fatalf("segment %s starts after %q, the one before ended at %q", s.File, s.PrevHash, prev)
				}
				prev = s.LastHash
				if r := verifyOffline(t, s.File, "--anchor", s.LastHash); r.code != 0 {
					t.Fatalf("verify --segment %s: %s", s.File, r.stderr)
				}
				tokens += segmentActions(t, s.File, clientID)["token.issue"]
			}
			if want := int(issued.Load()) + 5; tokens != want {
				t.Fatalf("%d token.issue events in the segments, %d tokens issued", tokens, want)
			}
			t.Logf("%s: %d tokens issued during %d prunes, all audited", name, issued.Load(), len(segs)-1)

			// Tampering with a segment is caught offline, by line.
			raw, err := os.ReadFile(segs[1].File)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.SplitAfter(string(raw), "\n")
			lines[2] = strings.Replace(lines[2], `"outcome":"success"`, `"outcome":"refused"`, 1)
			bad := filepath.Join(dir, "tampered.jsonl")
			if err := os.WriteFile(bad, []byte(strings.Join(lines, "")), 0o600); err != nil {
				t.Fatal(err)
			}
			if r := verifyOffline(t, bad); r.code != exitFailed || !strings.Contains(r.stderr, "line 3") {
				t.Fatalf("tampered segment: exit %d %q, want a failure naming line 3", r.code, r.stderr)
			}
			if r := verifyOffline(t, segs[1].File, "--anchor", segs[2].LastHash); r.code != exitFailed || !strings.Contains(r.stderr, "not at --anchor") {
				t.Fatalf("segment against another anchor: exit %d %q", r.code, r.stderr)
			}
		})
	}
}

// TestAuditRetentionSchedule: two replicas with --audit-retention export
// and prune on their own, one at a time (the lease): the segment files
// chain from the first event without a gap or an overlap, each verifies,
// and the store verifies from the last one's end.
func TestAuditRetentionSchedule(t *testing.T) {
	for name, dbURL := range map[string]func(testing.TB) string{"sqlite": storetest.SQLiteURL, "postgres": storetest.PostgresURL} {
		t.Run(name, func(t *testing.T) {
			db, key, dir := dbURL(t), masterkey.Generate().String(), t.TempDir()
			flags := []string{"--audit-retention", "2s", "--audit-retention-every", "500ms", "--audit-retention-dir", dir}
			a := startServerKey(t, db, key, flags...)
			b := startServerKey(t, db, key, flags...)
			issueA, _ := tokenClient(t, a)
			issueB, _ := tokenClient(t, b)
			deadline := time.Now().Add(60 * time.Second)
			var files []string
			for {
				issueA()
				issueB()
				files, _ = filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
				if len(files) >= 3 || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if len(files) < 3 {
				t.Fatalf("%d segment files after a minute:\n%s\n%s", len(files), a.logs.String(), b.logs.String())
			}
			slices.Sort(files)
			prev, next := "", int64(1)
			for _, f := range files {
				r := verifyOffline(t, f, "-o", "json")
				var rep struct {
					AnchorSeq  int64  `json:"anchor_seq"`
					AnchorHash string `json:"anchor_hash"`
					Head       int64  `json:"head"`
					HeadHash   string `json:"head_hash"`
					OK         bool   `json:"ok"`
				}
				if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil || !rep.OK {
					t.Fatalf("%s: %v %s %s", f, err, r.stdout, r.stderr)
				}
				if rep.AnchorSeq+1 != next || rep.AnchorHash != prev {
					t.Fatalf("%s starts at %d after %q; want %d after %q (no gap, no overlap)", f, rep.AnchorSeq+1, rep.AnchorHash, next, prev)
				}
				prev, next = rep.HeadHash, rep.Head+1
			}
			// One replica at a time: a run of the other would have exported
			// the same segment and failed to prune it.
			for _, srv := range []*cli{a, b} {
				if strings.Contains(srv.logs.String(), "audit retention run failed") {
					t.Fatalf("a retention run failed:\n%s", srv.logs.String())
				}
			}
			var rep apiv1.AuditReport
			a.json(&rep, "audit", "verify")
			if !rep.OK || rep.AnchorSeq < next-1 {
				t.Fatalf("verify = %+v, want ok from at least the last segment's end %d", rep, next-1)
			}
		})
	}
}
