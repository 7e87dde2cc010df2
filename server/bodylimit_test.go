package server_test

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/authz/authz/bodylimit/bodylimittest"
	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/store/storetest"
)

// TestLargeDeclaredBodiesAreRefusedBeforeReading: a 3 MB body to the
// token endpoint, the introspection endpoint and the admin API, with and
// without Expect: 100-continue, is answered 413 with the JSON error and
// the connection closed: never 100 Continue followed by a reset (curl
// saw that about one try in three). Repeated to catch the race.
func TestLargeDeclaredBodiesAreRefusedBeforeReading(t *testing.T) {
	e := servertest.Start(t, storetest.SQLiteURL(t))
	host := func(base string) string {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		return u.Host
	}
	// Authenticated as the admin client, so that no earlier refusal
	// (invalid_client, token_invalid) hides how the body is handled.
	basic := "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(servertest.AdminID+":"+servertest.AdminSecret))
	tok := e.Post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, servertest.AdminID, servertest.AdminSecret)
	if tok.Status != http.StatusOK {
		t.Fatalf("admin token: %d %s", tok.Status, tok.Raw)
	}
	bearer := "Authorization: Bearer " + tok.Str("access_token")
	targets := []struct {
		name, addr, path, contentType, auth string
	}{
		{"token endpoint", host(e.Issuer), "/oauth2/token", "application/x-www-form-urlencoded", basic},
		{"introspection", host(e.Issuer), "/oauth2/introspect", "application/x-www-form-urlencoded", basic},
		{"admin API", host(e.AdminURL), "/admin/v1/tenants", "application/json", bearer},
		{"admin import", host(e.AdminURL), "/admin/v1/keys/import", "application/json", bearer},
	}
	for _, tt := range targets {
		size := 3 << 20
		if tt.name == "admin import" {
			size = 65<<20 + 1 // the import route takes batches up to 64 MiB
		}
		for _, expect := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/expect-100-continue=%v", tt.name, expect), func(t *testing.T) {
				for range 30 {
					resp, body, err := bodylimittest.Declared(t, tt.addr, tt.path, tt.contentType, size, expect, tt.auth)
					bodylimittest.CheckRefused(t, resp, body, err)
				}
			})
		}
	}
}
