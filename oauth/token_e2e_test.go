package oauth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/authz/authz/server"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// metadata fetches RFC 8414 metadata the way a client would.
func (e *env) metadata() map[string]any {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.issuer+"/.well-known/oauth-authorization-server", nil)
	r := e.do(req)
	if r.status != 200 {
		e.t.Fatalf("metadata: %d %s", r.status, r.raw)
	}
	return r.body
}

// jwksKeys fetches the JWKS from the metadata's jwks_uri.
func (e *env) jwksKeys() (map[string]any, jose.JSONWebKeySet, http.Header) {
	e.t.Helper()
	md := e.metadata()
	resp, err := http.Get(md["jwks_uri"].(string))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		e.t.Fatal(err)
	}
	keys := map[string]any{}
	for _, k := range set.Keys {
		keys[k.KeyID] = k.Key
	}
	return keys, set, resp.Header
}

// verifyJWT verifies an access token with golang-jwt/v5 against the JWKS,
// as an independent gateway would, and returns its claims.
func (e *env) verifyJWT(tok string) (jwt.MapClaims, error) {
	keys, _, _ := e.jwksKeys()
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := keys[kid]
		if !ok {
			return nil, jwt.ErrTokenUnverifiable
		}
		return k, nil
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(e.issuer), jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(), jwt.WithTimeFunc(e.clock.Now))
	if err != nil {
		return nil, err
	}
	if typ := parsed.Header["typ"]; typ != "at+jwt" {
		e.t.Fatalf("typ = %v, want at+jwt", typ)
	}
	return claims, nil
}

func TestClientCredentialsEndToEnd(t *testing.T) {
	eachBackend(t, func(t *testing.T, db string) {
		e := startEnv(t, db)
		f := e.standard("acme")
		if r := e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, f.client.ID, f.secret); r.body["expires_in"] != float64(300) {
			t.Fatalf("expires_in: %s, want 300", r.raw)
		}
		md := e.metadata()
		for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
			cc := clientcredentials.Config{
				ClientID: f.client.ID, ClientSecret: f.secret, TokenURL: md["token_endpoint"].(string),
				Scopes: []string{"orders:read"}, AuthStyle: style,
			}
			tok, err := cc.Token(context.Background())
			if err != nil {
				t.Fatalf("auth style %v: %v", style, err)
			}
			if tok.TokenType != "Bearer" {
				t.Fatalf("token_type = %q, want Bearer", tok.TokenType)
			}
			claims, err := e.verifyJWT(tok.AccessToken)
			if err != nil {
				t.Fatalf("golang-jwt verification: %v", err)
			}
			if claims["sub"] != f.client.ID || claims["client_id"] != f.client.ID || claims["tenant"] != f.tenant.ID || claims["scope"] != "orders:read" {
				t.Fatalf("claims = %v", claims)
			}
			if aud, _ := claims["aud"].([]any); len(aud) != 1 || aud[0] != "https://api.example.com" {
				t.Fatalf("aud = %v", claims["aud"])
			}
			if roles, _ := claims["roles"].([]any); len(roles) != 1 || roles[0] != "orders" {
				t.Fatalf("roles = %v (want a JSON array)", claims["roles"])
			}
			iat, _ := claims.GetIssuedAt()
			exp, _ := claims.GetExpirationTime()
			if exp.Sub(iat.Time) != 5*time.Minute || claims["jti"] == "" {
				t.Fatalf("iat %v exp %v jti %v", iat, exp, claims["jti"])
			}
		}
	})
}

func TestScopePolicy(t *testing.T) {
	e := startEnv(t, storetest.SQLiteURL(t))
	f := e.standard("acme")
	tests := []struct {
		name, scope, want, code string
	}{
		{"none requested: roles ∩ allowed", "", "orders:read", ""},
		{"role grants, client does not allow", "orders:write", "", "scope_not_granted"},
		{"client allows, role does not grant", "stock:read", "", "scope_not_granted"},
		{"unknown scope", "nope", "", "scope_not_granted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}}
			if tt.scope != "" {
				form.Set("scope", tt.scope)
			}
			r := e.post("/oauth2/token", form, f.client.ID, f.secret)
			if tt.code != "" {
				wantError(t, r, 400, "invalid_scope", tt.code)
				return
			}
			if r.status != 200 || r.str("scope") != tt.want {
				t.Fatalf("got %d %s, want scope %q", r.status, r.raw, tt.want)
			}
		})
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, db string) {
		e := startEnv(t, db)
		f := e.standard("acme")
		cc := url.Values{"grant_type": {"client_credentials"}}

		suspendedClient, suspendedSecret := e.mkClient(f.owner, func(c *store.Client) { c.Status = store.StatusSuspended })
		ownerOff := e.mkPrincipal(f.tenant.ID, "gone", store.KindService)
		ownerOffClient, ownerOffSecret := e.mkClient(ownerOff, nil)
		e.suspendPrincipal(ownerOff.ID)
		other := e.mkTenant("suspended-co")
		otherOwner := e.mkPrincipal(other.ID, "svc", store.KindService)
		tenantOffClient, tenantOffSecret := e.mkClient(otherOwner, nil)
		if _, err := e.srv.Store.UpdateTenant(e.ctx(), other.ID, func(tn store.Tenant) (store.Tenant, error) {
			tn.Status = store.StatusSuspended
			return tn, nil
		}); err != nil {
			t.Fatal(err)
		}
		ccOnly, ccOnlySecret := e.mkClient(f.owner, nil) // no token-exchange grant

		raw := func(method, ctype, body string, user, pass string) response {
			req, _ := http.NewRequest(method, e.issuer+"/oauth2/token", strings.NewReader(body))
			if ctype != "" {
				req.Header.Set("Content-Type", ctype)
			}
			if user != "" {
				req.SetBasicAuth(user, pass)
			}
			return e.do(req)
		}
		tests := []struct {
			name   string
			resp   func() response
			status int
			err    string
			code   string
			check  func(t *testing.T, r response)
		}{
			{"wrong secret (basic)", func() response { return e.post("/oauth2/token", cc, f.client.ID, "azs_wrong") },
				401, "invalid_client", "client_invalid", func(t *testing.T, r response) {
					if r.header.Get("WWW-Authenticate") == "" {
						t.Fatal("401 without WWW-Authenticate")
					}
				}},
			{"unknown client", func() response { return e.post("/oauth2/token", cc, "cli_nosuchclient0000", f.secret) }, 401, "invalid_client", "client_invalid", nil},
			{"no client authentication", func() response { return e.post("/oauth2/token", cc, "", "") }, 401, "invalid_client", "client_invalid", nil},
			{"secret in the body and in Basic", func() response {
				form := url.Values{"grant_type": {"client_credentials"}, "client_id": {f.client.ID}, "client_secret": {f.secret}}
				return e.post("/oauth2/token", form, f.client.ID, f.secret)
			}, 400, "invalid_request", "request_invalid", nil},
			{"suspended client", func() response { return e.post("/oauth2/token", cc, suspendedClient.ID, suspendedSecret) }, 401, "invalid_client", "client_suspended", nil},
			{"suspended owner", func() response { return e.post("/oauth2/token", cc, ownerOffClient.ID, ownerOffSecret) }, 401, "invalid_client", "client_suspended", nil},
			{"suspended tenant", func() response { return e.post("/oauth2/token", cc, tenantOffClient.ID, tenantOffSecret) }, 401, "invalid_client", "client_suspended", nil},
			{"scope not granted", func() response {
				return e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:write"}}, f.client.ID, f.secret)
			}, 400, "invalid_scope", "scope_not_granted", nil},
			{"audience not allowed", func() response {
				return e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "audience": {"https://evil.example"}}, f.client.ID, f.secret)
			}, 400, "invalid_target", "audience_not_granted", nil},
			{"unsupported grant type", func() response {
				return e.post("/oauth2/token", url.Values{"grant_type": {"password"}}, f.client.ID, f.secret)
			}, 400, "unsupported_grant_type", "grant_unsupported", nil},
			{"grant not allowed for this client", func() response {
				return e.post("/oauth2/token", url.Values{"grant_type": {store.GrantTokenExchange}, "subject_token": {"azk_x"}, "subject_token_type": {"urn:authz:token-type:api-key"}}, ccOnly.ID, ccOnlySecret)
			}, 400, "unauthorized_client", "grant_not_allowed", nil},
			{"missing grant type", func() response { return e.post("/oauth2/token", url.Values{"scope": {"x"}}, f.client.ID, f.secret) }, 400, "invalid_request", "request_invalid", nil},
			{"duplicate parameter", func() response {
				return raw("POST", "application/x-www-form-urlencoded", "grant_type=client_credentials&scope=a&scope=b", f.client.ID, f.secret)
			}, 400, "invalid_request", "request_invalid", nil},
			{"GET instead of POST", func() response { return raw("GET", "", "", f.client.ID, f.secret) }, 405, "invalid_request", "method_not_allowed",
				func(t *testing.T, r response) {
					if r.header.Get("Allow") != "POST" {
						t.Fatalf("Allow = %q", r.header.Get("Allow"))
					}
				}},
			{"JSON body", func() response {
				return raw("POST", "application/json", `{"grant_type":"client_credentials"}`, f.client.ID, f.secret)
			}, 400, "invalid_request", "request_invalid", nil},
			{"secret in the URL", func() response {
				req, _ := http.NewRequest("POST", e.issuer+"/oauth2/token?client_secret=x", strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return e.do(req)
			}, 400, "invalid_request", "request_invalid", nil},
			{"oversized body", func() response {
				return raw("POST", "application/x-www-form-urlencoded", "grant_type=client_credentials&scope="+strings.Repeat("a", 70<<10), f.client.ID, f.secret)
			}, 413, "invalid_request", "request_too_large", nil},
			{"malformed basic header", func() response {
				req, _ := http.NewRequest("POST", e.issuer+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", "Basic !!!notbase64")
				return e.do(req)
			}, 401, "invalid_client", "client_invalid", nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := tt.resp()
				wantError(t, r, tt.status, tt.err, tt.code)
				if tt.check != nil {
					tt.check(t, r)
				}
			})
		}
	})
}

func TestTokenResponseIsNotCached(t *testing.T) {
	e := startEnv(t, storetest.SQLiteURL(t))
	f := e.standard("acme")
	r := e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, f.client.ID, f.secret)
	if r.status != 200 || r.header.Get("Cache-Control") != "no-store" || r.header.Get("Pragma") != "no-cache" {
		t.Fatalf("%d Cache-Control=%q Pragma=%q", r.status, r.header.Get("Cache-Control"), r.header.Get("Pragma"))
	}
}

func TestPerClientLifetime(t *testing.T) {
	e := startEnv(t, storetest.SQLiteURL(t))
	f := e.standard("acme")
	c, secret := e.mkClient(f.owner, func(c *store.Client) { c.AccessTokenTTL = 90 * time.Second })
	r := e.post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, secret)
	if r.status != 200 || r.body["expires_in"] != float64(90) {
		t.Fatalf("%d %s, want expires_in 90", r.status, r.raw)
	}
}

func TestSecretRotationOverlap(t *testing.T) {
	e := startEnv(t, storetest.SQLiteURL(t))
	f := e.standard("acme")
	var fresh string
	if _, err := e.srv.Store.UpdateClient(e.ctx(), f.client.ID, func(c store.Client) (store.Client, error) {
		fresh, c.Secrets = e.srv.Secrets.Rotate(c, time.Hour, e.clock.Now())
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	for _, s := range []string{f.secret, fresh} {
		if r := e.post("/oauth2/token", cc, f.client.ID, s); r.status != 200 {
			t.Fatalf("during the overlap: %d %s", r.status, r.raw)
		}
	}
	e.clock.Advance(time.Hour + time.Second)
	wantError(t, e.post("/oauth2/token", cc, f.client.ID, f.secret), 401, "invalid_client", "client_invalid")
	if r := e.post("/oauth2/token", cc, f.client.ID, fresh); r.status != 200 {
		t.Fatalf("new secret after the overlap: %d %s", r.status, r.raw)
	}
}

// assertion signs a private_key_jwt client assertion.
func assertion(t *testing.T, key any, alg jose.SignatureAlgorithm, kid string, claims josejwt.Claims) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	s, err := josejwt.Signed(sig).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPrivateKeyJWT(t *testing.T) {
	eachBackend(t, func(t *testing.T, db string) {
		e := startEnv(t, db)
		f := e.standard("acme")

		ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		inline, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ecKey.PublicKey, KeyID: "ec1", Algorithm: "ES256", Use: "sig"}}})
		inlineClient, _ := e.mkClient(f.owner, func(c *store.Client) {
			c.AuthMethod, c.Secrets, c.JWKS = store.AuthPrivateKeyJWT, nil, inline
		})
		// A second client publishes an Ed25519 key (no "use") at a jwks_uri.
		_, edKey, _ := ed25519.GenerateKey(rand.Reader)
		var hits atomic.Int32
		jwksSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: edKey.Public(), KeyID: "ed1"}}})
		}))
		defer jwksSrv.Close()
		uriClient, _ := e.mkClient(f.owner, func(c *store.Client) {
			c.AuthMethod, c.Secrets, c.JWKSURI = store.AuthPrivateKeyJWT, nil, jwksSrv.URL
		})

		now := e.clock.Now()
		claims := func(id, jti string, aud string, exp time.Time) josejwt.Claims {
			return josejwt.Claims{Issuer: id, Subject: id, Audience: josejwt.Audience{aud}, ID: jti,
				IssuedAt: josejwt.NewNumericDate(now), Expiry: josejwt.NewNumericDate(exp)}
		}
		tokenURL := e.issuer + "/oauth2/token"
		send := func(a string) response {
			return e.post("/oauth2/token", url.Values{
				"grant_type":            {"client_credentials"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {a},
			}, "", "")
		}
		good := assertion(t, ecKey, jose.ES256, "ec1", claims(inlineClient.ID, "jti-1", tokenURL, now.Add(time.Minute)))
		if r := send(good); r.status != 200 {
			t.Fatalf("inline JWKS assertion: %d %s", r.status, r.raw)
		}
		wantError(t, send(good), 401, "invalid_client", "client_invalid") // replay
		if r := send(good); !strings.Contains(r.str("error_description"), "replayed") {
			t.Fatalf("replay description = %q", r.str("error_description"))
		}
		edGood := assertion(t, edKey, jose.EdDSA, "ed1", claims(uriClient.ID, "jti-2", e.issuer, now.Add(time.Minute)))
		if r := send(edGood); r.status != 200 {
			t.Fatalf("jwks_uri EdDSA assertion: %d %s", r.status, r.raw)
		}
		otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		for name, a := range map[string]string{
			"expired":        assertion(t, ecKey, jose.ES256, "ec1", claims(inlineClient.ID, "jti-3", tokenURL, now.Add(-5*time.Minute))),
			"wrong audience": assertion(t, ecKey, jose.ES256, "ec1", claims(inlineClient.ID, "jti-4", "https://elsewhere.example/token", now.Add(time.Minute))),
			"too long-lived": assertion(t, ecKey, jose.ES256, "ec1", claims(inlineClient.ID, "jti-5", tokenURL, now.Add(24*time.Hour))),
			"no jti":         assertion(t, ecKey, jose.ES256, "ec1", claims(inlineClient.ID, "", tokenURL, now.Add(time.Minute))),
			"wrong key":      assertion(t, otherKey, jose.ES256, "ec1", claims(inlineClient.ID, "jti-6", tokenURL, now.Add(time.Minute))),
			"unknown kid":    assertion(t, edKey, jose.EdDSA, "nope", claims(uriClient.ID, "jti-7", tokenURL, now.Add(time.Minute))),
			"not a JWT":      "garbage",
		} {
			t.Run(name, func(t *testing.T) { wantError(t, send(a), 401, "invalid_client", "client_invalid") })
		}
		// A refused assertion does not burn its jti: the same jti, correctly
		// addressed, still works.
		fixed := assertion(t, ecKey, jose.ES256, "ec1", claims(inlineClient.ID, "jti-4", tokenURL, now.Add(time.Minute)))
		if r := send(fixed); r.status != 200 {
			t.Fatalf("jti of a refused assertion was burned: %d %s", r.status, r.raw)
		}
		// A random-kid flood refetches the jwks_uri at most once per interval.
		before := hits.Load()
		for i := range 5 {
			send(assertion(t, edKey, jose.EdDSA, "random"+string(rune('a'+i)), claims(uriClient.ID, "flood", tokenURL, now.Add(time.Minute))))
		}
		if n := hits.Load() - before; n > 1 {
			t.Fatalf("%d jwks_uri fetches for 5 unknown kids, want at most 1", n)
		}
	})
}

func TestRotationKeepsIssuedTokensValid(t *testing.T) {
	eachBackend(t, func(t *testing.T, db string) {
		e := startEnv(t, db)
		f := e.standard("acme")
		// Tokens live an hour here, so one signed before the rotation is
		// still unexpired when the next key may sign (a JWKS max-age later).
		if _, err := e.srv.Store.UpdateClient(e.ctx(), f.client.ID, func(c store.Client) (store.Client, error) {
			c.AccessTokenTTL = time.Hour
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
		before := e.token(f, "")
		// The next key must have been published for a JWKS max-age first.
		e.clock.Advance(10 * time.Minute)
		info, err := e.srv.Keys.Rotate(e.ctx())
		if err != nil {
			t.Fatal(err)
		}
		after := e.token(f, "")
		hb, _ := jwtHeader(before)
		ha, _ := jwtHeader(after)
		if ha["kid"] != info.KID || hb["kid"] == ha["kid"] {
			t.Fatalf("kid before %v, after %v, new current %s", hb["kid"], ha["kid"], info.KID)
		}
		for name, tok := range map[string]string{"before": before, "after": after} {
			if _, err := e.verifyJWT(tok); err != nil {
				t.Fatalf("token signed %s the rotation does not verify: %v", name, err)
			}
			r := e.post("/oauth2/introspect", url.Values{"token": {tok}}, f.client.ID, f.secret)
			if r.body["active"] != true {
				t.Fatalf("token signed %s the rotation is inactive: %s", name, r.raw)
			}
		}
	})
}

func jwtHeader(tok string) (map[string]any, error) {
	t, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		return nil, err
	}
	return t.Header, nil
}

func TestEmergencyWithdrawal(t *testing.T) {
	eachBackend(t, func(t *testing.T, db string) {
		e := startEnv(t, db)
		f := e.standard("acme")
		tok := e.token(f, "")
		h, _ := jwtHeader(tok)
		kid := h["kid"].(string)
		if err := e.srv.Keys.Withdraw(e.ctx(), kid); err != nil {
			t.Fatal(err)
		}
		_, set, hdr := e.jwksKeys()
		if len(set.Key(kid)) != 0 {
			t.Fatalf("withdrawn kid %s is still in the JWKS", kid)
		}
		if !strings.Contains(hdr.Get("Cache-Control"), "max-age=") {
			t.Fatalf("JWKS Cache-Control = %q", hdr.Get("Cache-Control"))
		}
		if _, err := e.verifyJWT(tok); err == nil {
			t.Fatal("a token of the withdrawn key still verifies against the JWKS")
		}
		if r := e.post("/oauth2/introspect", url.Values{"token": {tok}}, f.client.ID, f.secret); r.body["active"] != false {
			t.Fatalf("a token of the withdrawn key introspects as %s", r.raw)
		}
		if _, err := e.verifyJWT(e.token(f, "")); err != nil {
			t.Fatalf("new tokens after the withdrawal: %v", err)
		}
	})
}

func TestWrongMasterKeyRefusesToStart(t *testing.T) {
	eachBackend(t, func(t *testing.T, db string) {
		e := startEnv(t, db)
		e.srv.Close()
		cfg := server.Defaults()
		cfg.Database, cfg.MasterKey, cfg.Out = db, strings.Repeat("ab", 32), nil
		cfg.Addr, cfg.AdminAddr = "127.0.0.1:1", "127.0.0.1:2"
		_, err := server.New(context.Background(), cfg, nil)
		if err == nil || !strings.Contains(err.Error(), "master key differs") {
			t.Fatalf("start with another master key: %v", err)
		}
	})
}

func TestDiscovery(t *testing.T) {
	e := startEnv(t, storetest.SQLiteURL(t))
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		req, _ := http.NewRequest(http.MethodGet, e.issuer+path, nil)
		r := e.do(req)
		if r.status != 200 || r.str("issuer") != e.issuer || r.str("token_endpoint") != e.issuer+"/oauth2/token" ||
			r.str("jwks_uri") != e.issuer+"/.well-known/jwks.json" || r.str("introspection_endpoint") == "" || r.str("revocation_endpoint") == "" {
			t.Fatalf("%s: %d %s", path, r.status, r.raw)
		}
		grants, _ := r.body["grant_types_supported"].([]any)
		methods, _ := r.body["token_endpoint_auth_methods_supported"].([]any)
		if !slices.Contains(grants, any("client_credentials")) || !slices.Contains(grants, any(store.GrantTokenExchange)) ||
			!slices.Contains(methods, any("private_key_jwt")) {
			t.Fatalf("%s: grants %v methods %v", path, grants, methods)
		}
	}
}
