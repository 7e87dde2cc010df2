package alerts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/alerts"
	"github.com/authz/authz/notify"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

var t0 = time.Date(2026, 5, 4, 12, 0, 0, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// replicas returns n detectors sharing one store, as replicas do.
func replicas(t *testing.T, st store.Store, c *clock, n int, tweak func(*alerts.Config)) []*alerts.Detectors {
	nt := notify.New(st, notify.Config{URL: "http://127.0.0.1:9/hooks", Secret: []byte("webhook secret"), Now: c.Now})
	var ds []*alerts.Detectors
	for range n {
		cfg := alerts.Config{Store: st, Notifier: nt, Now: c.Now}
		if tweak != nil {
			tweak(&cfg)
		}
		d, err := alerts.New(cfg)
		must(t, err)
		ds = append(ds, d)
	}
	return ds
}

// alertsSent returns the queued webhooks of that type, as their data.
func alertsSent(t *testing.T, st store.Store, typ string) []map[string]any {
	ws, _, err := st.ListWebhooks(t.Context(), store.WebhookFilter{}, store.Page{Limit: 1000})
	must(t, err)
	var out []map[string]any
	for _, w := range ws {
		if w.EventType != typ {
			continue
		}
		var env struct {
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		must(t, json.Unmarshal(w.Payload, &env))
		out = append(out, env.Data)
	}
	return out
}

func drain(t *testing.T, ds []*alerts.Detectors) {
	for _, d := range ds {
		d.Drain(t.Context())
	}
}

func TestRefusalSpike(t *testing.T) {
	tests := []struct {
		name string
		// per window, refusals of key_a (owner_suspended unless noted)
		windows []int
		want    int // alerts
	}{
		{"steady load stays quiet", []int{60, 60, 60, 60, 60, 60, 60, 60}, 1}, // only the first window, against a zero baseline
		{"steady low load never alerts", []int{20, 20, 20, 20, 20}, 0},
		{"spike over a steady baseline", []int{20, 20, 20, 20, 400}, 1},
		{"a spike alerts once per window", []int{400}, 1},
		{"two spikes in two windows", []int{400, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 400}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := storetest.OpenSQLite(t)
			c := &clock{now: t0}
			ds := replicas(t, st, c, 3, nil)
			for _, n := range tt.windows {
				for i := range n {
					code := "owner_suspended"
					if i%10 == 0 {
						code = "scope_not_granted"
					}
					// Three replicas behind a balancer that sends this
					// subject's traffic to each in turn... all of it
					// reaches the first too, so that it alone could alert.
					ds[0].Observe(alerts.Observation{Credential: "key:key_a", TenantID: "ten_a", ErrorCode: code, ClientAddr: "192.0.2.1"})
					ds[1+i%2].Observe(alerts.Observation{Credential: "key:key_a", TenantID: "ten_a", ErrorCode: code, ClientAddr: "192.0.2.1"})
				}
				drain(t, ds)
				c.Advance(5 * time.Minute)
			}
			got := alertsSent(t, st, notify.AlertRefusalSpike)
			var forKey []map[string]any
			for _, a := range got {
				if a["subject"] == "key:key_a" {
					forKey = append(forKey, a)
				}
			}
			if len(forKey) != tt.want {
				t.Fatalf("%d alerts for key_a, want %d: %v", len(forKey), tt.want, forKey)
			}
			for _, a := range forKey {
				if a["top_error_code"] != "owner_suspended" || a["summary"] == "" || a["refusals"].(float64) < 50 {
					t.Fatalf("alert body %v", a)
				}
			}
			evs, _, err := st.ListAudit(t.Context(), store.AuditFilter{Action: alerts.RefusalSpike, Target: "key:key_a"}, store.Page{})
			must(t, err)
			if len(evs) != tt.want {
				t.Fatalf("%d audit events, want %d", len(evs), tt.want)
			}
		})
	}
}

func TestNewNetwork(t *testing.T) {
	tests := []struct {
		name   string
		action string
		// uses: days after t0, address
		uses []struct {
			day  int
			addr string
		}
		want   []string // prefixes alerted
		status store.Status
	}{
		{"steady networks stay quiet", "", []struct {
			day  int
			addr string
		}{{0, "192.0.2.10"}, {1, "198.51.100.7"}, {8, "192.0.2.99"}, {9, "198.51.100.200"}, {20, "2001:db8:1:2::1"}, {20, "2001:db8:1:ffff::2"}},
			[]string{"2001:db8:1::/48"}, store.StatusActive},
		{"a new /24 after learning", "", []struct {
			day  int
			addr string
		}{{0, "192.0.2.10"}, {8, "203.0.113.5"}, {8, "203.0.113.6"}},
			[]string{"203.0.113.0/24"}, store.StatusActive},
		{"new networks during learning are learnt", "", []struct {
			day  int
			addr string
		}{{0, "192.0.2.10"}, {3, "203.0.113.5"}, {9, "203.0.113.77"}},
			nil, store.StatusActive},
		{"suspend-credential", alerts.ActionSuspendCredential, []struct {
			day  int
			addr string
		}{{0, "192.0.2.10"}, {8, "203.0.113.5"}},
			[]string{"203.0.113.0/24"}, store.StatusSuspended},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := storetest.OpenSQLite(t)
			ctx := t.Context()
			must(t, st.CreateTenant(ctx, store.Tenant{ID: "ten_a", Name: "a", Status: store.StatusActive, StatusChangedAt: t0, CreatedAt: t0, UpdatedAt: t0}))
			must(t, st.CreatePrincipal(ctx, store.Principal{ID: "prn_a", TenantID: "ten_a", Kind: store.KindService, DisplayName: "a", Status: store.StatusActive, StatusChangedAt: t0, CreatedAt: t0, UpdatedAt: t0}))
			must(t, st.CreateClient(ctx, store.Client{ID: "cli_a", TenantID: "ten_a", OwnerID: "prn_a", Name: "a", AuthMethod: store.AuthSecretBasic,
				GrantTypes: []string{store.GrantClientCredentials}, Status: store.StatusActive, StatusChangedAt: t0, CreatedAt: t0, UpdatedAt: t0}))
			c := &clock{now: t0}
			// Two replicas; the restart in the middle (a fresh detector)
			// must not forget what was learnt.
			ds := replicas(t, st, c, 2, func(cfg *alerts.Config) { cfg.NetworkAction = tt.action })
			for i, u := range tt.uses {
				c.now = t0.Add(time.Duration(u.day) * 24 * time.Hour)
				if i == len(tt.uses)/2 {
					ds = replicas(t, st, c, 2, func(cfg *alerts.Config) { cfg.NetworkAction = tt.action })
				}
				for _, d := range ds {
					for range 3 {
						d.Observe(alerts.Observation{Credential: "client:cli_a", TenantID: "ten_a", ClientAddr: u.addr})
					}
				}
				drain(t, ds)
			}
			got := alertsSent(t, st, notify.AlertNewNetwork)
			var prefixes []string
			for _, a := range got {
				prefixes = append(prefixes, a["prefix"].(string))
				if a["credential"] != "client:cli_a" || a["remedy"] == "" || len(a["known_prefixes"].([]any)) == 0 {
					t.Fatalf("alert body %v", a)
				}
			}
			if fmt.Sprint(prefixes) != fmt.Sprint(tt.want) {
				t.Fatalf("alerted %v, want %v", prefixes, tt.want)
			}
			cl, err := st.GetClient(ctx, "cli_a")
			must(t, err)
			if cl.Status != tt.status {
				t.Fatalf("client status %s, want %s", cl.Status, tt.status)
			}
		})
	}
}

// TestNewNetworkRevokesKey: suspend-credential on a legacy key revokes it
// (keys have no suspension), with an audit event and the reason.
func TestNewNetworkRevokesKey(t *testing.T) {
	st := storetest.OpenSQLite(t)
	ctx := t.Context()
	must(t, st.CreateLegacyKey(ctx, store.LegacyKey{ID: "key_a", Hash: []byte("h"), TenantID: "ten_a", OwnerID: "prn_a", Source: store.SourceIssued,
		Status: store.StatusActive, CreatedAt: t0, UpdatedAt: t0}))
	c := &clock{now: t0}
	ds := replicas(t, st, c, 1, func(cfg *alerts.Config) { cfg.NetworkAction = alerts.ActionSuspendCredential })
	ds[0].Observe(alerts.Observation{Credential: "key:key_a", TenantID: "ten_a", ClientAddr: "192.0.2.10"})
	drain(t, ds)
	c.Advance(8 * 24 * time.Hour)
	ds[0].Observe(alerts.Observation{Credential: "key:key_a", TenantID: "ten_a", ClientAddr: "2001:db8:9::1"})
	drain(t, ds)
	k, err := st.GetLegacyKey(ctx, "key_a")
	must(t, err)
	if k.Status != store.StatusRevoked || k.RevokedBy != "system" || k.RevokedReason != "alert.new_network: used from 2001:db8:9::/48" {
		t.Fatalf("key after the alert: %+v", k)
	}
	got := alertsSent(t, st, notify.AlertNewNetwork)
	if len(got) != 1 || got[0]["action_taken"] != "key revoked" {
		t.Fatalf("alerts %v", got)
	}
	if rv := alertsSent(t, st, notify.KeyRevoked); len(rv) != 1 || rv[0]["key_id"] != "key_a" || rv[0]["revoked_by"] != "system" {
		t.Fatalf("key.revoked notices %v", rv)
	}
	evs, _, err := st.ListAudit(ctx, store.AuditFilter{Target: "key:key_a", Action: "key.revoke"}, store.Page{})
	must(t, err)
	if len(evs) != 1 {
		t.Fatalf("revocation events %+v", evs)
	}
}

func TestPrefix(t *testing.T) {
	for _, tt := range []struct{ addr, want string }{
		{"192.0.2.77", "192.0.2.0/24"},
		{"::ffff:192.0.2.77", "192.0.2.0/24"},
		{"2001:db8:aaaa:bbbb::1", "2001:db8:aaaa::/48"},
		{"fe80::1%eth0", "fe80::/48"},
		{"not an address", ""},
		{"", ""},
	} {
		p, ok := alerts.Prefix(tt.addr)
		got := ""
		if ok {
			got = p.String()
		}
		if got != tt.want {
			t.Errorf("Prefix(%q) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}

func TestAdminBurst(t *testing.T) {
	tests := []struct {
		name string
		// each offboarding: actor, credentials broken
		offboardings []struct {
			actor string
			broke int
		}
		gap  time.Duration // between offboardings
		want []string      // actors alerted
	}{
		{"a few suspensions stay quiet", repeat("admin:ops", 0, 10), time.Second, nil},
		{"eleven suspensions in a window", repeat("admin:ops", 0, 11), time.Second, []string{"admin:ops"}},
		{"alerts once per window", repeat("admin:ops", 0, 30), time.Second, []string{"admin:ops"}},
		{"spread over hours stays quiet", repeat("admin:ops", 0, 30), 10 * time.Minute, nil},
		{"four owners of credentials in use", repeat("scim:tok_1", 1, 4), time.Second, []string{"scim:tok_1"}},
		{"three owners of credentials in use stay quiet", repeat("scim:tok_1", 2, 3), time.Second, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := storetest.OpenSQLite(t)
			c := &clock{now: t0}
			ds := replicas(t, st, c, 3, nil)
			for i, o := range tt.offboardings {
				p := store.Principal{ID: fmt.Sprintf("prn_%d", i), TenantID: "ten_a", Status: store.StatusSuspended}
				must(t, st.Tx(t.Context(), func(tx store.Tx) error {
					return ds[i%3].PrincipalOffboarded(t.Context(), tx, o.actor, p, o.broke)
				}))
				c.Advance(tt.gap)
			}
			var actors []string
			for _, a := range alertsSent(t, st, notify.AlertAdminBurst) {
				actors = append(actors, a["actor"].(string))
				if a["window"] != "10m0s" || a["tenant_id"] != "ten_a" || a["remedy"] == "" ||
					(a["principals"].(float64) <= 10 && a["in_use"].(float64) <= 3) {
					t.Fatalf("alert body %v", a)
				}
			}
			if fmt.Sprint(actors) != fmt.Sprint(tt.want) {
				t.Fatalf("alerted %v, want %v", actors, tt.want)
			}
		})
	}
}

func repeat(actor string, broke, n int) []struct {
	actor string
	broke int
} {
	out := make([]struct {
		actor string
		broke int
	}, n)
	for i := range out {
		out[i].actor, out[i].broke = actor, broke
	}
	return out
}

func TestBoundedState(t *testing.T) {
	st := storetest.OpenSQLite(t)
	c := &clock{now: t0}
	ds := replicas(t, st, c, 1, func(cfg *alerts.Config) { cfg.MaxTracked = 64; cfg.QueueSize = 16 })
	// A flood of distinct credentials neither grows memory without end
	// nor blocks: the queue overflows and is counted.
	for i := range 10000 {
		ds[0].Observe(alerts.Observation{Credential: fmt.Sprintf("key:k%d", i), TenantID: "ten_a", ErrorCode: "key_revoked"})
		ds[0].Observe(alerts.Observation{Credential: fmt.Sprintf("key:k%d", i), TenantID: "ten_a", ClientAddr: "192.0.2.1"})
	}
	if n := ds[0].Tracked(); n > 64+64+32 {
		t.Fatalf("%d subjects tracked, bound 64 per detector", n)
	}
	ds[0].Drain(context.Background())
}

// txCounter counts the store's transactions.
type txCounter struct {
	store.Store
	mu sync.Mutex
	n  int
}

func (c *txCounter) Tx(ctx context.Context, fn func(store.Tx) error) error {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	return c.Store.Tx(ctx, fn)
}

func (c *txCounter) count() int { c.mu.Lock(); defer c.mu.Unlock(); return c.n }

// TestNewNetworksInOneCommit: the first uses of many credentials queued
// together (a migration's first key exchanges) are recorded in one
// transaction, and a new network among them still alerts, once.
func TestNewNetworksInOneCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) {
		st := &txCounter{Store: open(t)}
		ctx := t.Context()
		c := &clock{now: t0}
		ds := replicas(t, st, c, 1, nil)
		d := ds[0]
		d.Observe(alerts.Observation{Credential: "key:key_old", TenantID: "ten_a", ClientAddr: "192.0.2.10"})
		d.Drain(ctx)
		c.Advance(8 * 24 * time.Hour) // key_old has learnt its network
		before := st.count()
		const fresh = 100
		for i := range fresh {
			d.Observe(alerts.Observation{Credential: fmt.Sprintf("key:key_%d", i), TenantID: "ten_a", ClientAddr: "198.51.100.7"})
			if i == fresh/2 {
				d.Observe(alerts.Observation{Credential: "key:key_old", TenantID: "ten_a", ClientAddr: "203.0.113.5"})
			}
		}
		d.Drain(ctx)
		// One transaction records the 101 prefixes, one raises the alert.
		if n := st.count() - before; n != 2 {
			t.Errorf("%d transactions for %d first uses and one alert, want 2", n, fresh+1)
		}
		for i := range fresh {
			cred := fmt.Sprintf("key:key_%d", i)
			ns, err := st.ListCredentialNetworks(ctx, cred, 10)
			must(t, err)
			if len(ns) != 1 || ns[0].Prefix != "198.51.100.0/24" || !ns[0].FirstSeen.Equal(c.Now()) {
				t.Fatalf("networks of %s: %+v", cred, ns)
			}
		}
		got := alertsSent(t, st, notify.AlertNewNetwork)
		if len(got) != 1 || got[0]["credential"] != "key:key_old" || got[0]["prefix"] != "203.0.113.0/24" {
			t.Fatalf("alerts %v, want one for key_old's 203.0.113.0/24", got)
		}
	})
}
