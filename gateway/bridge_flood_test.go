package gateway_test

import (
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/authz/authz/gateway"
	"github.com/authz/authz/jwks/verifier"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/server"
	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// clientFrom is an HTTP client whose connections leave from loopback ip.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
}

// randomKey is a well-formed authz key (valid checksum) that exists nowhere.
func randomKey() string {
	const b62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b [43]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = b62[int(b[i])%62]
	}
	return legacykeys.Format(store.NewID(store.PrefixKey), string(b[:]))
}

// TestBridgeFloodFromOneAddress is issue 22 §2: one address (127.0.0.1)
// sends random keys through the bridge at about 300/s while others
// (127.0.0.2 to 127.0.0.11) use legitimate keys that no cache holds yet. Against a real
// authz with its default rate limits, at least 99% of the legitimate
// exchanges succeed: the gateway limits exchanges per caller address before
// asking authz, and authz, told the caller's address by a gateway it
// trusts, limits the gateway's client per caller and per key rather than
// per client alone.
func TestBridgeFloodFromOneAddress(t *testing.T) {
	defaults := server.Defaults()
	e := servertest.Start(t, storetest.SQLiteURL(t), func(c *server.Config) {
		c.RateLimitAddr, c.RateLimitClient, c.RateLimitKey, c.RateLimitBurst = defaults.RateLimitAddr, defaults.RateLimitClient, defaults.RateLimitKey, defaults.RateLimitBurst
		c.Now = time.Now                            // rate limits refill in real time
		c.TrustedProxies = []string{"127.0.0.1/32"} // the gateway's address
	})
	const aud = "https://api.example.com"
	gw := e.Standard("gateways") // client with token exchange and audience aud
	h := e.Holder("globex", "service")
	const legit = 100
	keys := make([]string, legit)
	for i := range keys {
		keys[i] = e.IssueKey(h.Owner.ID, nil, 0).Key
	}

	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(upstream.Close)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := verifier.New(ctx, verifier.Config{Issuer: e.Issuer, Audience: []string{aud}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	up, _ := url.Parse(upstream.URL)
	proxy, err := gateway.NewProxy(gateway.Config{
		Upstream: up, Verifier: v, LegacyKeyHeader: "X-API-Key",
		TokenEndpoint: e.Issuer + "/oauth2/token", ClientID: gw.Client.ID, ClientSecret: gw.Secret,
		ExchangeAudience: aud,
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: proxy, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	gwURL := "http://" + l.Addr().String() + "/orders"

	send := func(c *http.Client, key string) int {
		req, _ := http.NewRequest(http.MethodGet, gwURL, nil)
		req.Header.Set("X-API-Key", key)
		resp, err := c.Do(req)
		if err != nil {
			return 0
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	// The flood: 6 senders, each about 50 random keys a second, for as
	// long as the legitimate caller runs (at most 1,000 keys each).
	done := make(chan struct{})
	var flooded, floodLimited atomic.Int64
	var wg sync.WaitGroup
	flooder := clientFrom("127.0.0.1")
	for range 6 {
		wg.Go(func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for range 1000 {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				if send(flooder, randomKey()) == http.StatusTooManyRequests {
					floodLimited.Add(1)
				}
				flooded.Add(1)
			}
		})
	}
	// The legitimate callers start once the flood is under way.
	for deadline := time.Now().Add(30 * time.Second); flooded.Load() < 300; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the flood sent only %d keys in 30 s", flooded.Load())
		}
	}

	// Ten legitimate callers, 127.0.0.2 to 127.0.0.11, ten keys each,
	// taking turns.
	callers := make([]*http.Client, 10)
	for i := range callers {
		callers[i] = clientFrom("127.0.0." + strconv.Itoa(2+i))
	}
	var ok int
	var failures []int
	for i, k := range keys {
		if st := send(callers[i%len(callers)], k); st == http.StatusOK {
			ok++
		} else {
			failures = append(failures, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(done)
	wg.Wait()
	t.Logf("flood: %d random keys (%d refused 429 by the gateway); legitimate: %d of %d succeeded, failures %v",
		flooded.Load(), floodLimited.Load(), ok, legit, failures)
	if ok*100 < legit*99 {
		t.Fatalf("only %d of %d legitimate keys succeeded under the flood (statuses of the others: %v)", ok, legit, failures)
	}
}
