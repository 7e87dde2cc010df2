package errcode

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"testing"
)

type unavailable struct{}

func (unavailable) Error() string     { return "db down" }
func (unavailable) Unavailable() bool { return true }

func TestWrite(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		oauth      string
		code       Code
		header     string
		headerWant string
	}{
		{"key revoked", New(KeyRevoked, ""), 400, "invalid_request", KeyRevoked, "", ""},
		{"wrapped scope", fmt.Errorf("exchange: %w", New(ScopeNotGranted, "orders:write not granted")), 400, "invalid_scope", ScopeNotGranted, "", ""},
		{"client invalid", New(ClientInvalid, ""), 401, "invalid_client", ClientInvalid, "WWW-Authenticate", `Basic realm="authz"`},
		{"admin token", New(TokenInvalid, ""), 401, "invalid_token", TokenInvalid, "WWW-Authenticate", `Bearer realm="authz", error="invalid_token"`},
		{"rate limited", &Error{Code: RateLimited, RetryAfter: 7}, 429, "slow_down", RateLimited, "Retry-After", "7"},
		{"storage down", fmt.Errorf("get client: %w", unavailable{}), 503, "temporarily_unavailable", Unavailable, "Retry-After", "1"},
		{"plain error", errors.New("boom"), 500, "server_error", Internal, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			Write(rec, nil, tt.err)
			if rec.Code != tt.status {
				t.Fatalf("status = %d, want %d", rec.Code, tt.status)
			}
			if got := rec.Header().Get("Cache-Control"); got != "no-store" {
				t.Fatalf("Cache-Control = %q", got)
			}
			if tt.header != "" && rec.Header().Get(tt.header) != tt.headerWant {
				t.Fatalf("%s = %q, want %q", tt.header, rec.Header().Get(tt.header), tt.headerWant)
			}
			var b Body
			if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil {
				t.Fatal(err)
			}
			if b.Error != tt.oauth || b.Code != tt.code || b.Description == "" {
				t.Fatalf("body = %+v", b)
			}
			if tt.code == Internal && b.Description != Lookup(Internal).Remedy {
				t.Fatalf("internal error leaked its cause: %q", b.Description)
			}
		})
	}
}

func TestEveryCodeHasMeta(t *testing.T) {
	for _, c := range All() {
		m := Lookup(c)
		if m.Status < 400 || m.OAuth == "" || m.Remedy == "" {
			t.Errorf("%s: incomplete meta %+v", c, m)
		}
	}
	if Lookup("no_such_code").Status != 500 {
		t.Fatal("unknown code does not present as internal")
	}
}

func TestIsMatchesOnCode(t *testing.T) {
	err := fmt.Errorf("ctx: %w", Wrap(KeyExpired, errors.New("x"), "expired 2d ago"))
	if !errors.Is(err, New(KeyExpired, "")) {
		t.Fatal("errors.Is does not match on code")
	}
	if errors.Is(err, New(KeyRevoked, "")) {
		t.Fatal("errors.Is matches another code")
	}
	if Of(err) != KeyExpired || Of(nil) != "" || Of(errors.New("x")) != Internal {
		t.Fatal("Of")
	}
}
