package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// tokenServer is an issuer whose token endpoint answers with status and
// body, and records the last subject_token it saw.
func tokenServer(t *testing.T, status int, body string, subject *atomic.Value) *httptest.Server {
	t.Helper()
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/oauth-authorization-server":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "token_endpoint": srv.URL + "/token"})
		case "/token":
			if subject != nil {
				_ = r.ParseForm()
				subject.Store(r.PostForm.Get("subject_token"))
			}
			w.WriteHeader(status)
			_, _ = w.Write([]byte(body))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestBenchCommand(t *testing.T) {
	ok := `{"access_token":"a.b.c","token_type":"Bearer","expires_in":300}`
	t.Run("json summary, issuer from the environment", func(t *testing.T) {
		srv := tokenServer(t, 200, ok, nil)
		t.Setenv("AUTHZ_ISSUER", srv.URL)
		out, err := runCLI(t, "", "bench", "--client-id", "c", "--client-secret", "s", "--concurrency", "2", "--requests", "20", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var s map[string]any
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("-o json is not one JSON object: %v\n%s", err, out)
		}
		for _, k := range []string{"requests_per_second", "p50_ms", "p95_ms", "p99_ms", "max_ms", "errors"} {
			if _, ok := s[k]; !ok {
				t.Errorf("missing %q in %s", k, out)
			}
		}
		if s["requests"] != 20.0 {
			t.Errorf("requests = %v, want 20", s["requests"])
		}
	})
	t.Run("every request refused", func(t *testing.T) {
		srv := tokenServer(t, 401, `{"error":"invalid_client","error_code":"client_invalid"}`, nil)
		out, err := runCLI(t, "", "bench", "--issuer", srv.URL, "--client-id", "c", "--client-secret", "s", "--requests", "5")
		if err == nil || !strings.Contains(err.Error(), "client_invalid") {
			t.Fatalf("err = %v, want one naming client_invalid", err)
		}
		if !strings.Contains(out, "client_invalid: 5") {
			t.Errorf("summary does not count the refusals:\n%s", out)
		}
	})
	t.Run("exchange reads the key from stdin", func(t *testing.T) {
		var subject atomic.Value
		srv := tokenServer(t, 200, ok, &subject)
		if _, err := runCLI(t, "ak_from_stdin\n", "bench", "--issuer", srv.URL, "--mode", "exchange", "--api-key", "-", "--requests", "1"); err != nil {
			t.Fatal(err)
		}
		if got := subject.Load(); got != "ak_from_stdin" {
			t.Errorf("subject_token = %v, want the key read from stdin", got)
		}
	})
	t.Run("a sweep prints one level per concurrency", func(t *testing.T) {
		srv := tokenServer(t, 200, ok, nil)
		out, err := runCLI(t, "", "bench", "--issuer", srv.URL, "--client-id", "c", "--client-secret", "s",
			"--concurrency", "1,3", "--requests", "12", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var levels []map[string]any
		if err := json.Unmarshal([]byte(out), &levels); err != nil || len(levels) != 2 {
			t.Fatalf("-o json of a sweep is not an array of two levels: %v\n%s", err, out)
		}
		if levels[0]["concurrency"] != 1.0 || levels[1]["concurrency"] != 3.0 || levels[1]["requests"] != 12.0 {
			t.Errorf("levels: %s", out)
		}
		if _, err := runCLI(t, "", "bench", "--issuer", srv.URL, "--concurrency", "1,x"); err == nil || !strings.Contains(err.Error(), "1,8,32,128") {
			t.Errorf("--concurrency 1,x: err = %v", err)
		}
	})
	t.Run("bad mode", func(t *testing.T) {
		if _, err := runCLI(t, "", "bench", "--issuer", "http://x", "--mode", "password"); err == nil || !strings.Contains(err.Error(), "cc, exchange or verify") {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestConformanceCommand(t *testing.T) {
	t.Run("a failing server fails the command", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		t.Cleanup(srv.Close)
		out, err := runCLI(t, "", "conformance", "--issuer", srv.URL, "--client-id", "c", "--client-secret", "s")
		if err == nil || !strings.Contains(err.Error(), "checks failed") {
			t.Fatalf("err = %v, want a failure", err)
		}
		if !strings.Contains(out, "FAIL") || !strings.Contains(out, "metadata.fetch") || !strings.Contains(out, "RFC 8414") {
			t.Errorf("report:\n%s", out)
		}
	})
	t.Run("unreadable assertion key", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "key.pem")
		if err := os.WriteFile(p, []byte("not a key"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := runCLI(t, "", "conformance", "--issuer", "http://127.0.0.1:1", "--client-id", "c", "--client-secret", "s",
			"--assertion-client-id", "j", "--assertion-key", p)
		if err == nil || !strings.Contains(err.Error(), "--assertion-key") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("list", func(t *testing.T) {
		out, err := runCLI(t, "", "conformance", "--list")
		if err != nil || !strings.Contains(out, "token.no_store") || !strings.Contains(out, "RFC 6749 §5.1") {
			t.Fatalf("err %v, out:\n%s", err, out)
		}
	})
}
