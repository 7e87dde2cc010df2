package main

import (
	"context"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/store/storetest"
)

// TestUsageErrorsExit2: an unknown command, subcommand or flag, or a
// missing argument, exits 2 with the usage on stderr and nothing on stdout.
func TestUsageErrorsExit2(t *testing.T) {
	c := &cli{t: t, home: t.TempDir(), adminURL: "http://" + freeAddr(t), issuer: "http://" + freeAddr(t)}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate" for "authz"`},
		{[]string{"principal", "frobnicate"}, `unknown command "frobnicate" for "authz principal"`},
		{[]string{"key"}, "authz key needs a subcommand"},
		{[]string{"tenant", "list", "--bogus"}, "unknown flag: --bogus"},
		{[]string{"key", "import"}, "authz key import needs FILE"},
		{[]string{"key", "revoke", "key_x"}, "needs --reason"},
		{[]string{"verify"}, "accepts 1 arg"},
		{[]string{"key", "list", "--limit", "many"}, "invalid argument"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			r := c.run(nil, tt.args...)
			if r.code != exitUsage || r.stdout != "" || !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, "Usage:") {
				t.Fatalf("exit %d, stdout %q, stderr:\n%s", r.code, r.stdout, r.stderr)
			}
		})
	}
	if r := c.run(nil, "--help"); r.code != exitOK || !strings.Contains(r.stdout, "3  some input rows rejected") {
		t.Fatalf("authz --help: exit %d\n%s", r.code, r.stdout)
	}
}

// TestRowCommandsExitCodes drives every command that takes input rows (key
// import, key remap) through the real binary against a real server: all
// rows good → 0; some rejected → 3, the good rows applied and the bad ones
// listed on stderr and in the JSON; all rejected → 1, nothing applied;
// --dry-run the same codes with nothing written.
func TestRowCommandsExitCodes(t *testing.T) {
	c := startServer(t, storetest.SQLiteURL(t))
	var tn, other apiv1.Tenant
	c.json(&tn, "tenant", "create", "team-a")
	c.json(&other, "tenant", "create", "team-b")
	var alice, newA, sharedA, sharedB apiv1.Principal
	c.json(&alice, "principal", "create", "--tenant", tn.ID, "--name", "alice", "--kind", "user", "--external-id", "alice")
	c.json(&newA, "principal", "create", "--tenant", tn.ID, "--name", "new-a", "--kind", "user", "--external-id", "new-a@example.com")
	c.json(&sharedA, "principal", "create", "--tenant", tn.ID, "--name", "shared", "--kind", "user", "--external-id", "shared")
	c.json(&sharedB, "principal", "create", "--tenant", other.ID, "--name", "shared", "--kind", "user", "--external-id", "shared")

	dir := t.TempDir()
	file := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	keys := func() []apiv1.LegacyKey {
		var l apiv1.List[apiv1.LegacyKey]
		c.json(&l, "key", "list", "--limit", "1000")
		return l.Items
	}
	owners := func() map[string]string { // label → owner id
		m := map[string]string{}
		for _, k := range keys() {
			m[k.Label] = k.OwnerID
		}
		return m
	}
	// check runs a row command dry and for real, and checks the exit code,
	// the rejected lines (stderr and JSON) and that the dry run wrote
	// nothing.
	check := func(t *testing.T, code int, rejected []string, state func() map[string]string, args ...string) map[string]string {
		t.Helper()
		before := state()
		for _, dry := range []bool{true, false} {
			a := args
			if dry {
				a = append(append([]string{}, args...), "--dry-run")
			}
			var out struct {
				Rejected []apiv1.Rejection `json:"rejected"`
				DryRun   bool              `json:"dry_run"`
			}
			r := c.jsonExit(code, &out, a...)
			if out.DryRun != dry || len(out.Rejected) != len(rejected) {
				t.Fatalf("authz %s: %+v\nstderr: %s", strings.Join(a, " "), out, r.stderr)
			}
			for i, want := range rejected {
				if !strings.Contains(out.Rejected[i].Reason, want) {
					t.Errorf("rejection %d: %+v, want %q", i, out.Rejected[i], want)
				}
				if line := "line " + strconv.Itoa(out.Rejected[i].Line) + ": "; !strings.Contains(r.stderr, line) {
					t.Errorf("stderr does not list %q:\n%s", line, r.stderr)
				}
			}
			if code != exitOK && !strings.Contains(r.stderr, "rejected; ") {
				t.Errorf("stderr does not sum up:\n%s", r.stderr)
			}
			if dry {
				if after := state(); !maps.Equal(before, after) {
					t.Fatalf("the dry run wrote: before %v, after %v", before, after)
				}
			}
		}
		return state()
	}

	t.Run("import", func(t *testing.T) {
		header := "key,owner_external_id,tenant,label\n"
		// All good, tenant by id and by name.
		got := check(t, exitOK, nil, owners, "key", "import", file("good.csv", header+
			"old-key-good-0001,alice,"+tn.ID+",good-1\n"+
			"old-key-good-0002,alice,team-a,good-2\n"))
		if got["good-1"] != alice.ID || got["good-2"] != alice.ID {
			t.Fatalf("keys after import: %v", got)
		}
		// Some rejected: a short key, a row with neither key nor hash, an
		// unknown tenant; the good row is imported.
		got = check(t, exitPartial, []string{"", "", `no tenant "team-z"`}, owners, "key", "import", file("mixed.csv", header+
			"short,alice,"+tn.ID+",bad-1\n"+
			",alice,"+tn.ID+",bad-2\n"+
			"old-key-mixed-001,alice,team-z,bad-3\n"+
			"old-key-mixed-002,alice,"+tn.ID+",mixed-ok\n"))
		if got["mixed-ok"] != alice.ID || len(got) != 3 {
			t.Fatalf("keys after a partial import: %v", got)
		}
		// Every row rejected: nothing imported.
		got = check(t, exitFailed, []string{"", ""}, owners, "key", "import", file("bad.csv", header+
			"short,alice,"+tn.ID+",bad-4\n"+
			"old-key-bad-00005,alice,nowhere,bad-5\n"))
		if len(got) != 3 {
			t.Fatalf("keys after a rejected import: %v", got)
		}
	})

	t.Run("remap", func(t *testing.T) {
		// Orphans to repair, in both tenants for the shared external id.
		c.jsonExit(exitOK, &apiv1.ImportSummary{}, "key", "import", file("orphans.csv", "key,owner_external_id,tenant,label\n"+
			"old-key-orphan-01,gone-1,"+tn.ID+",orphan-1\n"+
			"old-key-orphan-02,gone-2,"+tn.ID+",orphan-2\n"+
			"old-key-orphan-03,gone-3,"+tn.ID+",orphan-3\n"+
			"old-key-orphan-4a,gone-4,"+tn.ID+",orphan-4a\n"+
			"old-key-orphan-4b,gone-4,"+other.ID+",orphan-4b\n"))
		// All good: by external id and by principal id.
		got := check(t, exitOK, nil, owners, "key", "remap", file("good-remap.csv", "old_external_id,new_principal\n"+
			"gone-1,new-a@example.com\n"+
			"gone-2,"+newA.ID+"\n"))
		if got["orphan-1"] != newA.ID || got["orphan-2"] != newA.ID {
			t.Fatalf("owners after remap: %v", got)
		}
		// Some rejected: an unknown principal and an external id shared by
		// principals of both tenants that hold keys of gone-4.
		got = check(t, exitPartial, []string{`no principal "new-4"`, "ambiguous"}, owners, "key", "remap", file("mixed-remap.csv",
			"gone-3,new-4\n"+
				"gone-4,shared\n"+
				"gone-3,shared\n"))
		if got["orphan-3"] != sharedA.ID || got["orphan-4a"] != "" || got["orphan-4b"] != "" {
			t.Fatalf("owners after a partial remap: %v", got)
		}
		// Every row rejected: nothing remapped.
		r := c.run(nil, "key", "remap", file("bad-remap.csv", "gone-4,shared\ngone-4,new-5\n"))
		if r.code != exitFailed || !strings.Contains(r.stderr, "ambiguous") || !strings.Contains(r.stderr, "all 2 rows rejected; nothing was remapped") {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
		got = check(t, exitFailed, []string{"ambiguous", "new-5"}, owners, "key", "remap", file("bad-remap.csv", "gone-4,shared\ngone-4,new-5\n"))
		if got["orphan-4a"] != "" || got["orphan-4b"] != "" {
			t.Fatalf("owners after a rejected remap: %v", got)
		}
	})

	t.Run("missing file", func(t *testing.T) {
		for _, cmd := range []string{"import", "remap"} {
			r := c.run(nil, "key", cmd, filepath.Join(dir, "nonexistent.csv"))
			if r.code != exitFailed || strings.Contains(r.stderr, "already") || !strings.Contains(r.stderr, "no such file") || !strings.Contains(r.stderr, "nothing was") {
				t.Fatalf("key %s of a missing file: exit %d\n%s", cmd, r.code, r.stderr)
			}
		}
	})

	t.Run("diagnose", func(t *testing.T) {
		for _, in := range []string{"key_aaaaaaaaaaaaaaaa", "azk_not-a-key", "well-formed-but-unknown"} {
			r := c.run(nil, "key", "diagnose", in)
			if r.code != exitFailed || !strings.Contains(r.stdout, "verdict:") || !strings.Contains(r.stderr, "no such key") {
				t.Fatalf("key diagnose %s: exit %d\nstdout: %s\nstderr: %s", in, r.code, r.stdout, r.stderr)
			}
		}
		if r := c.run(nil, "key", "diagnose", "old-key-good-0001"); r.code != exitOK {
			t.Fatalf("key diagnose of a known key: exit %d %s", r.code, r.stderr)
		}
	})

	t.Run("gateway self-check", func(t *testing.T) {
		upstream := "http://" + freeAddr(t)
		// The bootstrap admin client may not exchange keys: the gateway
		// refuses to start and says how to make one that may.
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, authzBin, "gateway", "--listen", freeAddr(t), "--upstream", upstream,
			"--issuer", c.issuer, "--legacy-key-header", "X-API-Key")
		cmd.Env = append(baseEnv(t.TempDir()), "AUTHZ_CLIENT_ID="+bootstrapID, "AUTHZ_CLIENT_SECRET="+bootstrapSecret)
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != exitFailed || !strings.Contains(string(out), "grant_not_allowed") ||
			!strings.Contains(string(out), "authz client create --tenant T --owner P --grant-type urn:ietf:params:oauth:grant-type:token-exchange") {
			t.Fatalf("gateway with a client lacking the grant: %v\n%s", err, out)
		}
		// With a client that has the grant, it starts.
		var gw apiv1.Client
		c.json(&gw, "client", "create", "--tenant", tn.ID, "--owner", alice.ID, "--grant-type", "urn:ietf:params:oauth:grant-type:token-exchange")
		startGateway(t, c.issuer, upstream, gw.ID, gw.ClientSecret)
	})
}
