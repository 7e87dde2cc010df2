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
	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// metadata fetches RFC 8414 metadata the way a client would.
func metadata(e *servertest.Env) map[string]any {
	e.T.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.Issuer+"/.well-known/oauth-authorization-server", nil)
	r := e.Do(req)
	if r.Status != 200 {
		e.T.Fatalf("metadata: %d %s", r.Status, r.Raw)
	}
	return r.Body
}

// jwksKeys fetches the JWKS from the metadata's jwks_uri.
func jwksKeys(e *servertest.Env) (map[string]any, jose.JSONWebKeySet, http.Header) {
	e.T.Helper()
	md := metadata(e)
	resp, err := http.Get(md["jwks_uri"].(string))
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		e.T.Fatal(err)
	}
	keys := map[string]any{}
	for _, k := range set.Keys {
		keys[k.KeyID] = k.Key
	}
	return keys, set, resp.Header
}

// verifyJWT verifies an access token with golang-jwt/v5 against the JWKS,
// as an independent gateway would, and returns its claims.
func verifyJWT(e *servertest.Env, tok string) (jwt.MapClaims, error) {
	keys, _, _ := jwksKeys(e)
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := keys[kid]
		if !ok {
			return nil, jwt.ErrTokenUnverifiable
		}
		return k, nil
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(e.Issuer), jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(), jwt.WithTimeFunc(e.Clock.Now))
	if err != nil {
		return nil, err
	}
	if typ := parsed.Header["typ"]; typ != "at+jwt" {
		e.T.Fatalf("typ = %v, want at+jwt", typ)
	}
	return claims, nil
}

func TestClientCredentialsEndToEnd(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		f := e.Standard("acme")
		if r := e.Post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, f.Client.ID, f.Secret); r.Body["expires_in"] != float64(300) {
			t.Fatalf("expires_in: %s, want 300", r.Raw)
		}
		md := metadata(e)
		// Each style with a client registered for it; auto-detection (Basic
		// first, then the body) works for either.
		postClient, postSecret := e.MkClient(f.Owner, func(c *store.Client) {
			c.AuthMethod, c.Scopes, c.Audiences = store.AuthSecretPost, f.Client.Scopes, f.Client.Audiences
		})
		for _, tc := range []struct {
			style      oauth2.AuthStyle
			id, secret string
		}{
			{oauth2.AuthStyleInHeader, f.Client.ID, f.Secret},
			{oauth2.AuthStyleInParams, postClient.ID, postSecret},
			{oauth2.AuthStyleAutoDetect, f.Client.ID, f.Secret},
			{oauth2.AuthStyleAutoDetect, postClient.ID, postSecret},
		} {
			style := tc.style
			cc := clientcredentials.Config{
				ClientID: tc.id, ClientSecret: tc.secret, TokenURL: md["token_endpoint"].(string),
				Scopes: []string{"orders:read"}, AuthStyle: style,
			}
			tok, err := cc.Token(context.Background())
			if err != nil {
				t.Fatalf("auth style %v: %v", style, err)
			}
			if tok.TokenType != "Bearer" {
				t.Fatalf("token_type = %q, want Bearer", tok.TokenType)
			}
			claims, err := verifyJWT(e, tok.AccessToken)
			if err != nil {
				t.Fatalf("golang-jwt verification: %v", err)
			}
			if claims["sub"] != tc.id || claims["client_id"] != tc.id || claims["tenant"] != f.Tenant.ID || claims["scope"] != "orders:read" {
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
	e := servertest.Start(t, storetest.SQLiteURL(t))
	f := e.Standard("acme")
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
			r := e.Post("/oauth2/token", form, f.Client.ID, f.Secret)
			if tt.code != "" {
				servertest.WantError(t, r, 400, "invalid_scope", tt.code)
				return
			}
			if r.Status != 200 || r.Str("scope") != tt.want {
				t.Fatalf("got %d %s, want scope %q", r.Status, r.Raw, tt.want)
			}
		})
	}
}

func TestTokenEndpointErrors(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		f := e.Standard("acme")
		cc := url.Values{"grant_type": {"client_credentials"}}

		suspendedClient, suspendedSecret := e.MkClient(f.Owner, func(c *store.Client) { c.Status = store.StatusSuspended })
		ownerOff := e.MkPrincipal(f.Tenant.ID, "gone", store.KindService)
		ownerOffClient, ownerOffSecret := e.MkClient(ownerOff, nil)
		e.SuspendPrincipal(ownerOff.ID)
		other := e.MkTenant("suspended-co")
		otherOwner := e.MkPrincipal(other.ID, "svc", store.KindService)
		tenantOffClient, tenantOffSecret := e.MkClient(otherOwner, nil)
		if _, err := e.Srv.Store.UpdateTenant(e.Ctx(), other.ID, func(tn store.Tenant) (store.Tenant, error) {
			tn.Status = store.StatusSuspended
			return tn, nil
		}); err != nil {
			t.Fatal(err)
		}
		ccOnly, ccOnlySecret := e.MkClient(f.Owner, nil) // no token-exchange grant

		raw := func(method, ctype, body string, user, pass string) servertest.Response {
			req, _ := http.NewRequest(method, e.Issuer+"/oauth2/token", strings.NewReader(body))
			if ctype != "" {
				req.Header.Set("Content-Type", ctype)
			}
			if user != "" {
				req.SetBasicAuth(user, pass)
			}
			return e.Do(req)
		}
		tests := []struct {
			name   string
			resp   func() servertest.Response
			status int
			err    string
			code   string
			check  func(t *testing.T, r servertest.Response)
		}{
			{"wrong secret (basic)", func() servertest.Response { return e.Post("/oauth2/token", cc, f.Client.ID, "azs_wrong") },
				401, "invalid_client", "client_invalid", func(t *testing.T, r servertest.Response) {
					if r.Header.Get("WWW-Authenticate") == "" {
						t.Fatal("401 without WWW-Authenticate")
					}
				}},
			{"unknown client", func() servertest.Response { return e.Post("/oauth2/token", cc, "cli_nosuchclient0000", f.Secret) }, 401, "invalid_client", "client_invalid", nil},
			{"no client authentication", func() servertest.Response { return e.Post("/oauth2/token", cc, "", "") }, 401, "invalid_client", "client_invalid", nil},
			{"secret in the body and in Basic", func() servertest.Response {
				form := url.Values{"grant_type": {"client_credentials"}, "client_id": {f.Client.ID}, "client_secret": {f.Secret}}
				return e.Post("/oauth2/token", form, f.Client.ID, f.Secret)
			}, 400, "invalid_request", "request_invalid", nil},
			{"suspended client", func() servertest.Response { return e.Post("/oauth2/token", cc, suspendedClient.ID, suspendedSecret) }, 401, "invalid_client", "client_suspended", nil},
			{"suspended owner", func() servertest.Response { return e.Post("/oauth2/token", cc, ownerOffClient.ID, ownerOffSecret) }, 401, "invalid_client", "client_suspended", nil},
			{"suspended tenant", func() servertest.Response { return e.Post("/oauth2/token", cc, tenantOffClient.ID, tenantOffSecret) }, 401, "invalid_client", "client_suspended", nil},
			{"scope not granted", func() servertest.Response {
				return e.Post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"orders:write"}}, f.Client.ID, f.Secret)
			}, 400, "invalid_scope", "scope_not_granted", nil},
			{"audience not allowed", func() servertest.Response {
				return e.Post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "audience": {"https://evil.example"}}, f.Client.ID, f.Secret)
			}, 400, "invalid_target", "audience_not_granted", nil},
			{"unsupported grant type", func() servertest.Response {
				return e.Post("/oauth2/token", url.Values{"grant_type": {"password"}}, f.Client.ID, f.Secret)
			}, 400, "unsupported_grant_type", "grant_unsupported", nil},
			{"grant not allowed for this client", func() servertest.Response {
				return e.Post("/oauth2/token", url.Values{"grant_type": {store.GrantTokenExchange}, "subject_token": {"azk_x"}, "subject_token_type": {"urn:authz:token-type:api-key"}}, ccOnly.ID, ccOnlySecret)
			}, 400, "unauthorized_client", "grant_not_allowed", nil},
			{"missing grant type", func() servertest.Response {
				return e.Post("/oauth2/token", url.Values{"scope": {"x"}}, f.Client.ID, f.Secret)
			}, 400, "invalid_request", "request_invalid", nil},
			{"duplicate parameter", func() servertest.Response {
				return raw("POST", "application/x-www-form-urlencoded", "grant_type=client_credentials&scope=a&scope=b", f.Client.ID, f.Secret)
			}, 400, "invalid_request", "request_invalid", nil},
			{"GET instead of POST", func() servertest.Response { return raw("GET", "", "", f.Client.ID, f.Secret) }, 405, "invalid_request", "method_not_allowed",
				func(t *testing.T, r servertest.Response) {
					if r.Header.Get("Allow") != "POST" {
						t.Fatalf("Allow = %q", r.Header.Get("Allow"))
					}
				}},
			{"JSON body", func() servertest.Response {
				return raw("POST", "application/json", `{"grant_type":"client_credentials"}`, f.Client.ID, f.Secret)
			}, 400, "invalid_request", "request_invalid", nil},
			{"secret in the URL", func() servertest.Response {
				req, _ := http.NewRequest("POST", e.Issuer+"/oauth2/token?client_secret=x", strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return e.Do(req)
			}, 400, "invalid_request", "request_invalid", nil},
			{"oversized body", func() servertest.Response {
				return raw("POST", "application/x-www-form-urlencoded", "grant_type=client_credentials&scope="+strings.Repeat("a", 70<<10), f.Client.ID, f.Secret)
			}, 413, "invalid_request", "request_too_large", nil},
			{"malformed basic header", func() servertest.Response {
				req, _ := http.NewRequest("POST", e.Issuer+"/oauth2/token", strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", "Basic !!!notbase64")
				return e.Do(req)
			}, 401, "invalid_client", "client_invalid", nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := tt.resp()
				servertest.WantError(t, r, tt.status, tt.err, tt.code)
				if tt.check != nil {
					tt.check(t, r)
				}
			})
		}
	})
}

func TestTokenResponseIsNotCached(t *testing.T) {
	e := servertest.Start(t, storetest.SQLiteURL(t))
	f := e.Standard("acme")
	r := e.Post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, f.Client.ID, f.Secret)
	if r.Status != 200 || r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Pragma") != "no-cache" {
		t.Fatalf("%d Cache-Control=%q Pragma=%q", r.Status, r.Header.Get("Cache-Control"), r.Header.Get("Pragma"))
	}
}

func TestPerClientLifetime(t *testing.T) {
	e := servertest.Start(t, storetest.SQLiteURL(t))
	f := e.Standard("acme")
	c, secret := e.MkClient(f.Owner, func(c *store.Client) { c.AccessTokenTTL = 90 * time.Second })
	r := e.Post("/oauth2/token", url.Values{"grant_type": {"client_credentials"}}, c.ID, secret)
	if r.Status != 200 || r.Body["expires_in"] != float64(90) {
		t.Fatalf("%d %s, want expires_in 90", r.Status, r.Raw)
	}
}

func TestSecretRotationOverlap(t *testing.T) {
	e := servertest.Start(t, storetest.SQLiteURL(t))
	f := e.Standard("acme")
	var fresh string
	if _, err := e.Srv.Store.UpdateClient(e.Ctx(), f.Client.ID, func(c store.Client) (store.Client, error) {
		fresh, c.Secrets = e.Srv.Secrets.Rotate(c, time.Hour, e.Clock.Now())
		return c, nil
	}); err != nil {
		t.Fatal(err)
	}
	cc := url.Values{"grant_type": {"client_credentials"}}
	for _, s := range []string{f.Secret, fresh} {
		if r := e.Post("/oauth2/token", cc, f.Client.ID, s); r.Status != 200 {
			t.Fatalf("during the overlap: %d %s", r.Status, r.Raw)
		}
	}
	e.Clock.Advance(time.Hour + time.Second)
	servertest.WantError(t, e.Post("/oauth2/token", cc, f.Client.ID, f.Secret), 401, "invalid_client", "client_invalid")
	if r := e.Post("/oauth2/token", cc, f.Client.ID, fresh); r.Status != 200 {
		t.Fatalf("new secret after the overlap: %d %s", r.Status, r.Raw)
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
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		f := e.Standard("acme")

		ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		inline, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ecKey.PublicKey, KeyID: "ec1", Algorithm: "ES256", Use: "sig"}}})
		inlineClient, _ := e.MkClient(f.Owner, func(c *store.Client) {
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
		uriClient, _ := e.MkClient(f.Owner, func(c *store.Client) {
			c.AuthMethod, c.Secrets, c.JWKSURI = store.AuthPrivateKeyJWT, nil, jwksSrv.URL
		})

		now := e.Clock.Now()
		claims := func(id, jti string, aud string, exp time.Time) josejwt.Claims {
			return josejwt.Claims{Issuer: id, Subject: id, Audience: josejwt.Audience{aud}, ID: jti,
				IssuedAt: josejwt.NewNumericDate(now), Expiry: josejwt.NewNumericDate(exp)}
		}
		tokenURL := e.Issuer + "/oauth2/token"
		send := func(a string) servertest.Response {
			return e.Post("/oauth2/token", url.Values{
				"grant_type":            {"client_credentials"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {a},
			}, "", "")
		}
		good := assertion(t, ecKey, jose.ES256, "ec1", claims(inlineClient.ID, "jti-1", tokenURL, now.Add(time.Minute)))
		if r := send(good); r.Status != 200 {
			t.Fatalf("inline JWKS assertion: %d %s", r.Status, r.Raw)
		}
		servertest.WantError(t, send(good), 401, "invalid_client", "client_invalid") // replay
		if r := send(good); !strings.Contains(r.Str("error_description"), "replayed") {
			t.Fatalf("replay description = %q", r.Str("error_description"))
		}
		edGood := assertion(t, edKey, jose.EdDSA, "ed1", claims(uriClient.ID, "jti-2", e.Issuer, now.Add(time.Minute)))
		if r := send(edGood); r.Status != 200 {
			t.Fatalf("jwks_uri EdDSA assertion: %d %s", r.Status, r.Raw)
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
			t.Run(name, func(t *testing.T) { servertest.WantError(t, send(a), 401, "invalid_client", "client_invalid") })
		}
		// A refused assertion does not burn its jti: the same jti, correctly
		// addressed, still works.
		fixed := assertion(t, ecKey, jose.ES256, "ec1", claims(inlineClient.ID, "jti-4", tokenURL, now.Add(time.Minute)))
		if r := send(fixed); r.Status != 200 {
			t.Fatalf("jti of a refused assertion was burned: %d %s", r.Status, r.Raw)
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
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		f := e.Standard("acme")
		// Tokens live an hour here, so one signed before the rotation is
		// still unexpired when the next key may sign (a JWKS max-age later).
		if _, err := e.Srv.Store.UpdateClient(e.Ctx(), f.Client.ID, func(c store.Client) (store.Client, error) {
			c.AccessTokenTTL = time.Hour
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
		before := e.Token(f, "")
		// The next key must have been published for a JWKS max-age first.
		e.Clock.Advance(10 * time.Minute)
		info, err := e.Srv.Keys.Rotate(e.Ctx())
		if err != nil {
			t.Fatal(err)
		}
		after := e.Token(f, "")
		hb, _ := jwtHeader(before)
		ha, _ := jwtHeader(after)
		if ha["kid"] != info.KID || hb["kid"] == ha["kid"] {
			t.Fatalf("kid before %v, after %v, new current %s", hb["kid"], ha["kid"], info.KID)
		}
		for name, tok := range map[string]string{"before": before, "after": after} {
			if _, err := verifyJWT(e, tok); err != nil {
				t.Fatalf("token signed %s the rotation does not verify: %v", name, err)
			}
			r := e.Post("/oauth2/introspect", url.Values{"token": {tok}}, f.Client.ID, f.Secret)
			if r.Body["active"] != true {
				t.Fatalf("token signed %s the rotation is inactive: %s", name, r.Raw)
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
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		f := e.Standard("acme")
		tok := e.Token(f, "")
		h, _ := jwtHeader(tok)
		kid := h["kid"].(string)
		if err := e.Srv.Keys.Withdraw(e.Ctx(), kid); err != nil {
			t.Fatal(err)
		}
		_, set, hdr := jwksKeys(e)
		if len(set.Key(kid)) != 0 {
			t.Fatalf("withdrawn kid %s is still in the JWKS", kid)
		}
		if !strings.Contains(hdr.Get("Cache-Control"), "max-age=") {
			t.Fatalf("JWKS Cache-Control = %q", hdr.Get("Cache-Control"))
		}
		if _, err := verifyJWT(e, tok); err == nil {
			t.Fatal("a token of the withdrawn key still verifies against the JWKS")
		}
		if r := e.Post("/oauth2/introspect", url.Values{"token": {tok}}, f.Client.ID, f.Secret); r.Body["active"] != false {
			t.Fatalf("a token of the withdrawn key introspects as %s", r.Raw)
		}
		if _, err := verifyJWT(e, e.Token(f, "")); err != nil {
			t.Fatalf("new tokens after the withdrawal: %v", err)
		}
	})
}

func TestWrongMasterKeyRefusesToStart(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		e.Srv.Close()
		cfg := server.Defaults()
		cfg.Database, cfg.MasterKey, cfg.Out = db, strings.Repeat("ab", 32), nil
		cfg.Addr, cfg.AdminAddr = "127.0.0.1:1", "127.0.0.1:2"
		_, err := server.New(context.Background(), cfg, nil)
		if err == nil || !strings.Contains(err.Error(), "master key differs") {
			t.Fatalf("start with another master key: %v", err)
		}
	})
}

func TestUnknownPathsAnswerJSON(t *testing.T) {
	e := servertest.Start(t, storetest.SQLiteURL(t))
	for _, c := range []struct{ method, path string }{{"GET", "/nope"}, {"POST", "/healthz"}, {"GET", "/oauth2/tokens"}} {
		req, _ := http.NewRequest(c.method, e.Issuer+c.path, nil)
		servertest.WantError(t, e.Do(req), 404, "not_found", "not_found")
	}
}

func TestDiscovery(t *testing.T) {
	e := servertest.Start(t, storetest.SQLiteURL(t))
	for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
		req, _ := http.NewRequest(http.MethodGet, e.Issuer+path, nil)
		r := e.Do(req)
		if r.Status != 200 || r.Str("issuer") != e.Issuer || r.Str("token_endpoint") != e.Issuer+"/oauth2/token" ||
			r.Str("jwks_uri") != e.Issuer+"/.well-known/jwks.json" || r.Str("introspection_endpoint") == "" || r.Str("revocation_endpoint") == "" {
			t.Fatalf("%s: %d %s", path, r.Status, r.Raw)
		}
		grants, _ := r.Body["grant_types_supported"].([]any)
		methods, _ := r.Body["token_endpoint_auth_methods_supported"].([]any)
		if !slices.Contains(grants, any("client_credentials")) || !slices.Contains(grants, any(store.GrantTokenExchange)) ||
			!slices.Contains(methods, any("private_key_jwt")) {
			t.Fatalf("%s: grants %v methods %v", path, grants, methods)
		}
	}
}

// TestRegisteredAuthMethodIsEnforced (issue 18 §7): a client registered
// as client_secret_basic cannot authenticate with client_secret_post, nor
// the other way round; the refusal names the registered method, and only
// after the secret matched (a wrong secret stays client_invalid).
func TestRegisteredAuthMethodIsEnforced(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		f := e.Standard("acme") // client_secret_basic
		post, postSecret := e.MkClient(f.Owner, func(c *store.Client) { c.AuthMethod = store.AuthSecretPost })
		cc := url.Values{"grant_type": {"client_credentials"}}
		inBody := func(id, secret string) url.Values {
			return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
		}
		for _, tc := range []struct {
			name       string
			form       url.Values
			user, pass string
			status     int
			code       string
			mentions   string
		}{
			{"basic client, basic", cc, f.Client.ID, f.Secret, 200, "", ""},
			{"basic client, post", inBody(f.Client.ID, f.Secret), "", "", 401, "client_auth_method", "client_secret_basic"},
			{"basic client, post, wrong secret", inBody(f.Client.ID, "azs_wrong"), "", "", 401, "client_invalid", ""},
			{"post client, post", inBody(post.ID, postSecret), "", "", 200, "", ""},
			{"post client, basic", cc, post.ID, postSecret, 401, "client_auth_method", "client_secret_post"},
			{"post client, basic, wrong secret", cc, post.ID, "azs_wrong", 401, "client_invalid", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.Post("/oauth2/token", tc.form, tc.user, tc.pass)
				if tc.status == 200 {
					if r.Status != 200 {
						t.Fatalf("%d %s", r.Status, r.Raw)
					}
					return
				}
				servertest.WantError(t, r, tc.status, "invalid_client", tc.code)
				if !strings.Contains(r.Str("error_description"), tc.mentions) {
					t.Fatalf("description %q does not name %s", r.Str("error_description"), tc.mentions)
				}
			})
		}
		t.Run("introspection enforces it too", func(t *testing.T) {
			tok := e.Token(f, "")
			r := e.Post("/oauth2/introspect", url.Values{"token": {tok}, "client_id": {f.Client.ID}, "client_secret": {f.Secret}}, "", "")
			servertest.WantError(t, r, 401, "invalid_client", "client_auth_method")
		})
	})
}
