package publisher_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/statuslist"
	"github.com/authz/authz/statuslist/publisher"
	"github.com/authz/authz/store/storetest"
)

func TestServeList(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite, nil)

	if rec := e.get(nil); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), `"error_code":"unavailable"`) ||
		rec.Header().Get("Retry-After") == "" {
		t.Fatalf("before the first build: %d %s, want 503 unavailable with Retry-After", rec.Code, rec.Body)
	}

	idx := e.idx(e.chain("a").clientCred)
	tok, l := e.list()
	now := e.clock.Now()
	if tok.Issuer != issuer || tok.Subject != issuer+publisher.PathList || tok.IssuedAt != now.Unix() ||
		tok.Expiry != now.Add(5*time.Minute).Unix() || tok.TTL != 30 {
		t.Fatalf("claims = %+v", tok)
	}
	if s, err := l.Get(idx); err != nil || s != statuslist.Valid {
		t.Fatalf("Get(%d) = %v, %v", idx, s, err)
	}

	rec := e.get(nil)
	h := rec.Header()
	for k, want := range map[string]string{
		"Content-Type":                statuslist.MediaType,
		"Cache-Control":               "public, max-age=30",
		"Access-Control-Allow-Origin": "*",
		"Vary":                        "Accept-Encoding",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	etag := h.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || h.Get("Content-Encoding") != "" {
		t.Fatalf("ETag %q, Content-Encoding %q", etag, h.Get("Content-Encoding"))
	}
	body := rec.Body.String()

	t.Run("HEAD", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodHead, publisher.PathList, nil)
		rec := httptest.NewRecorder()
		e.p.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 || rec.Header().Get("ETag") != etag ||
			rec.Header().Get("Content-Length") != itoa(len(body)) {
			t.Fatalf("HEAD: %d, %d bytes, headers %v", rec.Code, rec.Body.Len(), rec.Header())
		}
	})
	t.Run("If-None-Match", func(t *testing.T) {
		rec := e.get(http.Header{"If-None-Match": {`"other", ` + etag}})
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 || rec.Header().Get("Cache-Control") == "" {
			t.Fatalf("revalidation: %d %q %v", rec.Code, rec.Body, rec.Header())
		}
		if rec := e.get(http.Header{"If-None-Match": {`"other"`}}); rec.Code != http.StatusOK {
			t.Fatalf("another ETag: %d", rec.Code)
		}
	})
	t.Run("gzip", func(t *testing.T) {
		rec := e.get(http.Header{"Accept-Encoding": {"br;q=1, gzip;q=0.8"}})
		if rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") != "gzip" {
			t.Fatalf("gzip: %d %v", rec.Code, rec.Header())
		}
		gzETag := rec.Header().Get("ETag")
		if gzETag == etag {
			t.Fatal("the gzip representation has the identity representation's ETag")
		}
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || string(plain) != body {
			t.Fatalf("gunzipped body differs (%v)", err)
		}
		if rec := e.get(http.Header{"Accept-Encoding": {"gzip"}, "If-None-Match": {gzETag}}); rec.Code != http.StatusNotModified {
			t.Fatalf("gzip revalidation: %d", rec.Code)
		}
		for _, ae := range []string{"gzip;q=0", "identity", "br", "*;q=0"} {
			if rec := e.get(http.Header{"Accept-Encoding": {ae}}); rec.Header().Get("Content-Encoding") != "" {
				t.Errorf("Accept-Encoding %q got %q", ae, rec.Header().Get("Content-Encoding"))
			}
		}
		if rec := e.get(http.Header{"Accept-Encoding": {"*"}}); rec.Header().Get("Content-Encoding") != "gzip" {
			t.Error(`Accept-Encoding "*" did not get gzip`)
		}
	})
	t.Run("other methods", func(t *testing.T) {
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
			for _, path := range []string{publisher.PathList, publisher.PathAggregation} {
				rec := httptest.NewRecorder()
				e.p.ServeHTTP(rec, httptest.NewRequest(m, path, strings.NewReader("x")))
				if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "GET, HEAD" ||
					!strings.Contains(rec.Body.String(), `"error_code":"method_not_allowed"`) {
					t.Errorf("%s %s: %d %v %s", m, path, rec.Code, rec.Header(), rec.Body)
				}
			}
		}
	})
	t.Run("aggregation", func(t *testing.T) {
		rec := httptest.NewRecorder()
		e.p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, publisher.PathAggregation, nil))
		var agg struct {
			StatusLists []string `json:"status_lists"`
		}
		if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &agg) != nil ||
			len(agg.StatusLists) != 1 || agg.StatusLists[0] != issuer+publisher.PathList {
			t.Fatalf("aggregation: %d %s", rec.Code, rec.Body)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("aggregation Content-Type %q", ct)
		}
	})
	t.Run("unknown list", func(t *testing.T) {
		rec := httptest.NewRecorder()
		e.p.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/statuslists/2", nil))
		if rec.Code != http.StatusNotFound {
			t.Fatalf("/statuslists/2: %d", rec.Code)
		}
	})
}

// A rebuild that finds nothing changed keeps serving the same token (same
// ETag); a change is published with a new one; a token past half its
// validity is re-signed; an expired one is never served.
func TestResigning(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite, nil)
	c := e.chain("a")
	idx := e.idx(c.clientCred)
	e.list()
	etag := e.get(nil).Header().Get("ETag")

	e.clock.Advance(30 * time.Second)
	e.must(e.p.Refresh(e.ctx))
	if got := e.get(nil).Header().Get("ETag"); got != etag {
		t.Fatal("an unchanged list was re-signed")
	}

	e.updateClient(c.client.ID, "suspended")
	if got := e.status(idx); got != statuslist.Suspended {
		t.Fatalf("after suspension: %v", got)
	}
	changed := e.get(nil).Header().Get("ETag")
	if changed == etag {
		t.Fatal("a changed list kept its ETag")
	}

	e.clock.Advance(2*time.Minute + 31*time.Second) // past half of the 5 min validity
	tok, _ := e.list()
	if tok.IssuedAt != e.clock.Now().Unix() {
		t.Fatalf("a list past half its validity was not re-signed: iat %d", tok.IssuedAt)
	}

	e.clock.Advance(5 * time.Minute) // no rebuild: the database is, say, down
	if rec := e.get(nil); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("an expired list was served: %d", rec.Code)
	}
}

// The token verifies with the issuer's keys as statuslist+jwt and not as
// an access token; a tampered one, or one whose header says alg none, does
// not verify.
func TestTokenVerification(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite, nil)
	e.idx(e.chain("a").clientCred)
	e.list()
	tok := e.get(nil).Body.String()
	if _, _, err := e.keys.Verify(e.ctx, tok, statuslist.TokenType); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if _, _, err := e.keys.Verify(e.ctx, tok, "at+jwt"); err == nil {
		t.Fatal("a status list token verified as an access token")
	}
	parts := strings.Split(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := bytes.Replace(payload, []byte(`"bits":2`), []byte(`"bits":1`), 1)
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var hdr map[string]any
	_ = json.Unmarshal(header, &hdr)
	if hdr["typ"] != statuslist.TokenType || hdr["kid"] == nil {
		t.Fatalf("header = %v", hdr)
	}
	hdr["alg"] = "none"
	none, _ := json.Marshal(hdr)
	for name, bad := range map[string]string{
		"payload changed": parts[0] + "." + base64.RawURLEncoding.EncodeToString(forged) + "." + parts[2],
		"alg none":        base64.RawURLEncoding.EncodeToString(none) + "." + parts[1] + ".",
		"no signature":    parts[0] + "." + parts[1] + ".",
	} {
		if _, _, err := e.keys.Verify(e.ctx, bad, statuslist.TokenType); err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		name   string
		adjust func(*publisher.Config)
		ok     bool
	}{
		{"defaults", func(*publisher.Config) {}, true},
		{"issuer with a trailing slash", func(c *publisher.Config) { c.Issuer += "/" }, true},
		{"ttl 10 s, validity 1 min", func(c *publisher.Config) { c.TTL, c.Validity = 10*time.Second, time.Minute }, true},
		{"no issuer", func(c *publisher.Config) { c.Issuer = "" }, false},
		{"relative issuer", func(c *publisher.Config) { c.Issuer = "/authz" }, false},
		{"ttl not whole seconds", func(c *publisher.Config) { c.TTL = 1500 * time.Millisecond }, false},
		{"validity under twice the ttl", func(c *publisher.Config) { c.TTL, c.Validity = time.Minute, 90*time.Second }, false},
		{"validity beyond the signing keys' retention", func(c *publisher.Config) {
			c.MaxTokenLifetime, c.Validity = 10*time.Minute, 20*time.Minute
		}, false},
		{"negative poll interval", func(c *publisher.Config) { c.PollInterval = -time.Second }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := publisher.Config{Issuer: issuer}
			tc.adjust(&cfg)
			_, err := publisher.New(storetest.OpenSQLite(t), fakeKeys{}, cfg)
			if (err == nil) != tc.ok {
				t.Fatalf("New error = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// fakeKeys is only for constructor checks, which never sign.
type fakeKeys struct{}

func (fakeKeys) Sign(ctx context.Context, claims any, typ string) (string, error) { return "", nil }
func (fakeKeys) Verify(ctx context.Context, token, typ string) ([]byte, string, error) {
	return nil, "", nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// With the database gone, the last list is served until it expires, never
// re-signed blindly, and a credential without a cached index gets no
// status claim (so no token).
func TestStoreDown(t *testing.T) {
	e := newEnv(t, storetest.OpenSQLite, nil)
	cached, uncached := e.chain("a").clientCred, e.chain("b").clientCred
	e.list()
	e.idx(cached)
	etag := e.get(nil).Header().Get("ETag")
	e.must(e.st.Close())

	if err := e.p.Refresh(e.ctx); err == nil {
		t.Fatal("Refresh succeeded without a database")
	}
	if rec := e.get(nil); rec.Code != http.StatusOK || rec.Header().Get("ETag") != etag {
		t.Fatalf("the last list is not served: %d", rec.Code)
	}
	if _, err := e.p.StatusClaim(e.ctx, cached); err != nil {
		t.Fatalf("cached claim: %v", err)
	}
	if v, err := e.p.StatusClaim(e.ctx, uncached); err == nil {
		t.Fatalf("StatusClaim without a database = %v", v)
	}
	e.clock.Advance(5 * time.Minute)
	if rec := e.get(nil); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("expired list served: %d", rec.Code)
	}
}
