package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/store/storetest"
)

// TestImportAndOrphansAtScale (issue 19) drives the real binary on both
// backends with an import of scaleRows keys of 10 owners, 2 of which
// exist: the import twice (the second adds nothing: the summary says so
// and the migration report still counts scaleRows keys), then `report
// orphans` page by page with --limit and --after, and streamed whole with
// -o json: every orphan is found exactly once either way, and those whose
// owner was suspended while they were in use (issue 20) come first. A million keys
// is the benchmark's (loadgen/import.sh, docs/benchmarks.md); this size
// is what every test run can afford.
func TestImportAndOrphansAtScale(t *testing.T) {
	for _, be := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", storetest.SQLiteURL}, {"postgres", storetest.PostgresURL}} {
		t.Run(be.name, func(t *testing.T) { importAndOrphans(t, startServer(t, be.url(t))) })
	}
}

const scaleRows = 25000

func importAndOrphans(t *testing.T, c *cli) {
	var tn apiv1.Tenant
	c.json(&tn, "tenant", "create", "scale")
	holders := make([]apiv1.Principal, 2)
	for i := range holders {
		c.json(&holders[i], "principal", "create", "--tenant", tn.ID, "--name", fmt.Sprint("holder ", i), "--kind", "service", "--external-id", fmt.Sprintf("ext-%d", i))
	}
	var csv strings.Builder
	csv.WriteString("key,owner_external_id,tenant\n")
	for i := range scaleRows {
		fmt.Fprintf(&csv, "scale-key-%08d-%x,ext-%d,%s\n", i, i*7919, i%10, tn.ID)
	}
	file := filepath.Join(t.TempDir(), "keys.csv")
	if err := os.WriteFile(file, []byte(csv.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	const importOrphans = scaleRows * 8 / 10
	var sum apiv1.ImportSummary
	c.json(&sum, "key", "import", file)
	if sum.Imported != scaleRows || sum.Orphans != importOrphans || len(sum.Rejected) != 0 {
		t.Fatalf("import: %d imported, %d orphans, %d rejected; want %d, %d, 0", sum.Imported, sum.Orphans, len(sum.Rejected), scaleRows, importOrphans)
	}
	c.json(&sum, "key", "import", file)
	if sum.Imported != 0 || sum.AlreadyPresent != scaleRows || sum.Orphans != 0 {
		t.Fatalf("the same file again: %+v, want nothing imported and %d already present", sum, scaleRows)
	}
	// Nothing was added either: the migration report's counters (kept by
	// triggers, migration 15) count each key once.
	var counts struct {
		Tenants []struct {
			TenantID   string `json:"tenant_id"`
			ActiveKeys int    `json:"active_keys"`
			NeverUsed  int    `json:"never_used"`
		} `json:"tenants"`
	}
	c.json(&counts, "report", "migration", "--tenant", tn.ID)
	if len(counts.Tenants) != 1 || counts.Tenants[0].ActiveKeys != scaleRows || counts.Tenants[0].NeverUsed != scaleRows {
		t.Fatalf("migration report after importing the file twice: %+v, want %d active keys, all never used", counts.Tenants, scaleRows)
	}

	// Three keys of holder 0 are used, then holder 0 is suspended: its
	// scaleRows/10 keys become orphans, those three broken while in use.
	used := map[string]bool{}
	for _, i := range []int{0, 12340, scaleRows - 10} {
		key := fmt.Sprintf("scale-key-%08d-%x", i, i*7919)
		if _, err := exchangeSubject(c.issuer, key); err != nil {
			t.Fatalf("exchange of key %d: %v", i, err)
		}
		var d struct {
			Key struct {
				ID string `json:"id"`
			} `json:"key"`
			LastUsedAt *time.Time `json:"last_used_at"`
		}
		// Uses are flushed to the store every few seconds.
		for tries := 0; d.LastUsedAt == nil; tries++ {
			if tries > 300 {
				t.Fatalf("the use of key %d never reached the store", i)
			}
			time.Sleep(100 * time.Millisecond)
			c.json(&d, "key", "diagnose", key)
		}
		used[d.Key.ID] = true
	}
	c.ok("principal", "suspend", holders[0].ID, "--reason", "left the company")
	const wantOrphans = importOrphans + scaleRows/10

	type orphan struct {
		KeyID          string `json:"key_id"`
		OwnerRef       string `json:"owner_ref"`
		Code           string `json:"code"`
		BrokenRecently bool   `json:"broken_recently"`
	}
	check := func(how string, got []orphan) {
		t.Helper()
		seen := make(map[string]bool, len(got))
		for i, o := range got {
			if seen[o.KeyID] {
				t.Fatalf("%s: orphan %s listed twice", how, o.KeyID)
			}
			seen[o.KeyID] = true
			// First the three broken recently, then the others; each
			// part by key id.
			if recent := i < len(used); o.BrokenRecently != recent || used[o.KeyID] != recent {
				t.Fatalf("%s: orphan %d is %+v; want the %d used keys of the suspended holder first", how, i, o, len(used))
			}
			if i > 0 && i != len(used) && got[i-1].KeyID >= o.KeyID {
				t.Fatalf("%s: not ordered by key id at %d", how, i)
			}
			switch {
			case o.OwnerRef == "ext-0" && o.Code == "owner_suspended":
			case o.OwnerRef != "ext-0" && o.OwnerRef != "ext-1" && o.Code == "owner_not_found":
			default:
				t.Fatalf("%s: %+v is not an orphan of this import", how, o)
			}
		}
		if len(got) != wantOrphans {
			t.Fatalf("%s: %d orphans, want %d", how, len(got), wantOrphans)
		}
	}

	// Page by page, the way a script would.
	var paged []orphan
	after := ""
	for pages := 0; ; pages++ {
		if pages > wantOrphans/999+2 {
			t.Fatal("report orphans --after never ends")
		}
		var page struct {
			Items []orphan `json:"items"`
			Next  string   `json:"next"`
		}
		// 999: the used keys' part ends inside the first page.
		args := []string{"report", "orphans", "--tenant", tn.ID, "--limit", "999"}
		if after != "" {
			args = append(args, "--after", after)
		}
		c.json(&page, args...)
		paged = append(paged, page.Items...)
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	check("--limit 999 --after", paged)

	// A page that ends exactly with the used keys' part.
	var first struct {
		Items []orphan `json:"items"`
		Next  string   `json:"next"`
	}
	c.json(&first, "report", "orphans", "--tenant", tn.ID, "--limit", fmt.Sprint(len(used)))
	if len(first.Items) != len(used) || !first.Items[len(used)-1].BrokenRecently || first.Next == "" {
		t.Fatalf("first page of %d: %+v", len(used), first)
	}
	c.json(&first, "report", "orphans", "--tenant", tn.ID, "--limit", "1", "--after", first.Next)
	if len(first.Items) != 1 || first.Items[0].BrokenRecently {
		t.Fatalf("the page after the used keys: %+v", first)
	}
	c.fails(nil, "cursor", "report", "orphans", "--tenant", tn.ID, "--after", "key_not-a-cursor")

	// Everything at once, streamed.
	var whole struct {
		Items []orphan `json:"items"`
		Next  string   `json:"next"`
	}
	c.json(&whole, "report", "orphans")
	check("-o json", whole.Items)
	if whole.Next != "" {
		t.Fatalf("the whole report ends with next %q", whole.Next)
	}
	// The table: a header and one line per orphan.
	if lines := strings.Count(c.ok("report", "orphans", "--tenant", tn.ID), "\n"); lines != wantOrphans+1 {
		t.Fatalf("report orphans printed %d lines, want %d", lines, wantOrphans+1)
	}

	// Holder 1 was imported just now and used nothing: new. Holder 0's
	// keys were used (then it was suspended): legacy-only.
	var rep struct {
		Holders []struct {
			PrincipalID string `json:"principal_id"`
			State       string `json:"state"`
		} `json:"holders"`
	}
	c.json(&rep, "report", "migration", "--tenant", tn.ID)
	states := map[string]string{}
	for _, h := range rep.Holders {
		states[h.PrincipalID] = h.State
	}
	if len(rep.Holders) != 2 || states[holders[0].ID] != "legacy-only" || states[holders[1].ID] != "new" {
		t.Fatalf("holders after the import: %+v, want holder 0 legacy-only and holder 1 new", rep.Holders)
	}
	var hist struct {
		Items []json.RawMessage `json:"items"`
	}
	c.json(&hist, "report", "migration", "--history", "90d")
	c.fails(nil, "days", "report", "migration", "--history", "400d")
}
