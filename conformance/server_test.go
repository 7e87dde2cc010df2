package conformance_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/adminclient"
	"github.com/authz/authz/conformance"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/server"
	"github.com/authz/authz/store/storetest"
)

const (
	adminID     = "cli_conformance_admin"
	adminSecret = "conformance-admin-secret-of-at-least-32-chars"
)

// startAuthz runs the real server (both listeners, background tasks, the
// default rate limits and lockout) on dbURL and returns its issuer and
// admin URL.
func startAuthz(t *testing.T, dbURL string) (issuer, adminURL string) {
	t.Helper()
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adm, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := server.Defaults()
	cfg.Addr, cfg.AdminAddr = pub.Addr().String(), adm.Addr().String()
	cfg.Issuer = "http://" + cfg.Addr
	cfg.Database = dbURL
	cfg.MasterKey = masterkey.Generate().String()
	cfg.Out = io.Discard
	cfg.BootstrapClientID, cfg.BootstrapClientSecret = adminID, adminSecret
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := server.New(ctx, cfg, nil)
	if err != nil {
		cancel()
		t.Fatalf("server.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, pub, adm) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server.Run: %v", err)
		}
	})
	return cfg.Issuer, "http://" + cfg.AdminAddr
}

// fixtures creates, through the admin API as an operator would, what the
// suite needs: a tenant, a service principal with a role, a secret
// client, a private_key_jwt client and a legacy key.
func fixtures(t *testing.T, issuer, adminURL string) conformance.Config {
	t.Helper()
	return fixturesWith(t, issuer, adminURL, "")
}

// fixturesWith is fixtures with the secret client registered with
// authMethod ("" for the default, client_secret_basic).
func fixturesWith(t *testing.T, issuer, adminURL, authMethod string) conformance.Config {
	t.Helper()
	ctx := context.Background()
	a := adminclient.New(adminURL, adminID, adminSecret, adminclient.WithIssuer(issuer))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	tn, err := a.CreateTenant(ctx, "conformance")
	must(err)
	p, err := a.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: tn.ID, Kind: "service", Name: "conformance-svc"})
	must(err)
	role, err := a.CreateRole(ctx, apiv1.CreateRole{TenantID: tn.ID, Name: "reader", Permissions: []string{"orders:read"}})
	must(err)
	_, err = a.Bind(ctx, role.ID, p.ID)
	must(err)
	secretClient, err := a.CreateClient(ctx, apiv1.CreateClient{TenantID: tn.ID, OwnerID: p.ID, AuthMethod: authMethod})
	must(err)

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, Use: "sig", Algorithm: "ES256"}}})
	must(err)
	jwtClient, err := a.CreateClient(ctx, apiv1.CreateClient{TenantID: tn.ID, OwnerID: p.ID, AuthMethod: "private_key_jwt", JWKS: jwks})
	must(err)
	// The key goes through the same parser as `--assertion-key key.pem`.
	der, err := x509.MarshalPKCS8PrivateKey(key)
	must(err)
	assertionKey, err := conformance.ParseAssertionKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	must(err)

	legacy, err := a.IssueKey(ctx, apiv1.IssueKey{OwnerID: p.ID, Label: "conformance"})
	must(err)
	return conformance.Config{
		Issuer: issuer, ClientID: secretClient.ID, ClientSecret: secretClient.ClientSecret, ClientAuthMethod: authMethod,
		AssertionClientID: jwtClient.ID, AssertionKey: assertionKey,
		SubjectToken: legacy.Key,
	}
}

// TestAuthzPassesEveryCheck runs the whole suite, nothing skipped, against
// the real server on both storage backends.
func TestAuthzPassesEveryCheck(t *testing.T) {
	for _, backend := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", storetest.SQLiteURL}, {"postgres", storetest.PostgresURL}} {
		t.Run(backend.name, func(t *testing.T) {
			issuer, adminURL := startAuthz(t, backend.url(t))
			rep := run(t, fixtures(t, issuer, adminURL))
			if n := rep.Count(conformance.Pass); n != len(conformance.Checks()) {
				t.Fatalf("%d of %d checks passed:\n%s", n, len(conformance.Checks()), dump(t, rep))
			}
			t.Logf("\n%s", dump(t, rep))
		})
	}
}

// TestAuthzPassesWithAPostClient: a client registered as
// client_secret_post (authz enforces the registered method) passes every
// check when the suite is told its method.
func TestAuthzPassesWithAPostClient(t *testing.T) {
	issuer, adminURL := startAuthz(t, storetest.SQLiteURL(t))
	rep := run(t, fixturesWith(t, issuer, adminURL, "client_secret_post"))
	if n := rep.Count(conformance.Pass); n != len(conformance.Checks()) {
		t.Fatalf("%d of %d checks passed:\n%s", n, len(conformance.Checks()), dump(t, rep))
	}
}
