package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store/storetest"
)

// listRoutes are the admin API's GET routes without a path parameter:
// the ones whose behaviour is driven by query parameters.
func listRoutes() []string {
	var out []string
	for _, rt := range routes() {
		if rt.Method == "GET" && !strings.Contains(rt.Path, "{") {
			out = append(out, rt.Path)
		}
	}
	return out
}

// getRaw sends GET path?raw (raw as is, not re-encoded) as token.
func getRaw(h http.Handler, token, path, raw string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", Prefix+path, nil)
	req.URL.RawQuery = raw
	req.Header.Set("Authorization", "Bearer "+token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// wellRefused fails unless rec is a success or a documented JSON refusal
// (never a 5xx: a malformed query is the caller's mistake).
func wellRefused(t *testing.T, what string, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code >= 500 {
		t.Fatalf("%s: %d %s", what, rec.Code, rec.Body)
	}
	if rec.Code == http.StatusOK {
		return
	}
	var b errcode.Body
	if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || !errcode.Known(b.Code) || b.Error == "" {
		t.Fatalf("%s: %d, not a documented JSON error: %s", what, rec.Code, rec.Body)
	}
}

// TestMalformedQueries (issue 18 §7): a malformed cursor, or any malformed
// query parameter, is 400 request_invalid with the parameter named, on
// every listing and both backends; never a 500.
func TestMalformedQueries(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		e.fixture(e.tenantA)
		for _, tc := range []struct {
			name, path, raw, field string
		}{
			{"audit cursor not a number", "/audit/events", "after=abc", "after:"},
			{"audit cursor past 2^64", "/audit/events", "after=18446744073709551616", "after:"},
			{"audit cursor negative", "/audit/events", "after=-5", "after:"},
			{"ascending audit cursor past 2^64", "/audit/events", "order=asc&after=99999999999999999999", "after:"},
			{"binding cursor without its two parts", "/bindings", "after=abc", "after:"},
			{"cursor with NUL", "/tenants", "after=%00", `query parameter "after":`},
			{"cursor not ASCII", "/principals", "after=%C3%A9", "after:"},
			{"cursor too long", "/clients", "after=" + strings.Repeat("a", 300), "after:"},
			{"filter with NUL", "/clients", "owner_id=prn_%00", `query parameter "owner_id":`},
			{"filter not UTF-8", "/principals", "external_id=%FF%FE", `query parameter "external_id":`},
			{"audit actor with newline", "/audit/events", "actor=client:x%0Aadmin", `query parameter "actor":`},
			{"repeated parameter", "/keys", "status=active&status=revoked", `query parameter "status":`},
			{"bad escape", "/roles", "tenant_id=%zz", "query string"},
			{"huge value", "/tenants", "status=" + strings.Repeat("x", 2000), `query parameter "status":`},
			{"limit past int64", "/tenants", "limit=99999999999999999999", "limit:"},
			{"limit zero", "/keys", "limit=0", "limit:"},
			{"status unknown", "/principals", "status=asleep", "status:"},
			{"since not a time", "/audit/events", "since=yesterday", "since:"},
			{"within not a duration", "/reports/expiring", "within=soon", "within:"},
			{"expiring_within overflow", "/keys", "expiring_within=99999999999999999999d", "expiring_within:"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				for _, tok := range []string{tokAdmin, tokA} {
					rec := getRaw(e.h, tok, tc.path, tc.raw)
					b := e.refusal(rec, http.StatusBadRequest, errcode.RequestInvalid)
					if !strings.Contains(b.Description, tc.field) {
						t.Fatalf("description %q does not name %q", b.Description, tc.field)
					}
				}
			})
		}
		t.Run("path with NUL", func(t *testing.T) {
			req := httptest.NewRequest("GET", Prefix+"/keys/x", nil)
			req.URL.Path, req.URL.RawPath = Prefix+"/keys/\x00", ""
			req.Header.Set("Authorization", "Bearer "+tokAdmin)
			rec := httptest.NewRecorder()
			e.h.ServeHTTP(rec, req)
			e.refusal(rec, http.StatusBadRequest, errcode.RequestInvalid)
		})
		t.Run("well-formed cursors still page", func(t *testing.T) {
			for _, raw := range []string{"after=9223372036854775807", "order=asc&after=0", "limit=1"} {
				if rec := getRaw(e.h, tokAdmin, "/audit/events", raw); rec.Code != http.StatusOK {
					t.Fatalf("%s: %d %s", raw, rec.Code, rec.Body)
				}
			}
			if rec := getRaw(e.h, tokAdmin, "/bindings", "after=prn_a+rol_b"); rec.Code != http.StatusOK {
				t.Fatalf("binding cursor: %d %s", rec.Code, rec.Body)
			}
		})
	})
}

// FuzzListQuery drives every query-parameter parser of the admin API at
// once: any query string on any listing, as the system admin and as a
// tenant admin, is answered 200 or a documented JSON refusal, never 5xx.
// (SQLite here; TestMalformedQueries holds the PostgreSQL-specific cases.)
func FuzzListQuery(f *testing.F) {
	e := newEnv(f, storetest.OpenSQLite(f))
	e.fixture(e.tenantA)
	paths := listRoutes()
	for i, raw := range []string{
		"", "after=abc", "after=18446744073709551616", "after=-1", "limit=0", "limit=1000", "limit=1001",
		"status=active", "status=x", "kind=user", "kind=robot", "tenant_id=system", "owner_id=prn_x",
		"since=2026-01-31T00:00:00Z&until=0001-01-01T00:00:00Z", "since=9999-12-31T23:59:59.999999999Z",
		"order=asc&after=5", "order=up", "outcome=refused", "outcome=maybe", "within=30d", "within=1e9d",
		"expiring_within=36h", "expiring_within=-1", "after=prn_a%20rol_b", "after=%00", "a=1&a=2", "%zz", ";",
		"error_code=client_invalid&actor=client:x&target=key:y&action=token.issue",
	} {
		f.Add(uint8(i), raw)
	}
	f.Fuzz(func(t *testing.T, which uint8, raw string) {
		path := paths[int(which)%len(paths)]
		for _, tok := range []string{tokAdmin, tokA} {
			wellRefused(t, path+"?"+raw, getRaw(e.h, tok, path, raw))
		}
	})
}

// FuzzQueryParsers: the query parsers on their own (no store), fast
// enough to explore deeply: they never panic, refuse only with
// request_invalid, and what checkQuery and page accept is what the store
// can be given (short printable cursors, valid UTF-8 without controls).
func FuzzQueryParsers(f *testing.F) {
	for _, raw := range []string{"after=abc&limit=10", "after=%00", "limit=-1", "since=2026-01-31T00:00:00Z", "within=30d", "status=active", "x=%ff", "a=1&a=2", "%", "after=" + strings.Repeat("9", 300)} {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.RawQuery = raw
		refusedWell := func(what string, err error) bool {
			if err == nil {
				return false
			}
			if errcode.Of(err) != errcode.RequestInvalid {
				t.Fatalf("%s refused %q with %v", what, raw, err)
			}
			return true
		}
		if refusedWell("checkQuery", checkQuery(req)) {
			return
		}
		q := req.URL.Query()
		for _, vs := range q {
			if len(vs) != 1 || len(vs[0]) > maxQueryValue || !utf8.ValidString(vs[0]) || strings.ContainsFunc(vs[0], unicode.IsControl) {
				t.Fatalf("checkQuery accepted %q", raw)
			}
		}
		p, err := page(req)
		if !refusedWell("page", err) {
			if len(p.After) > maxCursor || p.Limit < 0 || p.Limit > 1000 {
				t.Fatalf("page(%q) = %+v", raw, p)
			}
		}
		_, _ = statusParam(req, "active", "suspended")
		if _, err := parseTime("since", q.Get("since")); err != nil {
			refusedWell("parseTime", err)
		}
		if s := q.Get("within"); s != "" {
			if d, err := parseDuration("within", s); !refusedWell("parseDuration", err) && d < 0 {
				t.Fatalf("negative duration %v", d)
			}
		}
	})
}
