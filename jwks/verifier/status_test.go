package verifier_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/authz/authz/jwks/verifier"
	"github.com/authz/authz/jwks/verifier/verifiertest"
	"github.com/authz/authz/statuslist"
)

// statusSetup is setup with the issuer serving list (on the verifier's
// clock) and the verifier's metrics in reg.
func statusSetup(t *testing.T, list verifiertest.StatusList, mod func(*verifier.Config)) (*fixture, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	f := setup(t, verifier.ES256, func(c *verifier.Config) {
		c.Registerer = reg
		if mod != nil {
			mod(c)
		}
	})
	list.Now = f.clock.Now
	f.iss.SetStatusList(list)
	return f, reg
}

// statusToken signs a valid token whose status is entry idx of the
// issuer's list. It lives two hours, so that only its status changes
// while a test moves the clock.
func (f *fixture) statusToken(t *testing.T, idx int64) string {
	t.Helper()
	c := f.claims()
	c["exp"] = f.clock.Now().Add(2 * time.Hour).Unix()
	c["status"] = f.iss.StatusClaim(idx)
	return f.sign(t, c, nil)
}

func (f *fixture) hits(t *testing.T, want int) {
	t.Helper()
	if got := f.iss.StatusListHits(); got != want {
		t.Fatalf("status list fetched %d times, want %d", got, want)
	}
}

// statusOf returns the list status a refusal names, if any.
func statusOf(err error) (statuslist.Status, bool) {
	var se *verifier.StatusError
	if errors.As(err, &se) {
		return se.Status, true
	}
	return 0, false
}

func TestStatusListDecision(t *testing.T) {
	f, _ := statusSetup(t, verifiertest.StatusList{Statuses: map[int64]statuslist.Status{
		1: statuslist.Suspended, 2: statuslist.Invalid, 3: 3,
	}}, nil)
	withStatus := func(status any) string {
		c := f.claims()
		c["status"] = status
		return f.sign(t, c, nil)
	}
	tests := []struct {
		name  string
		token string
		// want is "" for an accepted token, else the reason.
		want       verifier.Reason
		wantStatus statuslist.Status
		desc       string
	}{
		{name: "ok/valid", token: f.statusToken(t, 0)},
		{name: "fail/suspended", token: f.statusToken(t, 1), want: verifier.ReasonStatus, wantStatus: statuslist.Suspended, desc: "token status is suspended"},
		{name: "fail/invalid", token: f.statusToken(t, 2), want: verifier.ReasonStatus, wantStatus: statuslist.Invalid, desc: "token status is invalid"},
		{name: "fail/application-specific value", token: f.statusToken(t, 3), want: verifier.ReasonStatus, wantStatus: 3, desc: "token status is 0x03"},
		{name: "ok/no status claim (another issuer's kind of token)", token: f.sign(t, f.claims(), nil)},
		{name: "ok/status without a status list", token: withStatus(map[string]any{"other_mechanism": map[string]any{"x": 1}})},
		{name: "ok/status null", token: withStatus(nil)},
		{name: "fail/negative idx", token: withStatus(map[string]any{"status_list": map[string]any{"idx": -1, "uri": f.iss.StatusListURI()}}), want: verifier.ReasonClaims},
		{name: "fail/no uri", token: withStatus(map[string]any{"status_list": map[string]any{"idx": 0}}), want: verifier.ReasonClaims},
		{name: "fail/status not an object", token: withStatus("valid"), want: verifier.ReasonClaims},
	}
	// Tokens without a reference need no list.
	f.accepted(t, f.sign(t, f.claims(), nil))
	f.hits(t, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := f.v.Verify(context.Background(), tt.token)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if strings.HasPrefix(tt.name, "ok/valid") && (c.Status == nil || c.Status.Idx != 0 || c.Status.URI != f.iss.StatusListURI()) {
					t.Fatalf("Claims.Status = %+v", c.Status)
				}
			} else {
				if verifier.ReasonOf(err) != tt.want {
					t.Fatalf("Verify error %v, want reason %q", err, tt.want)
				}
				var e *verifier.Error
				errors.As(err, &e)
				if tt.desc != "" && !strings.Contains(e.Description(), tt.desc) {
					t.Fatalf("description %q lacks %q", e.Description(), tt.desc)
				}
				if tt.want == verifier.ReasonStatus {
					if st, ok := statusOf(err); !ok || st != tt.wantStatus {
						t.Fatalf("StatusError = %v, %v; want %v", st, ok, tt.wantStatus)
					}
				}
			}
		})
	}
	// One fetch served them all.
	f.hits(t, 1)
}

// A token served from the verified-token cache has its status checked on
// every use: suspension and resumption reach it once the list is renewed.
func TestStatusListOnCachedToken(t *testing.T) {
	f, _ := statusSetup(t, verifiertest.StatusList{TTL: time.Minute}, nil)
	tok := f.statusToken(t, 7)
	f.accepted(t, tok)
	f.iss.SetStatus(7, statuslist.Suspended)
	f.clock.Advance(30 * time.Second)
	f.accepted(t, tok) // the cached list is fresh for a minute
	f.hits(t, 1)
	f.clock.Advance(30 * time.Second)
	f.refused(t, tok, verifier.ReasonStatus)
	f.hits(t, 2)
	f.iss.SetStatus(7, statuslist.Valid)
	f.clock.Advance(time.Minute)
	f.accepted(t, tok)
	f.hits(t, 3)
}

// The list URI comes from the token: anything but the issuer's own
// origin is refused without a request.
func TestStatusListForeignURIRefusedWithoutFetch(t *testing.T) {
	var foreignHits atomic.Int64
	foreign := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { foreignHits.Add(1) }))
	t.Cleanup(foreign.Close)
	f, _ := statusSetup(t, verifiertest.StatusList{}, nil)
	u, _ := url.Parse(f.iss.URL)
	for _, uri := range []string{
		foreign.URL + verifiertest.StatusListPath,
		"https://" + u.Host + verifiertest.StatusListPath,
		"http://attacker@" + u.Host + verifiertest.StatusListPath,
		"http://" + u.Host + ".evil.example" + verifiertest.StatusListPath,
		"http://" + u.Hostname() + verifiertest.StatusListPath, // port 80
		"http://" + u.Host + "@" + strings.TrimPrefix(foreign.URL, "http://") + verifiertest.StatusListPath,
		verifiertest.StatusListPath,
		"file:///etc/passwd",
	} {
		t.Run(uri, func(t *testing.T) {
			c := f.claims()
			c["status"] = map[string]any{"status_list": map[string]any{"idx": 0, "uri": uri}}
			_, err := f.v.Verify(context.Background(), f.sign(t, c, nil))
			var e *verifier.Error
			if !errors.As(err, &e) || e.Reason != verifier.ReasonStatus || !strings.Contains(e.Description(), "origin") {
				t.Fatalf("Verify error %v, want a status refusal naming the origin", err)
			}
		})
	}
	if foreignHits.Load() != 0 || f.iss.StatusListHits() != 0 {
		t.Fatalf("fetched: foreign %d, issuer %d", foreignHits.Load(), f.iss.StatusListHits())
	}
}

// A Status List Token is verified like an access token of the issuer,
// with its own typ: a list that does not verify decides nothing, and the
// token whose status it was to give is refused as unavailable (503), never
// accepted.
func TestStatusListTokenRefused(t *testing.T) {
	tests := []struct {
		name string
		mod  func(f *fixture, l *verifiertest.StatusList)
	}{
		{"tampered", func(_ *fixture, l *verifiertest.StatusList) { l.Tamper = true }},
		{"typ at+jwt", func(_ *fixture, l *verifiertest.StatusList) { l.Header = map[string]any{"typ": "at+jwt"} }},
		{"typ missing", func(_ *fixture, l *verifiertest.StatusList) { l.Header = map[string]any{"typ": nil} }},
		{"alg none", func(_ *fixture, l *verifiertest.StatusList) { l.Header = map[string]any{"alg": "none"} }},
		{"crit header", func(_ *fixture, l *verifiertest.StatusList) { l.Header = map[string]any{"crit": []string{"x"}, "x": 1} }},
		{"unpublished key", func(_ *fixture, l *verifiertest.StatusList) {
			l.Signer = verifiertest.NewKey(t, verifier.ES256)
		}},
		{"kid of another algorithm", func(f *fixture, l *verifiertest.StatusList) {
			k := verifiertest.NewKey(t, verifier.EdDSA)
			k.Kid = f.key.Kid
			l.Signer = k
		}},
		{"sub is another list", func(f *fixture, l *verifiertest.StatusList) { l.Subject = f.iss.URL + "/statuslists/2" }},
		{"iss is another issuer", func(_ *fixture, l *verifiertest.StatusList) { l.Issuer = "https://other.example" }},
		{"expired", func(f *fixture, l *verifiertest.StatusList) {
			l.Validity = time.Minute
			l.Now = func() time.Time { return f.clock.Now().Add(-2 * time.Minute) }
		}},
		{"issued in the future", func(f *fixture, l *verifiertest.StatusList) {
			l.Now = func() time.Time { return f.clock.Now().Add(time.Hour) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, reg := statusSetup(t, verifiertest.StatusList{}, nil)
			f.iss.UpdateStatusList(func(l *verifiertest.StatusList) { tt.mod(f, l) })
			_, err := f.v.Verify(context.Background(), f.statusToken(t, 0))
			if !errors.Is(err, verifier.ErrUnavailable) {
				t.Fatalf("Verify error %v, want ReasonUnavailable", err)
			}
			f.hits(t, 1)
			if n := metricValue(t, reg, "authz_verifier_status_list_fetches_total", "outcome", "invalid"); n != 1 {
				t.Fatalf("invalid fetches = %v, want 1", n)
			}
		})
	}
}

// metricValue is the value of the counter name{label="value"} in reg
// (0 when absent).
func metricValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// A list is fresh for the least of its ttl, its max-age and what is left
// until its exp (at least a second); before that no request reaches the
// issuer, at that moment the check waits for a new list.
func TestStatusListFreshness(t *testing.T) {
	tests := []struct {
		name  string
		list  verifiertest.StatusList
		fresh time.Duration
	}{
		{"max-age below ttl", verifiertest.StatusList{TTL: time.Minute, CacheControl: "public, max-age=30"}, 30 * time.Second},
		{"ttl below max-age", verifiertest.StatusList{TTL: 20 * time.Second, CacheControl: "max-age=300"}, 20 * time.Second},
		{"ttl without Cache-Control", verifiertest.StatusList{TTL: time.Minute, CacheControl: "-"}, time.Minute},
		{"neither: the default", verifiertest.StatusList{TTL: -1, CacheControl: "-"}, verifier.DefaultStatusListTTL},
		{"exp comes first", verifiertest.StatusList{TTL: 5 * time.Minute, Validity: 40 * time.Second}, 40 * time.Second},
		{"no-cache: the minimum interval", verifiertest.StatusList{TTL: time.Minute, CacheControl: "no-cache"}, verifier.DefaultStatusListMinRefresh},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := statusSetup(t, tt.list, nil)
			tok := f.statusToken(t, 0)
			t0 := f.clock.Now()
			f.accepted(t, tok)
			f.hits(t, 1)
			// Before half the freshness (when a background refresh would
			// start), nothing is fetched.
			f.clock.Advance(tt.fresh * 4 / 10)
			f.accepted(t, tok)
			f.hits(t, 1)
			f.clock.Advance(t0.Add(tt.fresh).Sub(f.clock.Now()))
			f.accepted(t, tok)
			f.hits(t, 2)
		})
	}
}

// Past half its freshness, the list is renewed in the background: the
// request goes on with the cached list, the next one sees the new list,
// and nobody waited for the issuer.
func TestStatusListBackgroundRefresh(t *testing.T) {
	f, _ := statusSetup(t, verifiertest.StatusList{TTL: time.Minute}, nil)
	tok := f.statusToken(t, 3)
	f.accepted(t, tok)
	f.iss.SetStatus(3, statuslist.Suspended)
	f.clock.Advance(29 * time.Second)
	f.accepted(t, tok)
	f.hits(t, 1)
	f.clock.Advance(time.Second)
	f.accepted(t, tok) // decided on the cached list
	verifier.WaitStatusFetches(f.v)
	f.hits(t, 2)
	f.refused(t, tok, verifier.ReasonStatus)
	f.hits(t, 2)
}

// Refetches are conditional: a 304 renews the cached list.
func TestStatusListNotModified(t *testing.T) {
	f, reg := statusSetup(t, verifiertest.StatusList{TTL: time.Minute}, nil)
	tok := f.statusToken(t, 0)
	f.accepted(t, tok)
	f.clock.Advance(time.Minute)
	f.accepted(t, tok)
	f.iss.SetStatus(0, statuslist.Invalid)
	f.clock.Advance(time.Minute)
	f.refused(t, tok, verifier.ReasonStatus)
	f.hits(t, 3)
	want := `
# HELP authz_verifier_status_list_fetches_total Token Status List fetches, by outcome: success, not_modified (304), error (unreachable, HTTP status) or invalid (signature, typ, claims, size).
# TYPE authz_verifier_status_list_fetches_total counter
authz_verifier_status_list_fetches_total{outcome="not_modified"} 1
authz_verifier_status_list_fetches_total{outcome="success"} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "authz_verifier_status_list_fetches_total"); err != nil {
		t.Fatal(err)
	}
}

// While the issuer is unreachable, the cached list keeps deciding for
// MaxStale past its freshness, never past its exp (plus leeway); then
// tokens are refused as unavailable until a list can be fetched again.
func TestStatusListOutage(t *testing.T) {
	tests := []struct {
		name     string
		list     verifiertest.StatusList
		maxStale time.Duration
		// usable is how long after the fetch the list still decides.
		usable time.Duration
	}{
		{"capped by MaxStale", verifiertest.StatusList{TTL: time.Minute, Validity: time.Hour}, 5 * time.Minute, time.Minute + 5*time.Minute},
		{"capped by exp", verifiertest.StatusList{TTL: time.Minute, Validity: 90 * time.Second}, time.Hour, 90*time.Second + verifier.DefaultLeeway},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.list.Statuses = map[int64]statuslist.Status{1: statuslist.Suspended}
			f, reg := statusSetup(t, tt.list, func(c *verifier.Config) { c.StatusLists.MaxStale = tt.maxStale })
			valid, suspended := f.statusToken(t, 0), f.statusToken(t, 1)
			t0 := f.clock.Now()
			f.accepted(t, valid)
			f.iss.UpdateStatusList(func(l *verifiertest.StatusList) { l.HTTPStatus = http.StatusServiceUnavailable })

			f.clock.Advance(tt.list.TTL)
			f.accepted(t, valid)
			f.refused(t, suspended, verifier.ReasonStatus) // stale, but still deciding
			f.hits(t, 2)                                   // one attempt, whoever asks
			// Retries back off from an eighth of the minimum interval,
			// doubling with each failure.
			eighth := verifier.DefaultStatusListMinRefresh / 8
			for _, step := range []struct {
				advance time.Duration
				hits    int
			}{{eighth, 3}, {eighth, 3}, {eighth, 4}, {3 * eighth, 4}, {eighth, 5}} {
				f.clock.Advance(step.advance)
				f.accepted(t, valid)
				f.hits(t, step.hits)
			}

			f.clock.Advance(t0.Add(tt.usable - time.Second).Sub(f.clock.Now()))
			f.accepted(t, valid)
			f.clock.Advance(time.Second)
			_, err := f.v.Verify(context.Background(), valid)
			var e *verifier.Error
			if !errors.As(err, &e) || e.Reason != verifier.ReasonUnavailable || !strings.Contains(e.Description(), "status list") {
				t.Fatalf("Verify error %v, want unavailable: the status cannot be known", err)
			}
			f.refused(t, suspended, verifier.ReasonUnavailable)

			f.iss.UpdateStatusList(func(l *verifiertest.StatusList) { l.HTTPStatus = 0 })
			f.clock.Advance(8 * verifier.DefaultStatusListMinRefresh) // the longest pause
			f.accepted(t, valid)
			if n := metricValue(t, reg, "authz_verifier_status_refusals_total", "status", "unavailable"); n != 2 {
				t.Fatalf("unavailable refusals = %v, want 2", n)
			}
		})
	}
}

// An index beyond the cached list (a credential newer than the list) is
// fetched again once, then refused.
func TestStatusListIndexBeyondTheList(t *testing.T) {
	f, _ := statusSetup(t, verifiertest.StatusList{Size: 8, TTL: 5 * time.Minute}, nil)
	f.accepted(t, f.statusToken(t, 7))
	f.hits(t, 1)
	f.refused(t, f.statusToken(t, 8), verifier.ReasonStatus) // the list was fetched just now
	f.hits(t, 1)

	f.iss.UpdateStatusList(func(l *verifiertest.StatusList) { l.Size = 1024 })
	f.clock.Advance(2 * time.Second)
	f.accepted(t, f.statusToken(t, 100)) // refetched, now covered
	f.hits(t, 2)

	f.clock.Advance(2 * time.Second)
	_, err := f.v.Verify(context.Background(), f.statusToken(t, 5000))
	var e *verifier.Error
	if !errors.As(err, &e) || e.Reason != verifier.ReasonStatus || !errors.Is(err, statuslist.ErrOutOfRange) {
		t.Fatalf("Verify error %v, want a status refusal (out of range)", err)
	}
	f.hits(t, 3)
	f.refused(t, f.statusToken(t, 5000), verifier.ReasonStatus)
	f.hits(t, 3) // not again within the interval
}

// Concurrent checks of a list not yet cached share one fetch.
func TestStatusListConcurrentFetchesCoalesce(t *testing.T) {
	gate := make(chan struct{})
	f, _ := statusSetup(t, verifiertest.StatusList{Gate: gate}, func(c *verifier.Config) { c.TokenCacheSize = -1 })
	tok := f.statusToken(t, 0)
	const n = 32
	errs := make(chan error, n)
	for range n {
		go func() {
			_, err := f.v.Verify(context.Background(), tok)
			errs <- err
		}()
	}
	// Every check is waiting for the one fetch, which is held at the gate
	// once the issuer has counted it: the checks can be all waiting before
	// the fetch's request has reached the issuer.
	deadline := time.Now().Add(30 * time.Second)
	for waitingForStatus() < n || f.iss.StatusListHits() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d checks wait for the status list; fetched %d times", waitingForStatus(), n, f.iss.StatusListHits())
		}
		runtime.Gosched()
	}
	f.hits(t, 1)
	close(gate)
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	f.hits(t, 1)
}

// waitingForStatus counts goroutines blocked in the status list fetch
// wait.
func waitingForStatus() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "[select") && strings.Contains(g, "verifier.(*statusLists).refresh(") {
			n++
		}
	}
	return n
}

// The warm path — list cached and fresh — allocates nothing, refusals
// included.
func TestStatusListWarmPathAllocatesNothing(t *testing.T) {
	f, _ := statusSetup(t, verifiertest.StatusList{Statuses: map[int64]statuslist.Status{1: statuslist.Suspended}}, nil)
	ctx := context.Background()
	for idx, want := range map[int64]verifier.Reason{0: "", 1: verifier.ReasonStatus} {
		c := f.accepted(t, f.sign(t, f.claims(), nil))
		c.Status = &statuslist.ListReference{Idx: idx, URI: f.iss.StatusListURI()}
		if r := verifier.ReasonOf(verifier.CheckStatusLists(ctx, f.v, c, f.clock.Now())); r != want {
			t.Fatalf("idx %d: reason %q, want %q", idx, r, want)
		}
		if allocs := testing.AllocsPerRun(1000, func() { _ = verifier.CheckStatusLists(ctx, f.v, c, f.clock.Now()) }); allocs != 0 {
			t.Fatalf("idx %d: %v allocations per check", idx, allocs)
		}
	}
}

func TestStatusListDisabled(t *testing.T) {
	f, _ := statusSetup(t, verifiertest.StatusList{Statuses: map[int64]statuslist.Status{1: statuslist.Suspended}},
		func(c *verifier.Config) { c.StatusLists.Disabled = true })
	c := f.accepted(t, f.statusToken(t, 1))
	if c.Status == nil || c.Status.Idx != 1 {
		t.Fatalf("Claims.Status = %+v", c.Status)
	}
	f.hits(t, 0)
}

// Without an issuer to check (offline inspection with a JWKS URL), lists
// come from the JWKS's origin, and a list must still be its token's
// issuer's.
func TestStatusListWithoutIssuerCheck(t *testing.T) {
	f, _ := statusSetup(t, verifiertest.StatusList{}, nil)
	v, err := verifier.New(t.Context(), verifier.Config{
		JWKSURL: f.iss.URL + "/.well-known/jwks.json", InsecureSkipIssuerCheck: true, Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	if _, err := v.Verify(context.Background(), f.statusToken(t, 0)); err != nil {
		t.Fatal(err)
	}
	c := f.claims()
	c["iss"] = "https://other.example"
	c["status"] = f.iss.StatusClaim(0)
	_, err = v.Verify(context.Background(), f.sign(t, c, nil))
	var e *verifier.Error
	if !errors.As(err, &e) || e.Reason != verifier.ReasonStatus || !strings.Contains(e.Description(), "another issuer") {
		t.Fatalf("Verify error %v, want a refusal: the list is another issuer's", err)
	}
}

func TestStatusListMetrics(t *testing.T) {
	f, reg := statusSetup(t, verifiertest.StatusList{TTL: time.Minute, Statuses: map[int64]statuslist.Status{
		1: statuslist.Suspended, 2: statuslist.Invalid,
	}}, nil)
	f.accepted(t, f.statusToken(t, 0))
	f.refused(t, f.statusToken(t, 1), verifier.ReasonStatus)
	f.refused(t, f.statusToken(t, 1), verifier.ReasonStatus)
	f.refused(t, f.statusToken(t, 2), verifier.ReasonStatus)
	f.clock.Advance(42 * time.Second)
	want := `
# HELP authz_verifier_status_list_age_seconds Seconds since the oldest cached Token Status List was fetched or revalidated (0 when none is cached).
# TYPE authz_verifier_status_list_age_seconds gauge
authz_verifier_status_list_age_seconds 42
# HELP authz_verifier_status_refusals_total Tokens refused by the status check, by status: suspended, invalid, other (another non-VALID value), out_of_range, issuer (list of another issuer), foreign_uri (list not on the issuer's origin), unavailable (no usable list).
# TYPE authz_verifier_status_refusals_total counter
authz_verifier_status_refusals_total{status="foreign_uri"} 0
authz_verifier_status_refusals_total{status="invalid"} 1
authz_verifier_status_refusals_total{status="issuer"} 0
authz_verifier_status_refusals_total{status="other"} 0
authz_verifier_status_refusals_total{status="out_of_range"} 0
authz_verifier_status_refusals_total{status="suspended"} 2
authz_verifier_status_refusals_total{status="unavailable"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "authz_verifier_status_list_age_seconds", "authz_verifier_status_refusals_total"); err != nil {
		t.Fatal(err)
	}
}

// Close stops a background refresh in flight and waits for it.
func TestStatusListCloseStopsFetches(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	f, _ := statusSetup(t, verifiertest.StatusList{TTL: time.Minute}, nil)
	tok := f.statusToken(t, 0)
	f.accepted(t, tok)
	f.iss.UpdateStatusList(func(l *verifiertest.StatusList) { l.Gate = gate })
	f.clock.Advance(50 * time.Second)
	f.accepted(t, tok) // starts the background refresh, held at the gate
	deadline := time.Now().Add(30 * time.Second)
	for f.iss.StatusListHits() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no background refresh")
		}
		runtime.Gosched()
	}
	closed := make(chan struct{})
	go func() { f.v.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close does not return while a status list fetch is in flight")
	}
}
