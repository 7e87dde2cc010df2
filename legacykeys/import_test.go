package legacykeys_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/store"
)

func sha256Hex(s string) string {
	d := sha256.Sum256([]byte(s))
	return hex.EncodeToString(d[:])
}

func parseImport(t *testing.T, text, format string) []legacykeys.ImportRow {
	t.Helper()
	var rows []legacykeys.ImportRow
	must(t, legacykeys.ParseImport(strings.NewReader(text), format, func(r legacykeys.ImportRow) error {
		rows = append(rows, r)
		return nil
	}))
	return rows
}

func parseRemap(t *testing.T, text string) []legacykeys.RemapRow {
	t.Helper()
	var rows []legacykeys.RemapRow
	must(t, legacykeys.ParseRemap(strings.NewReader(text), func(r legacykeys.RemapRow) error {
		rows = append(rows, r)
		return nil
	}))
	return rows
}

func rejectedLines(rs []legacykeys.Rejection) string {
	var out []string
	for _, r := range rs {
		out = append(out, fmt.Sprint(r.Line))
	}
	return strings.Join(out, ",")
}

func countKeys(t *testing.T, st store.Store, tenant string) int {
	t.Helper()
	n := 0
	page := store.Page{Limit: store.MaxLimit}
	for {
		ks, next, err := st.ListLegacyKeys(t.Context(), store.LegacyKeyFilter{TenantID: tenant}, page)
		must(t, err)
		n += len(ks)
		if next == "" {
			return n
		}
		page.After = next
	}
}

// The same migration, once as CSV and once as JSONL: lines 2 and 3 are
// good, 4 is imported as an orphan (its owner's external id matches
// nobody), 5 is given by SHA-256 only, and 6-10 are rejected for the reason
// their name says.
var importFiles = map[string]string{
	"csv": `key,key_sha256,owner_external_id,tenant,scopes,label,environment,created_at,expires_at
sk_live_alpha_000001,,alice,ten_a,orders:read orders:write,billing,prod,2021-04-01,2030-01-01T00:00:00Z
sk_live_alpha_000002,,bob,ten_a,,reports,staging,2021-04-02 10:00:00,
sk_live_alpha_000003,,departed-42,ten_a,orders:read,old batch,prod,,
,` + sha256Hex("sk_live_hashed_0004") + `,alice,ten_a,,hashed,prod,,
short,,alice,ten_a,,too short,prod,,
sk_live_alpha_000007,,alice,ten_nowhere,,unknown tenant,prod,,
sk_live_alpha_000008,` + sha256Hex("x") + `,alice,ten_a,,both,prod,,
sk_live_alpha_000009,,alice,ten_a,,bad date,prod,yesterday,
sk_live_alpha_000010,,alice,ten_a,,too few fields
`,
	"jsonl": `{"key":"sk_live_alpha_000001","owner_external_id":"alice","tenant":"ten_a","scopes":["orders:read","orders:write"],"label":"billing","environment":"prod","created_at":"2021-04-01","expires_at":"2030-01-01T00:00:00Z"}

{"key":"sk_live_alpha_000002","owner_external_id":"bob","tenant":"ten_a","label":"reports","environment":"staging","created_at":"2021-04-02 10:00:00"}
{"key":"sk_live_alpha_000003","owner_external_id":"departed-42","tenant":"ten_a","scopes":"orders:read","label":"old batch","environment":"prod"}
{"key_sha256":"` + sha256Hex("sk_live_hashed_0004") + `","owner_external_id":"alice","tenant":"ten_a","label":"hashed","environment":"prod"}
{"key":"short","owner_external_id":"alice","tenant":"ten_a"}
{"key":"sk_live_alpha_000007","owner_external_id":"alice","tenant":"ten_nowhere"}
{"key":"sk_live_alpha_000008","key_sha256":"` + sha256Hex("x") + `","owner_external_id":"alice","tenant":"ten_a"}
{"key":"sk_live_alpha_000009","owner_external_id":"alice","tenant":"ten_a","created_at":"yesterday"}
{"key":"sk_live_alpha_000010","owner":"alice","tenant":"ten_a"}
`,
}

func TestImportAndRemap(t *testing.T) {
	for _, format := range []string{"csv", "jsonl"} {
		t.Run(format, func(t *testing.T) {
			eachBackend(t, func(t *testing.T, st store.Store) {
				testImportAndRemap(t, st, format)
			})
		})
	}
}

func testImportAndRemap(t *testing.T, st store.Store, format string) {
	h := newHarness(t, st)
	h.tenant("ten_a")
	h.principal("prn_alice", "ten_a", "alice")
	h.principal("prn_bob", "ten_a", "bob")
	h.principal("prn_newcomer", "ten_a", "newcomer")

	// The format is sniffed from the content.
	rows := parseImport(t, importFiles[format], "")
	text := importFiles[format]
	lineOf := func(needle string) int {
		for i, l := range strings.Split(text, "\n") {
			if strings.Contains(l, needle) {
				return i + 1
			}
		}
		t.Fatalf("no line with %q", needle)
		return 0
	}
	wantRejected := []int{lineOf("short"), lineOf("ten_nowhere"), lineOf("000008"), lineOf("yesterday"), lineOf("000010")}
	wantRejectedStr := strings.Trim(strings.Join(strings.Fields(fmt.Sprint(wantRejected)), ","), "[]")

	dry, err := h.svc.Import(h.ctx, rows, true)
	must(t, err)
	if dry.Imported != 4 || dry.Orphans != 1 || dry.AlreadyPresent != 0 || !dry.DryRun {
		t.Fatalf("dry run summary %+v", dry)
	}
	if got := rejectedLines(dry.Rejected); got != wantRejectedStr {
		t.Fatalf("dry run rejected lines %s, want %s: %+v", got, wantRejectedStr, dry.Rejected)
	}
	if n := countKeys(t, st, "ten_a"); n != 0 {
		t.Fatalf("dry run wrote %d keys", n)
	}
	if evs := h.events("tenant:ten_a"); len(evs) != 0 {
		t.Fatalf("dry run wrote audit events: %+v", evs)
	}

	sum, err := h.svc.Import(h.ctx, rows, false)
	must(t, err)
	if sum.Imported != 4 || sum.Orphans != 1 || sum.AlreadyPresent != 0 || sum.DryRun {
		t.Fatalf("import summary %+v", sum)
	}
	if !reflect.DeepEqual(sum.Rejected, dry.Rejected) {
		t.Fatalf("rejections differ between dry run and import: %+v vs %+v", sum.Rejected, dry.Rejected)
	}
	for _, r := range sum.Rejected {
		if r.Reason == "" || strings.Contains(r.Reason, "sk_live") {
			t.Fatalf("rejection %+v: empty or echoes a key", r)
		}
	}
	if n := countKeys(t, st, "ten_a"); n != 4 {
		t.Fatalf("%d keys stored, want 4", n)
	}
	if evs := h.events("tenant:ten_a"); len(evs) != 1 || evs[0].Action != legacykeys.ActionImport {
		t.Fatalf("import audit: %+v", evs)
	}

	// What the holders send now works, except the orphan's key.
	h.wantResolve("sk_live_alpha_000001", "", "")
	h.wantResolve("sk_live_alpha_000002", "", "")
	h.wantResolve("sk_live_hashed_0004", "", "")
	h.wantResolve("sk_live_alpha_000003", "", errcode.OwnerNotFound)
	h.wantResolve("sk_live_alpha_000007", "", errcode.KeyUnknown)

	r1, err := legacykeys.Resolve(h.ctx, st, h.hasher, "sk_live_alpha_000001", "", h.clock.Now())
	must(t, err)
	k := r1.Key
	if k.OwnerID != "prn_alice" || k.OwnerRef != "alice" || k.Source != store.SourceImported || k.Label != "billing" ||
		strings.Join(k.Scopes, " ") != "orders:read orders:write" ||
		!k.CreatedAt.Equal(time.Date(2021, 4, 1, 0, 0, 0, 0, time.UTC)) || !k.ExpiresAt.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("imported key %+v", k)
	}

	orphans, err := h.svc.Orphans(h.ctx, "ten_a")
	must(t, err)
	if len(orphans) != 1 || orphans[0].OwnerRef != "departed-42" || orphans[0].Code != errcode.OwnerNotFound {
		t.Fatalf("orphan report %+v", orphans)
	}

	// Importing the same file again changes nothing.
	again, err := h.svc.Import(h.ctx, rows, false)
	must(t, err)
	if again.Imported != 0 || again.AlreadyPresent != 4 || again.Orphans != 0 || len(again.Rejected) != 5 {
		t.Fatalf("re-import summary %+v", again)
	}
	if n := countKeys(t, st, "ten_a"); n != 4 {
		t.Fatalf("re-import: %d keys stored, want 4", n)
	}
	// The key given in plaintext once and by hash the next time is one key.
	byHash, err := h.svc.Import(h.ctx, []legacykeys.ImportRow{{Line: 2, KeySHA256: strings.ToUpper(sha256Hex("sk_live_alpha_000002")), OwnerExternalID: "bob", Tenant: "ten_a"}}, false)
	must(t, err)
	if byHash.AlreadyPresent != 1 || byHash.Imported != 0 {
		t.Fatalf("the same key by hash: %+v", byHash)
	}

	// The broken owner is repaired by remapping its external id.
	remap := parseRemap(t, "old_external_id,new_principal\ndeparted-42,prn_newcomer\n,prn_newcomer\nalice,prn_nobody\nnever-seen,prn_bob\n")
	dryRemap, err := h.svc.Remap(h.ctx, remap, true)
	must(t, err)
	if dryRemap.Rows != 4 || dryRemap.KeysRemapped != 1 || rejectedLines(dryRemap.Rejected) != "3,4" || !dryRemap.DryRun {
		t.Fatalf("dry remap %+v", dryRemap)
	}
	h.wantResolve("sk_live_alpha_000003", "", errcode.OwnerNotFound)

	done, err := h.svc.Remap(h.ctx, remap, false)
	must(t, err)
	if done.KeysRemapped != 1 || rejectedLines(done.Rejected) != "3,4" {
		t.Fatalf("remap %+v", done)
	}
	h.wantResolve("sk_live_alpha_000003", "", "")
	if orphans, _ := h.svc.Orphans(h.ctx, "ten_a"); len(orphans) != 0 {
		t.Fatalf("orphans left after remap: %+v", orphans)
	}
	if acts := actions(h.events("principal:prn_newcomer")); acts != "key.remap" {
		t.Fatalf("remap audit %q", acts)
	}
	redo, err := h.svc.Remap(h.ctx, remap, false)
	must(t, err)
	if redo.KeysRemapped != 0 {
		t.Fatalf("second remap moved %d keys", redo.KeysRemapped)
	}
}

func TestImportOwners(t *testing.T) {
	h := newHarness(t, openSQLite(t))
	h.tenant("ten_a")
	h.tenant("ten_b")
	h.principal("prn_live", "ten_a", "shared-ext")
	h.principal("prn_old", "ten_a", "")
	h.principal("prn_gone", "ten_a", "gone-ext")
	h.principal("prn_other", "ten_b", "other-ext")
	h.setPrincipalStatus("prn_gone", store.StatusDeleted, adminActor)
	h.principal("prn_suspended", "ten_a", "sus-ext")
	h.setPrincipalStatus("prn_suspended", store.StatusSuspended, adminActor)

	rows := []legacykeys.ImportRow{
		{Line: 2, Key: "key-by-external-id", OwnerExternalID: "shared-ext", Tenant: "ten_a"},
		{Line: 3, Key: "key-by-owner-id-01", OwnerID: "prn_old", Tenant: "ten_a"},
		{Line: 4, Key: "key-of-a-deleted-1", OwnerExternalID: "gone-ext", Tenant: "ten_a"},
		{Line: 5, Key: "key-of-missing-id1", OwnerID: "prn_missing", Tenant: "ten_a"},
		{Line: 6, Key: "key-cross-tenant-1", OwnerID: "prn_other", Tenant: "ten_a"},
		{Line: 7, Key: "key-other-ext-id-1", OwnerExternalID: "other-ext", Tenant: "ten_a"},
		{Line: 8, Key: "key-suspended-own1", OwnerExternalID: "sus-ext", Tenant: "ten_a"},
		{Line: 9, Key: "key-by-external-id", OwnerExternalID: "shared-ext", Tenant: "ten_a"}, // twice in one batch
		{Line: 10, Problem: "has 3 fields, the header has 9"},
	}
	sum, err := h.svc.Import(h.ctx, rows, false)
	must(t, err)
	// Imported: lines 2, 3, 4, 5, 7, 8. Orphans: 4 (deleted owner),
	// 5 (missing id), 7 (external id of another tenant: nobody here), 8
	// (suspended owner). Rejected: 6 (principal of another tenant), 10.
	if sum.Imported != 6 || sum.Orphans != 4 || sum.AlreadyPresent != 1 || rejectedLines(sum.Rejected) != "6,10" {
		t.Fatalf("summary %+v", sum)
	}
	if !strings.Contains(sum.Rejected[0].Reason, "ten_b") || sum.Rejected[1].Reason != rows[8].Problem {
		t.Fatalf("rejection reasons %+v", sum.Rejected)
	}
	for _, c := range []struct {
		key  string
		want errcode.Code
	}{
		{"key-by-external-id", ""},
		{"key-by-owner-id-01", ""},
		{"key-of-a-deleted-1", errcode.OwnerDeleted}, // the exact cause, not "not found"
		{"key-of-missing-id1", errcode.OwnerNotFound},
		{"key-other-ext-id-1", errcode.OwnerNotFound},
		{"key-suspended-own1", errcode.OwnerSuspended},
	} {
		if got := h.resolve(c.key, ""); got != c.want {
			t.Errorf("%s: Resolve = %q, want %q", c.key, got, c.want)
		}
	}
	// A principal created later with the id the file gave makes the key work.
	h.principal("prn_missing", "ten_a", "")
	h.wantResolve("key-of-missing-id1", "", "")
}

func TestParseImportFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text, format, want string
	}{
		{"empty", "", "csv", "empty"},
		{"unknown column", "key,owner,tenant\n", "csv", `unknown column "owner"`},
		{"repeated column", "key,key,owner_id,tenant\n", "csv", "twice"},
		{"no key column", "owner_id,tenant\n", "csv", "key or a key_sha256"},
		{"no owner column", "key,tenant\n", "csv", "owner_external_id or an owner_id"},
		{"no tenant column", "key,owner_id\n", "csv", "tenant column"},
		{"unknown format", "{}", "xml", "unknown import format"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := legacykeys.ParseImport(strings.NewReader(tc.text), tc.format, func(legacykeys.ImportRow) error { return nil })
			if e, ok := errcode.As(err); !ok || e.Code != errcode.RequestInvalid || !strings.Contains(e.Text(), tc.want) {
				t.Fatalf("ParseImport = %v, want request_invalid saying %q", err, tc.want)
			}
		})
	}
}

func TestParseImportRows(t *testing.T) {
	long := strings.Repeat("x", 70<<10)
	text := "\ufeffKey , Owner_ID,tenant\n" + // BOM, case and spaces in the header
		`"quoted,key-0001",prn_a,ten_a` + "\n" +
		"abcdefgh-0002,prn_a,ten_a,extra\n" +
		"\"multi\nline\",prn_a,ten_a\n" +
		"abcdefgh-0005,,ten_a\n"
	rows := parseImport(t, text, "csv")
	want := []struct {
		line    int
		problem string
	}{{2, ""}, {3, "has 4 fields"}, {4, "whitespace"}, {6, "neither owner_external_id nor owner_id"}}
	if len(rows) != len(want) {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	for i, w := range want {
		if rows[i].Line != w.line || (w.problem == "") != (rows[i].Problem == "") || !strings.Contains(rows[i].Problem, w.problem) {
			t.Errorf("row %d = line %d problem %q, want line %d problem %q", i, rows[i].Line, rows[i].Problem, w.line, w.problem)
		}
	}
	if rows[0].Key != "quoted,key-0001" || rows[0].OwnerID != "prn_a" {
		t.Fatalf("row 2 = %+v", rows[0])
	}

	jl := parseImport(t, "{\"key\":\"abcdefgh-0001\",\"owner_id\":\"p\",\"tenant\":\"t\",\"expires_at\":1767225600}\n"+
		"{\"key\":\"abcdefgh-0002\",\"owner_id\":\"p\",\"tenant\":\"t\"} {}\n"+
		"{\"key\": 5}\n"+
		"{\"key\":\""+long+"\"}\n"+
		"{\"key\":\"abcdefgh-0005\",\"owner_id\":\"p\",\"tenant\":\"t\",\"scopes\":{}}\n", "")
	if len(jl) != 5 {
		t.Fatalf("%d JSONL rows", len(jl))
	}
	if jl[0].Problem != "" || !jl[0].ExpiresAt.Equal(time.Unix(1767225600, 0)) {
		t.Fatalf("JSONL row 1 %+v", jl[0])
	}
	for i, want := range []string{"more than one JSON value", "key must be a string", "longer than", "scopes must be"} {
		if r := jl[i+1]; r.Line != i+2 || !strings.Contains(r.Problem, want) {
			t.Errorf("JSONL line %d: %q, want %q", r.Line, r.Problem, want)
		}
	}
}

func TestParseRemap(t *testing.T) {
	rows := parseRemap(t, "u-1,prn_a\nu-2\n u-3 , prn_c \n\"bad\"quote,x\nu-5,\n")
	want := []struct {
		line      int
		old, new_ string
		problem   string
	}{
		{1, "u-1", "prn_a", ""}, // no header: the first line is data
		{2, "", "", "has 1 fields"},
		{3, "u-3", "prn_c", ""},
		{4, "", "", "not valid CSV"},
		{5, "u-5", "", "no new_principal"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	for i, w := range want {
		r := rows[i]
		if r.Line != w.line || r.OldExternalID != w.old || r.NewPrincipal != w.new_ || !strings.Contains(r.Problem, w.problem) || (w.problem == "") != (r.Problem == "") {
			t.Errorf("row %d = %+v, want %+v", i, r, w)
		}
	}
}

func FuzzParseImport(f *testing.F) {
	for _, text := range importFiles {
		f.Add(text, "")
	}
	f.Add("key,owner_id,tenant\n\"a\nb\",c,d\n", "csv")
	f.Add("{\"key\":\"abcdefghij\",\"owner_id\":\"p\",\"tenant\":\"t\",\"scopes\":[\"a\"]}\n", "jsonl")
	f.Add("key,owner_id,tenant\nabc\"def,p,t\n", "")
	f.Fuzz(func(t *testing.T, text, format string) {
		last := 0
		err := legacykeys.ParseImport(strings.NewReader(text), format, func(r legacykeys.ImportRow) error {
			if r.Line <= last {
				t.Fatalf("line %d after line %d", r.Line, last)
			}
			last = r.Line
			if r.Problem == "" {
				if (r.Key == "") == (r.KeySHA256 == "") || (r.OwnerID == "") == (r.OwnerExternalID == "") || r.Tenant == "" {
					t.Fatalf("row without a problem is incomplete: %+v", r)
				}
				if r.Key != "" {
					if _, err := legacykeys.Parse(r.Key); err != nil {
						t.Fatalf("row without a problem has a malformed key: %v", err)
					}
				}
			}
			return nil
		})
		if err != nil {
			if _, ok := errcode.As(err); !ok {
				t.Fatalf("file-level error is not a described refusal: %v", err)
			}
		}
	})
}

func FuzzParseRemap(f *testing.F) {
	f.Add("old_external_id,new_principal\nu-1,prn_a\n")
	f.Add("u-1,prn_a\n\"x\ny\",z\n")
	f.Add("a\"b,c\n,,\n")
	f.Fuzz(func(t *testing.T, text string) {
		last := 0
		err := legacykeys.ParseRemap(strings.NewReader(text), func(r legacykeys.RemapRow) error {
			if r.Line <= last {
				t.Fatalf("line %d after line %d", r.Line, last)
			}
			last = r.Line
			if r.Problem == "" && (r.OldExternalID == "" || r.NewPrincipal == "") {
				t.Fatalf("row without a problem is incomplete: %+v", r)
			}
			return nil
		})
		if err != nil {
			if _, ok := errcode.As(err); !ok {
				t.Fatalf("file-level error is not a described refusal: %v", err)
			}
		}
	})
}
