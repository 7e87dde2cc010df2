package oauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/authz/authz/audit"
	"github.com/authz/authz/oauth"
	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/statuslist/publisher"
	"github.com/authz/authz/store"
)

// rollingBack makes every transaction roll back after its work, with
// fail, while fail is set: a commit that fails.
type rollingBack struct {
	store.Store
	mu   sync.Mutex
	fail error
}

func (r *rollingBack) set(err error) { r.mu.Lock(); r.fail = err; r.mu.Unlock() }

func (r *rollingBack) Tx(ctx context.Context, fn func(store.Tx) error) error {
	r.mu.Lock()
	fail := r.fail
	r.mu.Unlock()
	return r.Store.Tx(ctx, func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return fail
	})
}

// TestNoTokenWithoutItsIndex: when the commit that would give a key its
// first status-list index fails, the exchange is refused (503), no token
// is issued (none in the answer, no token.issue event) and the key has no
// index; once commits succeed again, the token carries the index the key
// then durably holds.
func TestNoTokenWithoutItsIndex(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		h := e.Holder("acme", "service")
		k := e.IssueKey(h.Owner.ID, []string{"orders:read"}, 0)
		// The server's token endpoint, its status claims from a publisher
		// whose allocation commits fail.
		st := &rollingBack{Store: e.Srv.Store}
		pub, err := publisher.New(st, e.Srv.Keys, publisher.Config{Issuer: e.Issuer})
		if err != nil {
			t.Fatal(err)
		}
		o, err := oauth.New(oauth.Config{Issuer: e.Issuer}, oauth.Deps{
			Store: e.Srv.Store, Directory: e.Srv.Directory, Signer: e.Srv.Keys.Signer(), Verifier: e.Srv.Keys,
			SigningAlgs: e.Srv.Keys.Algs(), JWKS: e.Srv.Keys, Secrets: e.Srv.Secrets, LegacyHasher: e.Srv.KeyHasher,
			Audit: e.Srv.Audit, AuditAppend: audit.Append, Usage: e.Srv.Usage, Status: pub,
		})
		if err != nil {
			t.Fatal(err)
		}
		exchange := func() (int, map[string]any) {
			body := url.Values{"grant_type": {store.GrantTokenExchange}, "subject_token_type": {servertest.APIKeyType},
				"subject_token": {k.Key}}.Encode()
			req := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			rec := httptest.NewRecorder()
			o.Handler().ServeHTTP(rec, req)
			var out map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("%d %s", rec.Code, rec.Body)
			}
			return rec.Code, out
		}
		issued := func() int {
			evs, _, err := e.Srv.Store.ListAudit(e.Ctx(), store.AuditFilter{Action: "token.issue", Target: "key:" + k.ID}, store.Page{})
			if err != nil {
				t.Fatal(err)
			}
			return len(evs)
		}

		st.set(fmt.Errorf("commit: %w", store.ErrUnavailable))
		code, body := exchange()
		if code != http.StatusServiceUnavailable || body["error_code"] != "unavailable" || body["access_token"] != nil {
			t.Fatalf("exchange with the allocation failing: %d %v", code, body)
		}
		if n := issued(); n != 0 {
			t.Fatalf("%d token.issue events for the refused exchange", n)
		}
		if _, err := e.Srv.Store.GetStatusIndex(e.Ctx(), "key:"+k.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetStatusIndex after the failed commit: %v, want not found", err)
		}

		st.set(nil)
		code, body = exchange()
		if code != http.StatusOK {
			t.Fatalf("exchange once commits succeed: %d %v", code, body)
		}
		idx, err := e.Srv.Store.GetStatusIndex(e.Ctx(), "key:"+k.ID)
		if err != nil {
			t.Fatal(err)
		}
		status, _ := claimsOf(t, body["access_token"].(string))["status"].(map[string]any)
		list, _ := status["status_list"].(map[string]any)
		if got, ok := list["idx"].(float64); !ok || int64(got) != idx {
			t.Fatalf("token's status %v, the key's index %d", status, idx)
		}
		if n := issued(); n != 1 {
			t.Fatalf("%d token.issue events, want 1", n)
		}
	})
}

// TestConcurrentFirstExchanges: many requests exchanging keys never seen
// before, at once and on two replicas, get one index per key (the same in
// every token of a key) and distinct indices for distinct keys, each the
// one the key durably holds.
func TestConcurrentFirstExchanges(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		replicas := []*servertest.Env{e, e.Replica()}
		h := e.Holder("acme", "service")
		keys := make([]string, 3)
		ids := make([]string, len(keys))
		for i := range keys {
			k := e.IssueKey(h.Owner.ID, []string{"orders:read"}, 0)
			keys[i], ids[i] = k.Key, k.ID
		}
		const perKey = 16
		idx := make([][]int64, len(keys))
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range keys {
			for j := range perKey {
				wg.Go(func() {
					r := replicas[j%2].Exchange(keys[i], nil, "", "")
					if r.Status != http.StatusOK {
						t.Errorf("key %d, request %d: %d %s", i, j, r.Status, r.Raw)
						return
					}
					status, _ := claimsOf(t, r.Str("access_token"))["status"].(map[string]any)
					list, _ := status["status_list"].(map[string]any)
					got, ok := list["idx"].(float64)
					if !ok {
						t.Errorf("key %d: status claim %v", i, status)
						return
					}
					mu.Lock()
					idx[i] = append(idx[i], int64(got))
					mu.Unlock()
				})
			}
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		seen := map[int64]int{}
		for i, got := range idx {
			want, err := e.Srv.Store.GetStatusIndex(e.Ctx(), "key:"+ids[i])
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range got {
				if g != want {
					t.Fatalf("key %d: tokens carry indices %v, the key holds %d", i, got, want)
				}
			}
			if other, dup := seen[want]; dup {
				t.Fatalf("keys %d and %d share index %d", other, i, want)
			}
			seen[want] = i
		}
	})
}
