package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/store/storetest"
)

// TestImportAndOrphansAtScale (issue 19) drives the real binary on both
// backends with an import of scaleRows keys of 10 owners, 2 of which
// exist: the import twice (the second adds nothing: the summary says so
// and the migration report still counts scaleRows keys), then `report
// orphans` page by page with --limit and --after, and streamed whole with
// -o json: every orphan is found exactly once either way. A million keys
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
	for i := range 2 {
		c.ok("principal", "create", "--tenant", tn.ID, "--name", fmt.Sprint("holder ", i), "--kind", "service", "--external-id", fmt.Sprintf("ext-%d", i))
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
	const wantOrphans = scaleRows * 8 / 10
	var sum apiv1.ImportSummary
	c.json(&sum, "key", "import", file)
	if sum.Imported != scaleRows || sum.Orphans != wantOrphans || len(sum.Rejected) != 0 {
		t.Fatalf("import: %d imported, %d orphans, %d rejected; want %d, %d, 0", sum.Imported, sum.Orphans, len(sum.Rejected), scaleRows, wantOrphans)
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

	type orphan struct {
		KeyID    string `json:"key_id"`
		OwnerRef string `json:"owner_ref"`
		Code     string `json:"code"`
	}
	check := func(how string, got []orphan) {
		t.Helper()
		seen := make(map[string]bool, len(got))
		for i, o := range got {
			if seen[o.KeyID] {
				t.Fatalf("%s: orphan %s listed twice", how, o.KeyID)
			}
			seen[o.KeyID] = true
			if i > 0 && got[i-1].KeyID >= o.KeyID {
				t.Fatalf("%s: not ordered by key id at %d", how, i)
			}
			if o.Code != "owner_not_found" || o.OwnerRef == "ext-0" || o.OwnerRef == "ext-1" {
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
		if pages > wantOrphans/1000+2 {
			t.Fatal("report orphans --after never ends")
		}
		var page struct {
			Items []orphan `json:"items"`
			Next  string   `json:"next"`
		}
		args := []string{"report", "orphans", "--tenant", tn.ID, "--limit", "1000"}
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
	check("--limit 1000 --after", paged)

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

	// The two holders were imported just now and used nothing: new, not
	// token-only.
	var rep struct {
		Holders []struct {
			State string `json:"state"`
		} `json:"holders"`
	}
	c.json(&rep, "report", "migration", "--tenant", tn.ID)
	if len(rep.Holders) != 2 || rep.Holders[0].State != "new" || rep.Holders[1].State != "new" {
		t.Fatalf("holders after the import: %+v, want two new", rep.Holders)
	}
	var hist struct {
		Items []json.RawMessage `json:"items"`
	}
	c.json(&hist, "report", "migration", "--history", "90d")
	c.fails(nil, "days", "report", "migration", "--history", "400d")
}
