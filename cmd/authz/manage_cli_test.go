package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "modernc.org/sqlite"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/server"
	"github.com/authz/authz/store/storetest"
)

// authzBin is the binary under test, built once by TestMain.
var authzBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "authz-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	authzBin = filepath.Join(dir, "authz")
	build := exec.Command("go", "build", "-o", authzBin, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build authz:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const (
	bootstrapID     = "admin-e2e"
	bootstrapSecret = "e2e-bootstrap-secret-0123456789abcdef"
)

// cli is a running `authz serve` and the environment to drive it with.
type cli struct {
	t        *testing.T
	dbURL    string
	issuer   string
	adminURL string
	home     string
	logs     *syncBuffer

	// metricsURL is the --metrics-addr listener.
	metricsURL string
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startServer runs `authz serve` on dbURL with free ports and the
// bootstrap admin client's credentials set, and waits until it is ready.
func startServer(t *testing.T, dbURL string) *cli {
	t.Helper()
	return startServerKey(t, dbURL, masterkey.Generate().String())
}

// startServerKey is startServer with a given master key, so that several
// servers can share one database, as replicas do, and extra serve flags.
func startServerKey(t *testing.T, dbURL, masterKey string, flags ...string) *cli {
	t.Helper()
	pub, adm, met := freeAddr(t), freeAddr(t), freeAddr(t)
	c := &cli{t: t, dbURL: dbURL, issuer: "http://" + pub, adminURL: "http://" + adm, metricsURL: "http://" + met, home: t.TempDir(), logs: &syncBuffer{}}
	env := append(baseEnv(c.home),
		"AUTHZ_DATABASE="+dbURL,
		"AUTHZ_ADDR="+pub,
		"AUTHZ_ADMIN_ADDR="+adm,
		"AUTHZ_METRICS_ADDR="+met,
		"AUTHZ_CONSOLE_ADDR="+freeAddr(t),
		"AUTHZ_ISSUER="+c.issuer,
		"AUTHZ_MASTER_KEY="+masterKey,
		"AUTHZ_BOOTSTRAP_CLIENT_ID="+bootstrapID,
		"AUTHZ_BOOTSTRAP_CLIENT_SECRET="+bootstrapSecret,
	)
	run(t, "authz serve", c.logs, env, append([]string{"serve"}, flags...), c.issuer+"/readyz", http.StatusOK)
	return c
}

// baseEnv is a clean environment: no AUTHZ_* from the developer's shell,
// and a home and cache directory of the test's own (the token cache).
func baseEnv(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AUTHZ_") && !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "XDG_CACHE_HOME=") {
			env = append(env, kv)
		}
	}
	return append(env, "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"))
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs the CLI as the bootstrap admin, with extra environment
// variables (which override the defaults).
func (c *cli) run(extraEnv []string, args ...string) result {
	c.t.Helper()
	cmd := exec.Command(authzBin, args...)
	cmd.Env = append(baseEnv(c.home),
		"AUTHZ_SERVER="+c.adminURL,
		"AUTHZ_ISSUER="+c.issuer,
		"AUTHZ_CLIENT_ID="+bootstrapID,
		"AUTHZ_CLIENT_SECRET="+bootstrapSecret,
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("authz %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// ok runs a command that must succeed and returns its stdout.
func (c *cli) ok(args ...string) string {
	c.t.Helper()
	r := c.run(nil, args...)
	if r.code != 0 {
		c.t.Fatalf("authz %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r.stdout
}

// json runs a command with -o json and decodes its answer.
func (c *cli) json(out any, args ...string) {
	c.t.Helper()
	stdout := c.ok(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(stdout), out); err != nil {
		c.t.Fatalf("authz %s -o json: %v\n%s", strings.Join(args, " "), err, stdout)
	}
}

// jsonExit runs a command with -o json that must exit with code and
// decodes its answer.
func (c *cli) jsonExit(code int, out any, args ...string) result {
	c.t.Helper()
	r := c.run(nil, append(args, "-o", "json")...)
	if r.code != code {
		c.t.Fatalf("authz %s -o json: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), out); err != nil {
		c.t.Fatalf("authz %s -o json: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
	return r
}

// eventually runs a command until it fails, as it must once a change has
// reached the token endpoint's cache (SPEC §6: within a second; the
// deadline here only stops a broken build from hanging), then checks the
// failure as fails does.
func (c *cli) eventually(env []string, want string, args ...string) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for c.run(env, args...).code == 0 {
		if time.Now().After(deadline) {
			c.t.Fatalf("authz %s still succeeds long after the change", strings.Join(args, " "))
		}
		time.Sleep(100 * time.Millisecond)
	}
	c.fails(env, want, args...)
}

// fails runs a command that must fail with one line on stderr containing want.
func (c *cli) fails(env []string, want string, args ...string) {
	c.t.Helper()
	r := c.run(env, args...)
	if r.code == 0 {
		c.t.Fatalf("authz %s succeeded, want failure containing %q:\n%s", strings.Join(args, " "), want, r.stdout)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], want) || !strings.HasPrefix(lines[0], "authz: ") {
		c.t.Fatalf("authz %s: stderr %q, want one line containing %q", strings.Join(args, " "), r.stderr, want)
	}
}

func TestCLIEndToEnd(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		u := storetest.SQLiteURL(t)
		readmeFlow(t, startServer(t, u), func(stmt string, args ...any) { tamperSQLite(t, strings.TrimPrefix(u, "sqlite:"), stmt, args...) })
	})
	t.Run("postgres", func(t *testing.T) {
		u := storetest.PostgresURL(t)
		readmeFlow(t, startServer(t, u), func(stmt string, args ...any) { tamperPostgres(t, u, stmt, args...) })
	})
}

// readmeFlow drives the README's flow through the command line: a tenant,
// a service principal, a role with a permission, a binding, a client, a
// token; a legacy key imported and exchanged; then the principal is
// suspended, its token requests are refused with the exact cause, the
// audit log shows it all and verifies, until a row is changed behind
// authz's back.
func readmeFlow(t *testing.T, c *cli, tamper func(stmt string, args ...any)) {
	var tn apiv1.Tenant
	c.json(&tn, "tenant", "create", "acme")
	var p apiv1.Principal
	c.json(&p, "principal", "create", "--tenant", tn.ID, "--name", "billing", "--kind", "service", "--external-id", "legacy-billing")
	var r apiv1.Role
	c.json(&r, "role", "create", "--tenant", tn.ID, "billing-reader", "--permission", "invoices:read")
	c.ok("role", "bind", r.ID, "--principal", p.ID)
	var cl apiv1.Client
	c.json(&cl, "client", "create", "--tenant", tn.ID, "--owner", p.ID, "--scope", "invoices:read")
	if cl.ClientSecret == "" {
		t.Fatal("client create did not print the secret")
	}

	// Tables are aligned: every column starts where its header does.
	table := c.ok("principal", "list", "--tenant", tn.ID)
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if len(lines) != 2 || strings.Index(lines[0], "STATUS") != strings.Index(lines[1], "active") || !strings.HasPrefix(lines[1], p.ID) {
		t.Fatalf("principal list table:\n%s", table)
	}

	asClient := []string{"AUTHZ_CLIENT_ID=" + cl.ID, "AUTHZ_CLIENT_SECRET=" + cl.ClientSecret}
	tok := c.run(asClient, "token")
	if tok.code != 0 || strings.Count(tok.stdout, ".") != 2 {
		t.Fatalf("authz token: exit %d %q %q", tok.code, tok.stdout, tok.stderr)
	}
	var decoded struct {
		Header map[string]any `json:"header"`
		Claims struct {
			Sub, Scope, Tenant, ClientID string
			Roles                        []string
		} `json:"claims"`
	}
	out := c.run(asClient, "token", "--decode", "-o", "json")
	if err := json.Unmarshal([]byte(out.stdout), &decoded); err != nil || out.code != 0 {
		t.Fatalf("authz token --decode: %v %s %s", err, out.stdout, out.stderr)
	}
	cs := decoded.Claims
	if decoded.Header["typ"] != "at+jwt" || cs.Sub != cl.ID || cs.Scope != "invoices:read" || cs.Tenant != tn.ID || len(cs.Roles) != 1 || cs.Roles[0] != "billing-reader" {
		t.Fatalf("token claims: %+v %+v", decoded.Header, cs)
	}

	// A legacy key of the same principal, imported and exchanged.
	keys := filepath.Join(t.TempDir(), "keys.csv")
	csv := "key,owner_external_id,tenant,scopes,label\n" +
		"old-system-key-7f3a9c,legacy-billing," + tn.ID + ",invoices:read,nightly export\n" +
		"old-system-key-orphan,somebody-gone," + tn.ID + ",,\n" +
		",legacy-billing," + tn.ID + ",,\n"
	if err := os.WriteFile(keys, []byte(csv), 0o600); err != nil {
		t.Fatal(err)
	}
	var sum apiv1.ImportSummary
	c.jsonExit(exitPartial, &sum, "key", "import", keys)
	if sum.Imported != 2 || sum.Orphans != 1 || len(sum.Rejected) != 1 || sum.Rejected[0].Line != 4 {
		t.Fatalf("key import: %+v", sum)
	}
	c.jsonExit(exitPartial, &sum, "key", "import", keys)
	if sum.Imported != 0 || sum.AlreadyPresent != 2 {
		t.Fatalf("key import again: %+v", sum)
	}
	exch := c.run(nil, "token", "--api-key", "old-system-key-7f3a9c", "--decode", "-o", "json")
	if exch.code != 0 || json.Unmarshal([]byte(exch.stdout), &decoded) != nil || decoded.Claims.Sub != p.ID {
		t.Fatalf("exchange of the imported key: exit %d %s %s", exch.code, exch.stdout, exch.stderr)
	}
	c.fails(nil, "owner_not_found", "token", "--api-key", "old-system-key-orphan")

	// Suspend the principal: its client and its key are refused, each with
	// its exact cause.
	// First a dry run: what would stop, and nothing does.
	dry := c.ok("principal", "suspend", p.ID, "--dry-run")
	if !strings.Contains(dry, "would stop 1 key(s) and 1 client(s)") || !strings.Contains(dry, cl.ID) || !strings.Contains(dry, "authz key reassign") {
		t.Fatalf("principal suspend --dry-run:\n%s", dry)
	}
	var dryJSON apiv1.PrincipalChanged
	c.json(&dryJSON, "principal", "suspend", p.ID, "--dry-run")
	if !dryJSON.DryRun || dryJSON.Changed || dryJSON.Status != "active" || dryJSON.Impact == nil || len(dryJSON.Impact.Credentials) != 2 {
		t.Fatalf("principal suspend --dry-run -o json: %+v", dryJSON)
	}
	c.ok("token", "--api-key", "old-system-key-7f3a9c")
	suspended := c.ok("principal", "suspend", p.ID, "--reason", "left the company (HR-1234)")
	if !strings.Contains(suspended, "stopped 1 key(s) and 1 client(s)") {
		t.Fatalf("principal suspend:\n%s", suspended)
	}
	c.eventually(asClient, "client_suspended", "token")
	c.eventually(nil, "owner_suspended", "token", "--api-key", "old-system-key-7f3a9c")
	diag := c.ok("key", "diagnose", "old-system-key-7f3a9c")
	if !strings.Contains(diag, "owner_suspended") || !strings.Contains(diag, "admin:"+bootstrapID) || !strings.Contains(diag, `reason: "left the company (HR-1234)"`) {
		t.Fatalf("key diagnose does not say who suspended the owner and why:\n%s", diag)
	}

	var evs apiv1.List[apiv1.AuditEvent]
	c.json(&evs, "audit", "list", "--target", "principal:"+p.ID)
	// principal.credentials_broken joins them when the uses above were
	// flushed before the suspension (every few seconds).
	kept := evs.Items[:0]
	for _, e := range evs.Items {
		if e.Action != "principal.credentials_broken" {
			kept = append(kept, e)
		}
	}
	evs.Items = kept
	if len(evs.Items) != 2 || evs.Items[0].Action != "principal.suspend" || evs.Items[0].Actor != "admin:"+bootstrapID || evs.Items[1].Action != "principal.create" {
		t.Fatalf("audit of the principal: %+v", evs.Items)
	}
	c.json(&evs, "audit", "list", "--outcome", "refused", "--error-code", "client_suspended")
	if len(evs.Items) == 0 || evs.Items[0].Target != "client:"+cl.ID {
		t.Fatalf("audit of the refused token request: %+v", evs.Items)
	}
	var all apiv1.List[apiv1.AuditEvent]
	c.json(&all, "audit", "list", "--oldest-first", "--limit", "1000")
	for _, action := range []string{"tenant.create", "principal.create", "role.create", "binding.create", "client.create", "token.issue", "key.import", "principal.suspend", "token.refuse"} {
		found := false
		for _, e := range all.Items {
			found = found || e.Action == action
		}
		if !found {
			t.Errorf("no %s event in the audit log", action)
		}
	}
	if v := c.ok("audit", "verify"); !strings.Contains(v, "intact") {
		t.Fatalf("audit verify on an untouched log:\n%s", v)
	}

	// Someone edits an event in the database: verify names it and fails.
	victim := evs.Items[0]
	tamper("UPDATE audit_events SET actor = $1 WHERE seq = $2", "admin:nobody", victim.Seq)
	c.fails(nil, fmt.Sprintf("audit chain broken at event %d (%s): altered", victim.Seq, victim.ID), "audit", "verify")

	// A tenant's own administrator, with a real token: sees its tenant
	// only, and another tenant's objects do not exist for it.
	var other apiv1.Tenant
	c.json(&other, "tenant", "create", "globex")
	var ops apiv1.Principal
	c.json(&ops, "principal", "create", "--tenant", tn.ID, "--name", "acme-ops", "--kind", "service")
	var ar apiv1.Role
	c.json(&ar, "role", "create", "--tenant", tn.ID, "tenant-admins", "--permission", "authz:tenant-admin")
	c.ok("role", "bind", ar.ID, "--principal", ops.ID)
	var tac apiv1.Client
	c.json(&tac, "client", "create", "--tenant", tn.ID, "--owner", ops.ID, "--scope", "authz:tenant-admin")
	asTenantAdmin := []string{"AUTHZ_CLIENT_ID=" + tac.ID, "AUTHZ_CLIENT_SECRET=" + tac.ClientSecret}
	ten := c.run(asTenantAdmin, "tenant", "list", "-o", "json")
	var seen apiv1.List[apiv1.Tenant]
	if ten.code != 0 || json.Unmarshal([]byte(ten.stdout), &seen) != nil || len(seen.Items) != 1 || seen.Items[0].ID != tn.ID {
		t.Fatalf("a tenant admin's tenant list: %d %s %s", ten.code, ten.stdout, ten.stderr)
	}
	c.fails(asTenantAdmin, "not_found", "principal", "create", "--tenant", other.ID, "--name", "x", "--kind", "user")
	c.fails(asTenantAdmin, "not_found", "principal", "suspend", server.BootstrapPrincipalID)
	c.fails(asTenantAdmin, "forbidden", "audit", "verify")
	c.fails(asTenantAdmin, "forbidden", "tenant", "create", "initech")

	// Unreachable server, wrong credentials: one clear line each.
	c.fails([]string{"AUTHZ_SERVER=http://" + freeAddr(t)}, "cannot reach authz admin API at http://", "tenant", "list")
	c.fails([]string{"AUTHZ_CLIENT_SECRET=not-the-secret-not-the-secret-not-the"}, "client_invalid", "tenant", "list")
}

func tamperSQLite(t *testing.T, path, stmt string, args ...any) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Exec(stmt, args...)
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("tamper changed %d rows", n)
	}
}

func tamperPostgres(t *testing.T, dsn, stmt string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	tag, err := conn.Exec(t.Context(), stmt, args...)
	if err != nil {
		t.Fatalf("tamper: %v", err)
	}
	if tag.RowsAffected() != 1 {
		t.Fatalf("tamper changed %d rows", tag.RowsAffected())
	}
}
