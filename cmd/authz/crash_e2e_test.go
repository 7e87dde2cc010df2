package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/backends"
	"github.com/authz/authz/store/storetest"
)

// TestAuditSurvivesSIGKILL kills `authz serve` (SIGKILL: no shutdown, no
// drain) while eight clients are getting tokens, restarts it on the same
// database, and finds a token.issue audit event for every token a client
// received before the kill (by jti), with `authz audit verify` passing: an
// event is durable before its token's response, however the process ends.
func TestAuditSurvivesSIGKILL(t *testing.T) {
	for name, dbURL := range map[string]func(testing.TB) string{"sqlite": storetest.SQLiteURL, "postgres": storetest.PostgresURL} {
		t.Run(name, func(t *testing.T) {
			db, key := dbURL(t), masterkey.Generate().String()
			pub, adm := freeAddr(t), freeAddr(t)
			c := &cli{t: t, dbURL: db, issuer: "http://" + pub, adminURL: "http://" + adm, home: t.TempDir(), logs: &syncBuffer{}}
			env := append(baseEnv(c.home), "AUTHZ_DATABASE="+db, "AUTHZ_ADDR="+pub, "AUTHZ_ADMIN_ADDR="+adm,
				"AUTHZ_METRICS_ADDR=", "AUTHZ_CONSOLE_ADDR=", "AUTHZ_ISSUER="+c.issuer, "AUTHZ_MASTER_KEY="+key,
				"AUTHZ_BOOTSTRAP_CLIENT_ID="+bootstrapID, "AUTHZ_BOOTSTRAP_CLIENT_SECRET="+bootstrapSecret)
			args := []string{"serve", "--rate-limit-addr", "0", "--rate-limit-client", "0", "--rate-limit-key", "0"}
			first := startKillable(t, c, env, args)

			var tenant, principal, role struct{ ID string }
			c.json(&tenant, "tenant", "create", "crash")
			c.json(&principal, "principal", "create", "--tenant", tenant.ID, "--name", "svc", "--kind", "service")
			c.json(&role, "role", "create", "--tenant", tenant.ID, "reader", "--permission", "orders:read")
			c.ok("role", "bind", role.ID, "--principal", principal.ID)
			var client struct {
				ID           string `json:"id"`
				ClientSecret string `json:"client_secret"`
			}
			c.json(&client, "client", "create", "--tenant", tenant.ID, "--owner", principal.ID)

			// Eight clients take tokens until the server dies under them.
			var mu sync.Mutex
			received := map[string]bool{} // jti of every token a client received
			ctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					hc := &http.Client{Timeout: 10 * time.Second}
					for ctx.Err() == nil {
						if jti, ok := takeToken(ctx, hc, c.issuer, client.ID, client.ClientSecret); ok {
							mu.Lock()
							received[jti] = true
							mu.Unlock()
						}
					}
				})
			}
			count := func() int { mu.Lock(); defer mu.Unlock(); return len(received) }
			for deadline := time.Now().Add(60 * time.Second); count() < 300; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					stop()
					t.Fatalf("only %d tokens in 60 s", count())
				}
			}
			first.kill() // SIGKILL, requests in flight
			stop()
			wg.Wait()

			startKillable(t, c, env, args)
			st, err := backends.Open(context.Background(), db, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			audited := map[string]bool{}
			page := store.Page{Limit: 1000}
			for {
				evs, next, err := st.ListAudit(context.Background(), store.AuditFilter{Action: "token.issue"}, page)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range evs {
					var d struct{ JTI string }
					if err := json.Unmarshal(e.Details, &d); err != nil || d.JTI == "" {
						t.Fatalf("token.issue event %d without a jti: %s", e.Seq, e.Details)
					}
					audited[d.JTI] = true
				}
				if next == "" {
					break
				}
				page.After = next
			}
			missing := 0
			for jti := range received {
				if !audited[jti] {
					missing++
				}
			}
			t.Logf("%d tokens received before SIGKILL, %d token.issue events after the restart", len(received), len(audited))
			if missing > 0 {
				t.Errorf("%d of %d tokens the clients received have no audit event", missing, len(received))
			}
			if v := c.ok("audit", "verify"); !strings.Contains(v, "intact") {
				t.Errorf("audit verify after the crash:\n%s", v)
			}
		})
	}
}

// killable is a running `authz serve`.
type killable struct {
	cmd    *exec.Cmd
	exited chan struct{}
}

// kill sends SIGKILL and waits for the process to be gone.
func (k *killable) kill() {
	_ = k.cmd.Process.Kill()
	<-k.exited
}

// startKillable starts `authz serve` with env and waits until it is ready;
// the test may kill it. Whatever is still running at the end is killed.
func startKillable(t *testing.T, c *cli, env, args []string) *killable {
	t.Helper()
	cmd := exec.Command(authzBin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = c.logs, c.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("authz serve output:\n%s", c.logs.String())
		}
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			t.Fatalf("authz serve exited:\n%s", c.logs.String())
		default:
		}
		if resp, err := http.Get(c.issuer + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return &killable{cmd: cmd, exited: exited}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("authz serve did not become ready:\n%s", c.logs.String())
		}
	}
}

// takeToken asks for a client-credentials token and returns its jti when
// one was received.
func takeToken(ctx context.Context, hc *http.Client, issuer, id, secret string) (string, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/oauth2/token",
		strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	if err != nil {
		return "", false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	resp, err := hc.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
		return "", false
	}
	parts := strings.Split(body.AccessToken, ".")
	if len(parts) != 3 {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", false
	}
	var claims struct {
		JTI string `json:"jti"`
	}
	if json.Unmarshal(raw, &claims) != nil || claims.JTI == "" {
		return "", false
	}
	return claims.JTI, true
}
