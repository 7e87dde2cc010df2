package oauth_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/notify"
	"github.com/authz/authz/server"
	"github.com/authz/authz/server/servertest"
)

// TestSuspensionReachesEveryReplica runs two servers on one database. A
// suspension made through the first is refused by the second within one
// second (SPEC §6), through LISTEN/NOTIFY on PostgreSQL and the generation
// poll on SQLite.
func TestSuspensionReachesEveryReplica(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e1 := servertest.Start(t, db)
		e2 := e1.Replica()
		h := e1.Holder("acme", "service")
		k := e1.IssueKey(h.Owner.ID, nil, 0)
		// Warm the second replica's cache: it has seen the key and owner.
		for range 3 {
			if r := e2.Exchange(k.Key, nil, "", ""); r.Status != 200 {
				t.Fatalf("replica 2 before: %d %s", r.Status, r.Raw)
			}
		}
		servertest.Must[apiv1.Principal](t)(e1.Admin().SuspendPrincipal(e1.Ctx(), h.Owner.ID))
		changed := time.Now()
		for {
			r := e2.Exchange(k.Key, nil, "", "")
			if r.Status == 400 && r.Str("error_code") == "owner_suspended" {
				break
			}
			if took := time.Since(changed); took > time.Second {
				t.Fatalf("replica 2 still answers %d %s %v after the suspension", r.Status, r.Str("error_code"), took)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Logf("refused on the other replica %v after the change", time.Since(changed))
	})
}

// TestWebhookSurvivesReceiverOutage revokes a key while the webhook
// receiver is down; the key.revoked notice arrives once it is back, with
// the same delivery id on every attempt and a valid signature.
func TestWebhookSurvivesReceiverOutage(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		secret := "webhook-secret-shared-with-the-receiver"
		var mu sync.Mutex
		var attempts []string
		var delivered []byte
		var signature string
		down := true
		var e *servertest.Env
		recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, r.Header.Get("Authz-Delivery"))
			if down {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			delivered, signature = body, r.Header.Get("Authz-Signature")
		}))
		defer recv.Close()
		e = servertest.Start(t, db, func(c *server.Config) {
			c.WebhookURL, c.WebhookSecret, c.WebhookPollInterval = recv.URL, secret, 20*time.Millisecond
		})
		h := e.Holder("acme", "service")
		k := e.IssueKey(h.Owner.ID, nil, 0)
		servertest.Must[apiv1.LegacyKey](t)(e.Admin().RevokeKey(e.Ctx(), k.ID, "compromised"))

		waitFor := func(what string, cond func() bool) {
			t.Helper()
			for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("timed out waiting for %s", what)
				}
			}
		}
		waitFor("a first, failed attempt", func() bool { mu.Lock(); defer mu.Unlock(); return len(attempts) >= 1 })
		// The receiver stays down over a retry; each backoff is waited out
		// on the server's clock.
		waitFor("a second, failed attempt", func() bool {
			e.Clock.Advance(time.Hour)
			mu.Lock()
			defer mu.Unlock()
			return len(attempts) >= 2
		})
		mu.Lock()
		down = false
		mu.Unlock()
		// Keep time moving: the failed attempt may still be recording its
		// backoff from the clock as it stands when the receiver comes back.
		waitFor("the delivery", func() bool {
			e.Clock.Advance(time.Hour)
			mu.Lock()
			defer mu.Unlock()
			return delivered != nil
		})

		mu.Lock()
		defer mu.Unlock()
		// The test moved the server's clock by hours, so the timestamp
		// window is wide here; notify's own tests check it tightly.
		if err := notify.VerifySignature([]byte(secret), signature, delivered, e.Clock.Now(), 24*time.Hour); err != nil {
			t.Fatalf("signature: %v", err)
		}
		for _, id := range attempts {
			if id != attempts[0] {
				t.Fatalf("delivery ids differ across retries: %v", attempts)
			}
		}
		var ev struct {
			ID, Type string
			Data     map[string]any
		}
		if err := json.Unmarshal(delivered, &ev); err != nil || ev.Type != "key.revoked" || ev.ID != attempts[0] {
			t.Fatalf("delivered %s (%v)", delivered, err)
		}
	})
}
