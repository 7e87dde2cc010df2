package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/gateway"
	"github.com/authz/authz/jwks/verifier"
)

func TestMiddlewareRFC6750(t *testing.T) {
	a := newFakeAuthz(t)
	v := a.verifier(t)
	valid := a.validToken(t, nil)
	expired := a.validToken(t, func(c map[string]any) { c["exp"] = start.Add(-time.Hour).Unix() })

	var seen *verifier.Claims
	h := gateway.Middleware(v, verifier.Require{Scopes: []string{"orders:read"}}, gateway.Options{Realm: "orders"})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seen, _ = gateway.ClaimsFrom(r.Context())
			w.WriteHeader(http.StatusNoContent)
		}))
	strict := gateway.Middleware(v, verifier.Require{Scopes: []string{"orders:read", "orders:delete"}}, gateway.Options{Realm: "orders"})(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("handler reached") }))
	admins := gateway.Middleware(v, verifier.Require{Roles: []string{"admin"}}, gateway.Options{Realm: "orders"})(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("handler reached") }))

	tests := []struct {
		name      string
		handler   http.Handler
		target    string
		auth      []string
		status    int
		challenge string
		code      errcode.Code
		oauth     string
	}{
		{"ok/valid token", h, "/", []string{"Bearer " + valid}, 204, "", "", ""},
		{"ok/scheme is case-insensitive", h, "/", []string{"bearer " + valid}, 204, "", "", ""},
		{"fail/no credentials", h, "/", nil, 401,
			`Bearer realm="orders"`, errcode.TokenInvalid, "invalid_token"},
		{"fail/other scheme", h, "/", []string{"Basic Zm9vOmJhcg=="}, 401,
			`Bearer realm="orders"`, errcode.TokenInvalid, "invalid_token"},
		{"fail/token in query string is not read", h, "/?access_token=" + valid, nil, 401,
			`Bearer realm="orders"`, errcode.TokenInvalid, "invalid_token"},
		{"fail/expired", h, "/", []string{"Bearer " + expired}, 401,
			`Bearer realm="orders", error="invalid_token", error_description="The access token has expired; obtain a new one."`,
			errcode.TokenInvalid, "invalid_token"},
		{"fail/garbage", h, "/", []string{"Bearer abc.def.ghi"}, 401,
			`Bearer realm="orders", error="invalid_token", error_description="The access token is not a well-formed JWT."`,
			errcode.TokenInvalid, "invalid_token"},
		{"fail/empty bearer", h, "/", []string{"Bearer "}, 400,
			`Bearer realm="orders", error="invalid_request", error_description="The Authorization header is malformed: send exactly one, as Bearer <access token>."`,
			errcode.RequestInvalid, "invalid_request"},
		{"fail/not a b64token", h, "/", []string{"Bearer a b"}, 400,
			`Bearer realm="orders", error="invalid_request", error_description="The Authorization header is malformed: send exactly one, as Bearer <access token>."`,
			errcode.RequestInvalid, "invalid_request"},
		{"fail/two Authorization headers", h, "/", []string{"Bearer " + valid, "Bearer " + valid}, 400,
			`Bearer realm="orders", error="invalid_request", error_description="The Authorization header is malformed: send exactly one, as Bearer <access token>."`,
			errcode.RequestInvalid, "invalid_request"},
		{"fail/insufficient scope", strict, "/", []string{"Bearer " + valid}, 403,
			`Bearer realm="orders", error="insufficient_scope", error_description="The access token lacks a scope this resource requires: orders:read orders:delete.", scope="orders:read orders:delete"`,
			errcode.Forbidden, "insufficient_scope"},
		{"fail/missing role", admins, "/", []string{"Bearer " + valid}, 403,
			`Bearer realm="orders", error="insufficient_scope", error_description="The access token's subject lacks a role this resource requires."`,
			errcode.Forbidden, "insufficient_scope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen = nil
			req := httptest.NewRequest(http.MethodGet, tt.target, nil)
			for _, v := range tt.auth {
				req.Header.Add("Authorization", v)
			}
			rec := httptest.NewRecorder()
			tt.handler.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tt.status, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Fatalf("WWW-Authenticate = %s\n                  want %s", got, tt.challenge)
			}
			if tt.status == 204 {
				if seen == nil || seen.Subject != "svc-orders" {
					t.Fatalf("claims in context = %+v", seen)
				}
				return
			}
			if rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatal("refusal without Cache-Control: no-store")
			}
			var body errcode.Body
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body.Code != tt.code || body.Error != tt.oauth || body.Description == "" {
				t.Fatalf("body = %+v", body)
			}
		})
	}
}

type unavailableVerifier struct{}

func (unavailableVerifier) Verify(context.Context, string) (*verifier.Claims, error) {
	return nil, &verifier.Error{Reason: verifier.ReasonUnavailable}
}

func TestMiddlewareUnavailableIs503(t *testing.T) {
	h := gateway.Middleware(unavailableVerifier{}, verifier.Require{}, gateway.Options{})(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("handler reached") }))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer abc")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || rec.Header().Get("WWW-Authenticate") != "" {
		t.Fatalf("status %d, headers %v", rec.Code, rec.Header())
	}
}
