package reqmeta

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestMiddleware(t *testing.T) {
	tests := []struct {
		name     string
		incoming string
		keep     bool
	}{
		{"none", "", false},
		{"plain id kept", "abc-123.x", true},
		{"injection refused", "abc\r\nX-Evil: 1", false},
		{"too long refused", string(make([]byte, 200)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen Meta
			h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				seen = From(r.Context())
			}))
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = "192.0.2.7:5555"
			if tt.incoming != "" {
				req.Header[Header] = []string{tt.incoming}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get(Header)
			if got == "" || got != seen.RequestID {
				t.Fatalf("response id %q, context id %q", got, seen.RequestID)
			}
			if tt.keep != (got == tt.incoming) {
				t.Fatalf("id = %q, incoming %q, want kept=%v", got, tt.incoming, tt.keep)
			}
			if seen.ClientAddr != "192.0.2.7" {
				t.Fatalf("client addr = %q", seen.ClientAddr)
			}
		})
	}
}

func TestUserAgentOf(t *testing.T) {
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'a'
	}
	tests := []struct{ in, want string }{
		{"", ""},
		{"curl/8.5.0", "curl/8.5.0"},
		{"evil\r\nX-Injected: 1", "evil??X-Injected: 1"},
		{"term\x1b[2J", "term?[2J"},
		{"bad\xffutf8", "bad?utf8"},
		{string(long), string(long[:256])},
	}
	for _, tt := range tests {
		if got := UserAgentOf(tt.in); got != tt.want {
			t.Errorf("UserAgentOf(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	h := Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ua := From(r.Context()).UserAgent; ua != "authz-cli/1" {
			t.Errorf("user agent in context %q", ua)
		}
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("User-Agent", "authz-cli/1")
	h.ServeHTTP(httptest.NewRecorder(), req)
}
