package server_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/server"
	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// The attacker of these tests sends from 127.0.0.2, the credential's real
// holder from 127.0.0.1: one /24, so the lockout must tell addresses apart,
// not only prefixes.
const attackerIP = "127.0.0.2"

func lockoutOpts(c *server.Config) {
	c.LockoutThreshold, c.LockoutWindow, c.LockoutDuration = 3, time.Minute, 5*time.Minute
}

// signedAssertion is a private_key_jwt client assertion for client id,
// signed with key.
func signedAssertion(t *testing.T, e *servertest.Env, key *ecdsa.PrivateKey, kid, id string) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	now := e.Clock.Now()
	s, err := josejwt.Signed(sig).Claims(josejwt.Claims{
		Issuer: id, Subject: id, Audience: josejwt.Audience{e.Issuer + "/oauth2/token"},
		Expiry: josejwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: josejwt.NewNumericDate(now),
		ID: store.NewID("jti_"),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLockoutIsPerSource: failures from one address lock that address out
// of the credential — guessing is stopped there, even with the right
// credential — and never the holder presenting the right credential from
// its own address. For each kind of credential the probe locked out.
func TestLockoutIsPerSource(t *testing.T) {
	e := servertest.Start(t, storetest.SQLiteURL(t), lockoutOpts)
	attacker := e.From(attackerIP)
	holder := e.From("127.0.0.1")
	cc := url.Values{"grant_type": {"client_credentials"}}

	f := e.Standard("acme")
	h := e.Holder("globex", "service")
	k := e.IssueKey(h.Owner.ID, nil, 0)

	ownKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	attackerKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ownKey.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	jwtClient, _ := e.MkClient(f.Owner, func(c *store.Client) { c.AuthMethod, c.Secrets, c.JWKS = store.AuthPrivateKeyJWT, nil, jwks })
	jwtForm := func(key *ecdsa.PrivateKey) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
			"client_assertion": {signedAssertion(t, e, key, "k1", jwtClient.ID)}}
	}

	tests := []struct {
		name  string
		wrong func(from *servertest.Env) servertest.Response
		right func(from *servertest.Env) servertest.Response
		// wrongStatus, wrongCode: the answer to a failed attempt.
		wrongStatus int
		wrongCode   string
	}{
		{"client secret",
			func(from *servertest.Env) servertest.Response {
				return from.Post("/oauth2/token", cc, f.Client.ID, "azs_wrong")
			},
			func(from *servertest.Env) servertest.Response {
				return from.Post("/oauth2/token", cc, f.Client.ID, f.Secret)
			},
			401, "client_invalid"},
		{"legacy key",
			func(from *servertest.Env) servertest.Response {
				return from.Exchange(legacykeys.Format(k.ID, strings.Repeat("x", 43)), nil, "", "")
			},
			func(from *servertest.Env) servertest.Response { return from.Exchange(k.Key, nil, "", "") },
			400, "key_unknown"},
		{"private_key_jwt with an attacker-signed assertion",
			func(from *servertest.Env) servertest.Response {
				return from.Post("/oauth2/token", jwtForm(attackerKey), "", "")
			},
			func(from *servertest.Env) servertest.Response {
				return from.Post("/oauth2/token", jwtForm(ownKey), "", "")
			},
			401, "client_invalid"},
		{"bootstrap admin client",
			func(from *servertest.Env) servertest.Response {
				return from.Post("/oauth2/token", cc, servertest.AdminID, "wrong-admin-secret-of-at-least-32-chars")
			},
			func(from *servertest.Env) servertest.Response {
				return from.Post("/oauth2/token", cc, servertest.AdminID, servertest.AdminSecret)
			},
			401, "client_invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.T = t
			for i := range 3 {
				r := tt.wrong(attacker)
				if r.Status != tt.wrongStatus || r.Str("error_code") != tt.wrongCode {
					t.Fatalf("failure %d: %d %s", i+1, r.Status, r.Raw)
				}
			}
			// Far past the threshold: the attacker keeps trying.
			for range 7 {
				servertest.WantError(t, tt.wrong(attacker), 429, "slow_down", "rate_limited")
			}
			// The holder, from its own address, is not refused.
			for i := range 3 {
				if r := tt.right(holder); r.Status != 200 {
					t.Fatalf("holder's request %d after the attack: %d %s", i+1, r.Status, r.Raw)
				}
			}
			// Guessing from the attacker's address is stopped: even the
			// right credential is refused there, so a locked source learns
			// nothing from its guesses.
			r := tt.right(attacker)
			servertest.WantError(t, r, 429, "slow_down", "rate_limited")
			if r.Header.Get("Retry-After") == "" {
				t.Fatal("no Retry-After on a lockout")
			}
		})
	}
	e.T = t

	// The lockouts are audited with the source they concern.
	evs, _, err := e.Srv.Store.ListAudit(e.Ctx(), store.AuditFilter{Action: "client.lockout", Target: "client:" + f.Client.ID}, store.Page{})
	if err != nil || len(evs) != 1 || evs[0].ClientAddr != attackerIP || !strings.Contains(string(evs[0].Details), `"scope":"address"`) {
		t.Fatalf("lockout audit: %v %+v", err, evs)
	}
}

// TestLockoutSharedByReplicas: two replicas on one database count one
// attacker's failures together and both refuse it, while the holder is
// served by both.
func TestLockoutSharedByReplicas(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		a := servertest.Start(t, db, lockoutOpts)
		b := a.Replica(lockoutOpts)
		f := a.Standard("acme")
		cc := url.Values{"grant_type": {"client_credentials"}}
		attA, attB := a.From(attackerIP), b.From(attackerIP)

		for range 2 {
			servertest.WantError(t, attA.Post("/oauth2/token", cc, f.Client.ID, "azs_wrong"), 401, "invalid_client", "client_invalid")
		}
		// The third failure, on the other replica, reaches the threshold.
		servertest.WantError(t, attB.Post("/oauth2/token", cc, f.Client.ID, "azs_wrong"), 401, "invalid_client", "client_invalid")
		servertest.WantError(t, attB.Post("/oauth2/token", cc, f.Client.ID, f.Secret), 429, "slow_down", "rate_limited")
		// Replica A learns of the lock B set when it next reads the shared
		// locks (every second in production; here at once).
		if err := a.Srv.Lockout.Sync(a.Ctx()); err != nil {
			t.Fatal(err)
		}
		servertest.WantError(t, attA.Post("/oauth2/token", cc, f.Client.ID, f.Secret), 429, "slow_down", "rate_limited")
		for _, r := range []*servertest.Env{a, b} {
			if got := r.From("127.0.0.1").Post("/oauth2/token", cc, f.Client.ID, f.Secret); got.Status != 200 {
				t.Fatalf("holder refused by a replica: %d %s", got.Status, got.Raw)
			}
		}
	})
}

// TestLockoutImportedKeys: an imported key names no id, so wrong imported
// keys count against their source for the class of imported keys. The
// failing source is stopped; another address with a valid imported key is
// served; a success does not reset the count (or one valid key would let
// its holder interleave guesses at the others). With --lockout-weak-keys,
// failures from many sources lock imported keys for everyone.
func TestLockoutImportedKeys(t *testing.T) {
	for _, weak := range []bool{false, true} {
		t.Run("weak="+strconv.FormatBool(weak), func(t *testing.T) {
			e := servertest.Start(t, storetest.SQLiteURL(t), lockoutOpts, func(c *server.Config) {
				c.LockoutAlertThreshold, c.LockoutPrefixThreshold, c.LockoutWeakKeys = 6, 100, weak
			})
			h := e.Holder("globex", "service")
			const valid = "legacy-imported-key-0001"
			sum, err := e.Admin().ImportKeys(e.Ctx(), []apiv1.ImportRow{{Line: 1, Key: valid, OwnerID: h.Owner.ID, Tenant: h.Tenant.ID}}, false)
			if err != nil || sum.Imported != 1 {
				t.Fatalf("import: %v %+v", err, sum)
			}
			attacker, holder := e.From(attackerIP), e.From("127.0.0.1")
			// A success between guesses does not reset the attacker's count.
			servertest.WantError(t, attacker.Exchange("guess-0000000001", nil, "", ""), 400, "invalid_request", "key_unknown")
			servertest.WantError(t, attacker.Exchange("guess-0000000002", nil, "", ""), 400, "invalid_request", "key_unknown")
			if r := attacker.Exchange(valid, nil, "", ""); r.Status != 200 {
				t.Fatalf("valid imported key: %d %s", r.Status, r.Raw)
			}
			servertest.WantError(t, attacker.Exchange("guess-0000000003", nil, "", ""), 400, "invalid_request", "key_unknown")
			servertest.WantError(t, attacker.Exchange(valid, nil, "", ""), 429, "slow_down", "rate_limited")
			if r := holder.Exchange(valid, nil, "", ""); r.Status != 200 {
				t.Fatalf("holder's imported key after another address's guesses: %d %s", r.Status, r.Raw)
			}
			// Three more wrong imported keys from other addresses reach the
			// alert threshold (6) of the class.
			for i, ip := range []string{"127.0.1.1", "127.0.2.1", "127.0.3.1"} {
				servertest.WantError(t, e.From(ip).Exchange("guess-100000000"+strconv.Itoa(i), nil, "", ""), 400, "invalid_request", "key_unknown")
			}
			evs, _, err := e.Srv.Store.ListAudit(e.Ctx(), store.AuditFilter{Action: "key.guessing"}, store.Page{})
			if err != nil || len(evs) != 1 {
				t.Fatalf("guessing alert audit: %v %+v", err, evs)
			}
			if got := counterValue(t, e, "authz_auth_guessing_alerts_total", "key"); got != 1 {
				t.Fatalf("authz_auth_guessing_alerts_total{kind=key} = %v, want 1", got)
			}
			r := holder.Exchange(valid, nil, "", "")
			if weak {
				servertest.WantError(t, r, 429, "slow_down", "rate_limited")
			} else if r.Status != 200 {
				t.Fatalf("without --lockout-weak-keys the alert locked the holder out: %d %s", r.Status, r.Raw)
			}
		})
	}
}

// TestLockoutIgnoresForgedForwardedFor: X-Forwarded-For from a peer that
// is not a trusted proxy changes nothing — the attacker cannot escape its
// lockout by inventing addresses, nor frame the holder's address — while
// a trusted proxy's header names the caller.
func TestLockoutIgnoresForgedForwardedFor(t *testing.T) {
	e := servertest.Start(t, storetest.SQLiteURL(t), lockoutOpts, func(c *server.Config) {
		c.TrustedProxies = []string{"127.0.0.3/32"}
	})
	f := e.Standard("acme")
	cc := url.Values{"grant_type": {"client_credentials"}}
	post := func(from *servertest.Env, xff, secret string) servertest.Response {
		req, _ := http.NewRequest(http.MethodPost, e.Issuer+"/oauth2/token", strings.NewReader(cc.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", xff)
		req.SetBasicAuth(f.Client.ID, secret)
		return from.Do(req)
	}
	attacker := e.From(attackerIP)
	// Each failure claims another address, and the holder's: all count
	// against 127.0.0.2.
	for i := range 3 {
		servertest.WantError(t, post(attacker, "198.51.100."+strconv.Itoa(i)+", 127.0.0.1", "azs_wrong"), 401, "invalid_client", "client_invalid")
	}
	servertest.WantError(t, post(attacker, "203.0.113.77", f.Secret), 429, "slow_down", "rate_limited")
	if r := e.From("127.0.0.1").Post("/oauth2/token", cc, f.Client.ID, f.Secret); r.Status != 200 {
		t.Fatalf("holder framed by a forged header: %d %s", r.Status, r.Raw)
	}
	// Through the trusted proxy at 127.0.0.3, the header names the caller:
	// the locked 127.0.0.2 stays locked, another caller is served.
	proxy := e.From("127.0.0.3")
	servertest.WantError(t, post(proxy, attackerIP, f.Secret), 429, "slow_down", "rate_limited")
	if r := post(proxy, "192.0.2.10", f.Secret); r.Status != 200 {
		t.Fatalf("caller through the trusted proxy: %d %s", r.Status, r.Raw)
	}
}

// counterValue reads a counter with a kind label from the server's registry.
func counterValue(t *testing.T, e *servertest.Env, name, kind string) float64 {
	t.Helper()
	mfs, err := e.Srv.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
