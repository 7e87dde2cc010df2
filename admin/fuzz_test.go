package admin

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/errcode"
	"github.com/authz/authz/policy"
	"github.com/authz/authz/store"
)

// FuzzCreateClientBody feeds arbitrary request bodies through the decoder
// and the client-settings validation: they must never panic, refuse only
// with request_invalid, and accept only settings that keep the invariants
// the token endpoint relies on.
func FuzzCreateClientBody(f *testing.F) {
	for _, seed := range []string{
		`{"owner_id":"prn_x","scopes":["orders:read"]}`,
		`{"owner_id":"prn_x","grant_types":["urn:ietf:params:oauth:grant-type:token-exchange"],"audiences":["https://api.example"]}`,
		`{"owner_id":"prn_x","auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}}`,
		`{"owner_id":"prn_x","auth_method":"private_key_jwt","jwks_uri":"https://keys.example/jwks.json"}`,
		`{"owner_id":"prn_x","scopes":["authz:admin"]}`,
		`{"owner_id":"prn_x","access_token_lifetime":-1}`,
		`{"owner_id":"prn_x","scopes":["a b"]}`,
		`{"nope":1}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, system bool) {
		req := httptest.NewRequest("POST", "/", strings.NewReader(string(body)))
		var cc apiv1.CreateClient
		if err := decode(httptest.NewRecorder(), req, &cc, maxBody, false); err != nil {
			if errcode.Of(err) != errcode.RequestInvalid {
				t.Fatalf("decode refused with %v", err)
			}
			return
		}
		tenant := "ten_aaaaaaaaaaaaaaaa"
		if system {
			tenant = store.SystemTenantID
		}
		method := cc.AuthMethod
		if method == "" {
			method = store.AuthSecretBasic
		}
		ttl := time.Duration(cc.AccessTokenLifetime) * time.Second
		set := clientSettings{name: cc.Name, grantTypes: cc.GrantTypes, scopes: cc.Scopes, audiences: cc.Audiences, ttl: ttl, jwks: cc.JWKS, jwksURI: cc.JWKSURI}
		if err := set.check(method, tenant, defaultMaxTokenLifetime); err != nil {
			if errcode.Of(err) != errcode.RequestInvalid {
				t.Fatalf("check refused with %v", err)
			}
			return
		}
		for _, g := range set.grantTypes {
			if g != store.GrantClientCredentials && g != store.GrantTokenExchange {
				t.Fatalf("accepted grant type %q", g)
			}
		}
		if !system && slices.Contains(set.scopes, policy.PermAdmin) {
			t.Fatal("accepted authz:admin outside the system tenant")
		}
		for _, s := range append(slices.Clone(set.scopes), set.audiences...) {
			if s == "" || strings.ContainsAny(s, " \t\r\n\"\\") {
				t.Fatalf("accepted %q", s)
			}
		}
		if set.ttl < 0 || set.ttl > defaultMaxTokenLifetime {
			t.Fatalf("accepted lifetime %v", set.ttl)
		}
		if method == store.AuthPrivateKeyJWT && (len(set.jwks) > 0) == (set.jwksURI != "") {
			t.Fatal("accepted private_key_jwt without exactly one key source")
		}
	})
}

// FuzzParseDuration: query durations never panic and are never negative.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "36h", "3600", "0", "-1", "1.5h", "d", "99999999999999999999d", "1e9s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDuration("within", s)
		if err != nil {
			if errcode.Of(err) != errcode.RequestInvalid || !strings.HasPrefix(err.(*errcode.Error).Description, "within:") {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		if d < 0 {
			t.Fatalf("parseDuration(%q) = %v", s, d)
		}
	})
}
