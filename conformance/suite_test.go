package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/authz/authz/conformance"
)

func (f *fakeIssuer) config() conformance.Config {
	return conformance.Config{
		Issuer: f.issuer, ClientID: f.clientID, ClientSecret: f.secret,
		AssertionClientID: f.assertionClientID, AssertionKey: f.assertionJWK(),
		SubjectToken: f.apiKey,
	}
}

func run(t *testing.T, cfg conformance.Config) *conformance.Report {
	t.Helper()
	rep, err := conformance.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// dump shows the report when a test fails.
func dump(t *testing.T, rep *conformance.Report) string {
	t.Helper()
	var b bytes.Buffer
	_ = rep.WriteText(&b)
	return b.String()
}

func TestConformantFakePassesEverything(t *testing.T) {
	f := newFakeIssuer(t, breakage{})
	rep := run(t, f.config())
	if rep.Count(conformance.Pass) != len(conformance.Checks()) {
		t.Fatalf("a conformant issuer must pass every check:\n%s", dump(t, rep))
	}
}

// A server that takes client secrets in the body only is served in the
// body: the suite follows the metadata, not a fixed style.
func TestPostOnlyServerPassesEverything(t *testing.T) {
	f := newFakeIssuer(t, breakage{postOnly: true})
	rep := run(t, f.config())
	if rep.Count(conformance.Pass) != len(conformance.Checks()) {
		t.Fatalf("a client_secret_post-only issuer must pass every check:\n%s", dump(t, rep))
	}
}

// TestEachBreakageFailsExactlyItsCheck proves the suite catches what it
// claims to: each broken fake fails the one check written for that
// requirement, and every other check still passes.
func TestEachBreakageFailsExactlyItsCheck(t *testing.T) {
	tests := []struct {
		check string
		b     breakage
	}{
		{"metadata.issuer", breakage{metadataIssuer: "https://evil.example"}},
		{"token.client_credentials", breakage{tokenNoExpiresIn: true}},
		{"token.no_store", breakage{omitCacheControl: true}},
		{"token.wrong_secret", breakage{wrongSecretStatus: 400}},
		{"token.unknown_client", breakage{unknownClientError: "invalid_request"}},
		{"token.missing_grant_type", breakage{missingGrantError: "unsupported_grant_type"}},
		{"token.unsupported_grant_type", breakage{unsupportedGrantErr: "invalid_request"}},
		{"token.duplicate_parameter", breakage{acceptDuplicates: true}},
		{"token.get", breakage{acceptGET: true}},
		{"token.unknown_scope", breakage{unknownScopeError: "invalid_request"}},
		{"token.unknown_resource", breakage{acceptUnknownResource: true}},
		{"jwks.public_only", breakage{jwksPrivate: true}},
		{"jwks.key_members", breakage{jwksNoUseOrAlg: true}},
		{"jwks.unique_kids", breakage{jwksDuplicateKid: true}},
		{"access_token.typ", breakage{typ: "JWT"}},
		{"access_token.claims", breakage{omitJTI: true}},
		{"access_token.lifetime", breakage{expBeforeIat: true}},
		{"access_token.signature", breakage{signWithOtherKey: true}},
		{"private_key_jwt.replay", breakage{noReplayProtection: true}},
		{"private_key_jwt.expired", breakage{acceptExpired: true}},
		{"private_key_jwt.wrong_audience", breakage{ignoreAudience: true}},
		{"introspection.garbage", breakage{garbageIsActive: true}},
		{"introspection.revoked", breakage{revocationNoop: true}},
		{"revocation.garbage", breakage{revokeGarbageStatus: 400}},
		{"exchange.response", breakage{exchangeNoIssuedType: true}},
		{"exchange.invalid_subject", breakage{exchangeInvalidError: "invalid_grant"}},
	}
	for _, tt := range tests {
		t.Run(tt.check, func(t *testing.T) {
			f := newFakeIssuer(t, tt.b)
			rep := run(t, f.config())
			for _, res := range rep.Results {
				want := conformance.Pass
				if res.ID == tt.check {
					want = conformance.Fail
				}
				if res.Status != want {
					t.Errorf("%s: %s (%s), want %s", res.ID, res.Status, res.Reason, want)
				}
			}
			if t.Failed() {
				t.Logf("report:\n%s", dump(t, rep))
			}
			if res, _ := rep.Get(tt.check); res.Reason == "" {
				t.Errorf("%s failed without a reason", tt.check)
			}
		})
	}
}

// Every breakage above is tested: the table must cover each check that a
// working server can fail (metadata.fetch, metadata.required, jwks.fetch
// and private_key_jwt.accepted are covered by TestMissingPiecesFail).
func TestEveryCheckHasAnRFCSection(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range conformance.Checks() {
		if seen[c.ID] {
			t.Errorf("duplicate check id %s", c.ID)
		}
		seen[c.ID] = true
		if !strings.HasPrefix(c.Section, "RFC ") || !strings.Contains(c.Section, "§") {
			t.Errorf("%s: section %q does not cite an RFC section", c.ID, c.Section)
		}
		if c.Title == "" {
			t.Errorf("%s has no title", c.ID)
		}
	}
}

func TestUnadvertisedFeaturesAreSkippedWithAReason(t *testing.T) {
	f := newFakeIssuer(t, breakage{advertiseOnly: true})
	rep := run(t, f.config())
	skippedIDs := []string{
		"private_key_jwt.accepted", "private_key_jwt.replay", "private_key_jwt.expired", "private_key_jwt.wrong_audience",
		"introspection.active", "introspection.garbage", "revocation.revoke", "introspection.revoked", "revocation.garbage",
		"exchange.response", "exchange.invalid_subject",
	}
	for _, res := range rep.Results {
		want := conformance.Pass
		if slices.Contains(skippedIDs, res.ID) {
			want = conformance.Skip
		}
		if res.Status != want {
			t.Errorf("%s: %s (%s), want %s", res.ID, res.Status, res.Reason, want)
		}
		if res.Status == conformance.Skip && !strings.Contains(res.Reason, "advertise") {
			t.Errorf("%s skipped for %q; want the reason to say what is not advertised", res.ID, res.Reason)
		}
	}
	if rep.Failed() {
		t.Error("skips must not fail the run")
	}
}

func TestMissingInputsAreSkippedWithAReason(t *testing.T) {
	f := newFakeIssuer(t, breakage{})
	cfg := f.config()
	cfg.AssertionClientID, cfg.AssertionKey, cfg.SubjectToken = "", nil, ""
	rep := run(t, cfg)
	for id, reason := range map[string]string{
		"private_key_jwt.accepted": "--assertion-key", "private_key_jwt.replay": "--assertion-key",
		"private_key_jwt.expired": "--assertion-key", "private_key_jwt.wrong_audience": "--assertion-key",
		"exchange.response": "--api-key",
	} {
		res, _ := rep.Get(id)
		if res.Status != conformance.Skip || !strings.Contains(res.Reason, reason) {
			t.Errorf("%s: %s %q, want a skip naming %s", id, res.Status, res.Reason, reason)
		}
	}
	// Without a subject token, an invalid one is still tested.
	if res, _ := rep.Get("exchange.invalid_subject"); res.Status != conformance.Pass {
		t.Errorf("exchange.invalid_subject: %s %s", res.Status, res.Reason)
	}
	if rep.Failed() {
		t.Errorf("missing inputs must not fail the run:\n%s", dump(t, rep))
	}
}

func TestMissingPiecesFail(t *testing.T) {
	t.Run("no server", func(t *testing.T) {
		rep := run(t, conformance.Config{Issuer: "http://127.0.0.1:1", ClientID: "c", ClientSecret: "s"})
		if res, _ := rep.Get("metadata.fetch"); res.Status != conformance.Fail {
			t.Errorf("metadata.fetch: %s, want fail", res.Status)
		}
		// Nothing else can run, and nothing else is blamed.
		if rep.Count(conformance.Fail) != 1 {
			t.Errorf("%d failures, want only metadata.fetch:\n%s", rep.Count(conformance.Fail), dump(t, rep))
		}
	})
	t.Run("wrong client secret", func(t *testing.T) {
		f := newFakeIssuer(t, breakage{})
		cfg := f.config()
		cfg.ClientSecret = "not-the-secret"
		rep := run(t, cfg)
		if res, _ := rep.Get("token.client_credentials"); res.Status != conformance.Fail || !strings.Contains(res.Reason, "invalid_client") {
			t.Errorf("token.client_credentials: %s %q, want a failure naming invalid_client", res.Status, res.Reason)
		}
		// Checks that need a token say so instead of failing again.
		if res, _ := rep.Get("access_token.typ"); res.Status != conformance.Skip || !strings.Contains(res.Reason, "token.client_credentials") {
			t.Errorf("access_token.typ: %s %q, want a skip pointing at token.client_credentials", res.Status, res.Reason)
		}
	})
	t.Run("wrong assertion key", func(t *testing.T) {
		f := newFakeIssuer(t, breakage{})
		cfg := f.config()
		cfg.AssertionKey = newFakeIssuer(t, breakage{}).assertionJWK()
		rep := run(t, cfg)
		if res, _ := rep.Get("private_key_jwt.accepted"); res.Status != conformance.Fail {
			t.Errorf("private_key_jwt.accepted: %s, want fail", res.Status)
		}
	})
}

func TestConfigErrors(t *testing.T) {
	f := newFakeIssuer(t, breakage{})
	for name, mutate := range map[string]func(*conformance.Config){
		"no issuer":          func(c *conformance.Config) { c.Issuer = "" },
		"relative issuer":    func(c *conformance.Config) { c.Issuer = "/oauth" },
		"no secret":          func(c *conformance.Config) { c.ClientSecret = "" },
		"key without client": func(c *conformance.Config) { c.AssertionClientID = "" },
		"public key":         func(c *conformance.Config) { k := c.AssertionKey.Public(); c.AssertionKey = &k },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := f.config()
			mutate(&cfg)
			if _, err := conformance.Run(context.Background(), cfg); err == nil {
				t.Fatal("Run accepted an unusable configuration")
			}
		})
	}
}

func TestReportFormats(t *testing.T) {
	f := newFakeIssuer(t, breakage{omitCacheControl: true})
	rep := run(t, f.config())
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"FAIL", "token.no_store", "RFC 6749 §5.1", "no-store", "1 failed"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Issuer  string `json:"issuer"`
		Failed  int    `json:"failed"`
		Results []struct {
			Check, Section, Status, Reason string
		} `json:"results"`
	}
	if err := json.Unmarshal(js.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Issuer != f.issuer || got.Failed != 1 || len(got.Results) != len(conformance.Checks()) {
		t.Errorf("JSON report: issuer %q failed %d results %d", got.Issuer, got.Failed, len(got.Results))
	}
}

func TestReportNeverEchoesSecrets(t *testing.T) {
	f := newFakeIssuer(t, breakage{})
	cfg := f.config()
	cfg.ClientSecret = "do-not-print-this-secret"
	rep := run(t, cfg)
	var b bytes.Buffer
	_ = rep.WriteText(&b)
	_ = rep.WriteJSON(&b)
	for _, secret := range []string{cfg.ClientSecret, f.apiKey, "eyJ"} {
		if strings.Contains(b.String(), secret) {
			t.Errorf("the report contains %q", secret)
		}
	}
}

// A server that redirects the token request elsewhere must not receive
// the secret there, and fails instead.
func TestRedirectsAreNotFollowed(t *testing.T) {
	var leaked atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, _, ok := r.BasicAuth(); ok || r.FormValue("client_secret") != "" {
			leaked.Store(true)
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(elsewhere.Close)
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/oauth-authorization-server" {
			fmt.Fprintf(w, `{"issuer":%q,"token_endpoint":%q,"jwks_uri":%q,"response_types_supported":[]}`, srv.URL, srv.URL+"/token", srv.URL+"/jwks")
			return
		}
		http.Redirect(w, r, elsewhere.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	rep := run(t, conformance.Config{Issuer: srv.URL, ClientID: "c", ClientSecret: "s"})
	if leaked.Load() {
		t.Fatal("the client secret followed a redirect to another server")
	}
	if res, _ := rep.Get("token.client_credentials"); res.Status != conformance.Fail || !strings.Contains(res.Reason, "307") {
		t.Errorf("token.client_credentials: %s %q, want a failure naming the 307", res.Status, res.Reason)
	}
}
