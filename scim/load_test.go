package scim_test

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// The load benchmarks of issue 20's goals (docs/benchmarks.md):
//
//	AUTHZ_SCIM_USERS=100000 go test ./scim -run '^$' -bench 'SCIMReconcile' -benchtime 1x -timeout 60m
//	go test ./scim -run '^$' -bench 'SCIMDeactivationReachesReplicas' -benchtime 1x
//
// PostgreSQL runs with CI=true AUTHZ_TEST_POSTGRES=... like the tests.

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func backends(b *testing.B, fn func(b *testing.B, dbURL string)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, storetest.SQLiteURL(b)) })
	b.Run("postgres", func(b *testing.B) { fn(b, storetest.PostgresURL(b)) })
}

// fastClient keeps one connection per worker, as an IdP's connector does.
func fastClient(workers int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = workers*2, workers*2
	return &http.Client{Transport: tr, Timeout: time.Minute}
}

// parallel runs fn(i) for i in [0, n) on workers goroutines and returns the
// first error.
func parallel(n, workers int, fn func(i int) error) error {
	var next atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || first.Load() != nil {
					return
				}
				if err := fn(i); err != nil {
					first.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := first.Load().(error); err != nil {
		return err
	}
	return nil
}

func userBody(i int, active bool) string {
	return fmt.Sprintf(`{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "user%06d@load.example",
 "externalId": "00u%06d", "name": {"givenName": "User", "familyName": "%06d"}, "displayName": "User %06d",
 "emails": [{"primary": true, "value": "user%06d@load.example", "type": "work"}], "active": %t}`, i, i, i, i, i, active)
}

// BenchmarkSCIMReconcile: an IdP's full reconciliation of AUTHZ_SCIM_USERS
// users (default 1000): for each, the filter lookup and the PUT of the
// whole user, from AUTHZ_SCIM_WORKERS concurrent connections (default 8).
// The users are provisioned first (POST, reported as provision_s).
func BenchmarkSCIMReconcile(b *testing.B) {
	users, workers := envInt("AUTHZ_SCIM_USERS", 1000), envInt("AUTHZ_SCIM_WORKERS", 8)
	backends(b, func(b *testing.B, dbURL string) {
		e := servertest.Start(b, dbURL)
		w := newWorldTB(b, e, "load")
		hc := fastClient(workers)
		send := func(method, path, body string, want int) (answer, error) {
			a, err := rawDo(hc, e.Issuer, w.token.Token, method, path, body)
			if err == nil && a.Status != want {
				err = fmt.Errorf("%s %s: %d %s", method, path, a.Status, a.Raw)
			}
			return a, err
		}
		ids := make([]string, users)
		start := time.Now()
		if os.Getenv("AUTHZ_SCIM_SEED") == "store" {
			// Provisioning is not what this measures: seeding through
			// the store, in batches, leaves the time for the
			// reconciliation.
			seedUsers(b, e, w, ids)
		} else if err := parallel(users, workers, func(i int) error {
			a, err := send("POST", "/Users", userBody(i, true), 201)
			ids[i] = a.str("id")
			return err
		}); err != nil {
			b.Fatal(err)
		}
		provision := time.Since(start)
		b.ResetTimer()
		var took time.Duration
		for range b.N {
			start = time.Now()
			if err := parallel(users, workers, func(i int) error {
				a, err := send("GET", "/Users"+filterQuery(fmt.Sprintf(`userName eq "user%06d@load.example"`, i))+"&startIndex=1&count=100", "", 200)
				if err != nil {
					return err
				}
				if a.total() != 1 {
					return fmt.Errorf("lookup of user %d: %s", i, a.Raw)
				}
				_, err = send("PUT", "/Users/"+ids[i], userBody(i, true), 200)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			took = time.Since(start)
		}
		b.StopTimer()
		// The reference, measured in the same run: the cheapest
		// authenticated, audited SCIM request, as many as the
		// reconciliation sent (two per user).
		start = time.Now()
		if err := parallel(2*users, workers, func(int) error {
			_, err := send("GET", "/ServiceProviderConfig", "", 200)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		ref := time.Since(start)
		b.ReportMetric(ref.Seconds(), "reference_s")
		b.ReportMetric(took.Seconds()/ref.Seconds(), "x_reference")
		b.ReportMetric(float64(users), "users")
		b.ReportMetric(provision.Seconds(), "provision_s")
		b.ReportMetric(took.Seconds(), "reconcile_s")
		b.ReportMetric(float64(users)/took.Seconds(), "users/s")
		b.ReportMetric(took.Seconds()*100000/float64(users), "s_per_100k")
	})
}

// BenchmarkSCIMDeactivationReachesReplicas: how long after a SCIM
// deactivation sent to one replica another replica refuses the owner's
// key (owner_suspended), and after the reactivation accepts it again;
// AUTHZ_SCIM_ROUNDS rounds (default 20), the second replica polled every
// 5 ms.
func BenchmarkSCIMDeactivationReachesReplicas(b *testing.B) {
	rounds := envInt("AUTHZ_SCIM_ROUNDS", 20)
	backends(b, func(b *testing.B, dbURL string) {
		e := servertest.Start(b, dbURL)
		r2 := e.Replica()
		w := newWorldTB(b, e, "replicas")
		ctx := e.Ctx()
		if _, err := w.a.MapSCIMGroup(ctx, apiv1.CreateSCIMGroupMapping{TenantID: w.tenant.ID, Group: "Engineering", Role: "orders"}); err != nil {
			b.Fatal(err)
		}
		hc := fastClient(2)
		must := func(a answer, err error) answer {
			b.Helper()
			if err != nil || a.Status >= 300 {
				b.Fatalf("%v %d %s", err, a.Status, a.Raw)
			}
			return a
		}
		id := must(rawDo(hc, e.Issuer, w.token.Token, "POST", "/Users", userBody(1, true))).str("id")
		must(rawDo(hc, e.Issuer, w.token.Token, "POST", "/Groups", `{"displayName": "Engineering", "members": [{"value": "`+id+`"}]}`))
		key := e.IssueKey(id, nil, time.Hour)
		until := func(wantCode string) time.Duration {
			start := time.Now()
			for time.Since(start) < 10*time.Second {
				r := r2.Exchange(key.Key, nil, "", "")
				if (wantCode == "" && r.Status == 200) || (wantCode != "" && r.Str("error_code") == wantCode) {
					return time.Since(start)
				}
				time.Sleep(5 * time.Millisecond)
			}
			b.Fatalf("replica 2 never answered %q", wantCode)
			return 0
		}
		until("")
		var off, on []time.Duration
		b.ResetTimer()
		for range b.N {
			for range rounds {
				start := time.Now()
				must(rawDo(hc, e.Issuer, w.token.Token, "PATCH", "/Users/"+id, oktaActive(false)))
				until("owner_suspended")
				off = append(off, time.Since(start))
				start = time.Now()
				must(rawDo(hc, e.Issuer, w.token.Token, "PATCH", "/Users/"+id, entraActive("True")))
				until("")
				on = append(on, time.Since(start))
			}
		}
		b.StopTimer()
		slices.Sort(off)
		slices.Sort(on)
		b.ReportMetric(float64(off[len(off)/2].Milliseconds()), "deactivate_p50_ms")
		b.ReportMetric(float64(off[len(off)-1].Milliseconds()), "deactivate_max_ms")
		b.ReportMetric(float64(on[len(on)/2].Milliseconds()), "reactivate_p50_ms")
		b.ReportMetric(float64(on[len(on)-1].Milliseconds()), "reactivate_max_ms")
	})
}

// seedUsers creates the users of userBody directly in the store, as a POST
// would (a principal of kind user and its SCIM source), 1000 per
// transaction.
func seedUsers(b *testing.B, e *servertest.Env, w world, ids []string) {
	ctx := e.Ctx()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for lo := 0; lo < len(ids); lo += 1000 {
		err := e.Srv.Store.Tx(ctx, func(tx store.Tx) error {
			for i := lo; i < min(lo+1000, len(ids)); i++ {
				p := store.Principal{ID: store.NewID(store.PrefixPrincipal), TenantID: w.tenant.ID, Kind: store.KindUser,
					DisplayName: fmt.Sprintf("User %06d", i), ExternalID: fmt.Sprintf("00u%06d", i), Status: store.StatusActive,
					StatusChangedAt: now, StatusChangedBy: "scim:" + w.token.ID, CreatedAt: now, UpdatedAt: now}
				if err := tx.CreatePrincipal(ctx, p); err != nil {
					return err
				}
				attrs := fmt.Sprintf(`{"displayName":"User %06d","name":{"familyName":"%06d","givenName":"User"},"emails":[{"primary":true,"type":"work","value":"user%06d@load.example"}],"active":true}`, i, i, i)
				if err := tx.CreateSCIMUser(ctx, store.SCIMUser{PrincipalID: p.ID, TenantID: w.tenant.ID, UserName: fmt.Sprintf("user%06d@load.example", i),
					ExternalID: fmt.Sprintf("00u%06d", i), Attributes: []byte(attrs), TokenID: w.token.ID, CreatedAt: now, UpdatedAt: now}); err != nil {
					return err
				}
				ids[i] = p.ID
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
