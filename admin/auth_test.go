package admin

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
)

func TestAuthentication(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		tests := []struct {
			name   string
			header string
			path   string
			status int
			code   errcode.Code
		}{
			{"no token", "", "/tenants", http.StatusUnauthorized, errcode.TokenInvalid},
			{"not a bearer token", "Basic YWRtaW46YWRtaW4=", "/tenants", http.StatusUnauthorized, errcode.TokenInvalid},
			{"unknown token", "Bearer forged", "/tenants", http.StatusUnauthorized, errcode.TokenInvalid},
			{"unknown route, no token", "", "/nothing-here", http.StatusUnauthorized, errcode.TokenInvalid},
			{"token without admin scope", "Bearer " + tokNoScope, "/principals", http.StatusForbidden, errcode.Forbidden},
			{"authz:admin outside the system tenant is not global", "Bearer " + tokFakeAdmin, "/tenants", http.StatusForbidden, errcode.Forbidden},
			{"tenant admin on an admin-only route", "Bearer " + tokA, "/audit/verify", http.StatusForbidden, errcode.Forbidden},
			{"unknown route", "Bearer " + tokAdmin, "/nothing-here", http.StatusNotFound, errcode.NotFound},
			{"bearer scheme is case-insensitive", "bearer " + tokAdmin, "/tenants", http.StatusOK, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req := newRequest(http.MethodGet, tt.path, nil)
				if tt.header != "" {
					req.Header.Set("Authorization", tt.header)
				}
				rec := serve(e.h, req)
				if tt.code == "" {
					if rec.Code != tt.status {
						t.Fatalf("status %d, want %d: %s", rec.Code, tt.status, rec.Body)
					}
					return
				}
				e.refusal(rec, tt.status, tt.code)
				if tt.status == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("WWW-Authenticate = %q, want Bearer", rec.Header().Get("WWW-Authenticate"))
				}
				if rec.Header().Get("Cache-Control") != "no-store" {
					t.Fatalf("Cache-Control = %q", rec.Header().Get("Cache-Control"))
				}
			})
		}
	})
}

func TestOpenAPIServedWithoutToken(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	rec := serve(e.h, newRequest(http.MethodGet, "/openapi.json", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"openapi": "3.0`) {
		t.Fatalf("GET openapi.json: %d %.80s", rec.Code, rec.Body)
	}
}

func TestRequestIDEchoed(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	req := newRequest(http.MethodGet, "/tenants", nil)
	req.Header.Set("Authorization", "Bearer "+tokAdmin)
	req.Header.Set("X-Request-Id", "trace-42")
	rec := serve(e.h, req)
	if got := rec.Header().Get("X-Request-Id"); got != "trace-42" {
		t.Fatalf("X-Request-Id = %q", got)
	}
}

// TestChangedHook: the hook that lets an in-process cache forget runs after
// every committed change, and only then.
func TestChangedHook(t *testing.T) {
	e := newEnv(t, openSQLite(t))
	calls := 0
	e.h = New(Config{Store: e.st, Auth: e.auth, Secrets: e.secrets, Keys: e.legacy, Now: func() time.Time { return e.now }, Changed: func() { calls++ }})
	steps := []struct {
		method, path string
		body         any
		calls        int
	}{
		{"GET", "/tenants", nil, 0},
		{"POST", "/principals", apiv1.CreatePrincipal{TenantID: e.tenantA, Kind: "user", Name: "x"}, 1},
		{"POST", "/principals", apiv1.CreatePrincipal{TenantID: e.tenantA, Kind: "robot", Name: "x"}, 1},
		{"POST", "/tenants/" + e.tenantA + "/suspend", nil, 2},
	}
	for _, s := range steps {
		e.do(tokAdmin, s.method, s.path, s.body)
		if calls != s.calls {
			t.Fatalf("after %s %s: %d calls, want %d", s.method, s.path, calls, s.calls)
		}
	}
}
