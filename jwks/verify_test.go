package jwks_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	gjwt "github.com/golang-jwt/jwt/v5"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	fjwt "github.com/ory/fosite/token/jwt"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/jwks"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/store"
)

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func encJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return enc(b)
}

func hs256(input string, secret []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return enc(mac.Sum(nil))
}

// TestVerifyRefuses: every way of presenting a token that authz did not
// sign as it is, with the key its kid names, is refused as token_invalid.
func TestVerifyRefuses(t *testing.T) {
	ctx := context.Background()
	c := newClock(t0)
	m := newManager(t, sqliteStore(t), masterkey.Generate(), testConfig(c, jwks.ES256))
	good, err := m.Sign(ctx, map[string]any{"sub": "alice", "scope": "orders:read"}, jwks.TypeAccessToken)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	kid := one(t, m, store.SigningCurrent)
	published, _ := fetchJWKS(t, m)
	pub := published[kid].publicKey(t)
	der, _ := x509.MarshalPKIXPublicKey(pub)
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	_, rawJWKs := fetchJWKS(t, m)
	var jwkJSON []byte
	for _, k := range rawJWKs {
		if k["kid"] == kid {
			jwkJSON, _ = json.Marshal(k)
		}
	}

	hsHeader := encJSON(t, map[string]any{"alg": "HS256", "kid": kid, "typ": "at+jwt"})
	noneHeader := encJSON(t, map[string]any{"alg": "none", "kid": kid, "typ": "at+jwt"})
	forged := encJSON(t, map[string]any{"sub": "admin", "scope": "authz:admin"})

	// A token properly signed by a key that is not published.
	stranger := newManager(t, sqliteStore(t), masterkey.Generate(), testConfig(c, jwks.ES256))
	foreign, _ := stranger.Sign(ctx, map[string]any{"sub": "alice"}, jwks.TypeAccessToken)

	// A token signed by an attacker's key that embeds it in the header
	// under our kid.
	attacker, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	embedded := func() string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: attacker},
			(&jose.SignerOptions{EmbedJWK: true}).WithType("at+jwt").WithHeader("kid", kid))
		if err != nil {
			t.Fatal(err)
		}
		jws, _ := s.Sign([]byte(`{"sub":"admin"}`))
		tok, _ := jws.CompactSerialize()
		return tok
	}()

	wrongTyp, _ := m.Sign(ctx, map[string]any{"sub": "alice"}, "JWT")
	statusList, _ := m.Sign(ctx, map[string]any{"sub": "alice"}, "statuslist+jwt")
	changedKidAlg := encJSON(t, map[string]any{"alg": "RS256", "kid": kid, "typ": "at+jwt"})

	tests := []struct {
		name  string
		token string
	}{
		{"fail/alg none", noneHeader + "." + forged + "."},
		{"fail/alg none with our signature", noneHeader + "." + parts[1] + "." + parts[2]},
		{"fail/HS256 keyed with the public key PEM", hsHeader + "." + forged + "." + hs256(hsHeader+"."+forged, pemBytes)},
		{"fail/HS256 keyed with the public key DER", hsHeader + "." + forged + "." + hs256(hsHeader+"."+forged, der)},
		{"fail/HS256 keyed with the published JWK", hsHeader + "." + forged + "." + hs256(hsHeader+"."+forged, jwkJSON)},
		{"fail/alg of another family than the key", changedKidAlg + "." + parts[1] + "." + parts[2]},
		{"fail/wrong typ", wrongTyp},
		{"fail/typ of another JWT kind", statusList},
		{"fail/unknown kid", foreign},
		{"fail/attacker key embedded under our kid", embedded},
		{"fail/changed payload", parts[0] + "." + forged + "." + parts[2]},
		{"fail/changed signature", parts[0] + "." + parts[1] + "." + enc(make([]byte, 64))},
		{"fail/signature dropped", parts[0] + "." + parts[1] + "."},
		{"fail/two segments", parts[0] + "." + parts[1]},
		{"fail/four segments", good + "." + parts[2]},
		{"fail/JSON serialization", `{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`},
		{"fail/empty", ""},
		{"fail/garbage", "not a token"},
		{"fail/oversized", parts[0] + "." + strings.Repeat("A", 20<<10) + "." + parts[2]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, _, err := m.Verify(ctx, tt.token, jwks.TypeAccessToken)
			if errcode.Of(err) != errcode.TokenInvalid || claims != nil {
				t.Fatalf("Verify = %s, %v; want token_invalid", claims, err)
			}
			if e, _ := errcode.As(err); e.Text() == "" || strings.Contains(e.Text(), tt.token) && tt.token != "" {
				t.Fatalf("refusal text %q is empty or echoes the token", e.Text())
			}
			if _, err := m.Signer().Decode(ctx, tt.token); err == nil {
				t.Fatal("fosite Decode accepts it")
			}
		})
	}

	accepted := []struct {
		name, typ string
	}{
		{"ok/at+jwt", "at+jwt"},
		{"ok/full media type", "application/at+jwt"},
		{"ok/upper case", "AT+JWT"},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := m.Sign(ctx, map[string]any{"sub": "alice"}, tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			claims, gotKid, err := m.Verify(ctx, tok, jwks.TypeAccessToken)
			if err != nil || gotKid != kid || !strings.Contains(string(claims), `"sub":"alice"`) {
				t.Fatalf("Verify = %s, %s, %v", claims, gotKid, err)
			}
		})
	}
}

// TestIndependentVerifiers: tokens of every algorithm verify with
// golang-jwt against keys read from the JWKS with the standard library
// only, the way a gateway that does not share our code would.
func TestIndependentVerifiers(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			c := newClock(time.Now())
			m := newManager(t, sqliteStore(t), masterkey.Generate(), testConfig(c, alg))
			now := c.Now()
			claims := fjwt.MapClaims{
				"iss": "https://authz.example", "sub": "svc-orders", "aud": []string{"https://api.example"},
				"exp": now.Add(5 * time.Minute).Unix(), "iat": now.Unix(), "jti": "6d1c6c4e",
				"client_id": "svc-orders", "scope": "orders:read", "tenant": "ten_1", "roles": []string{"reader"},
			}
			tok, sig, err := m.Signer().Generate(ctx, claims, &fjwt.Headers{})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(tok, "."+sig) {
				t.Fatalf("signature %q is not the token's third segment", sig)
			}
			published, _ := fetchJWKS(t, m)
			parsed, err := gjwt.Parse(tok, func(tk *gjwt.Token) (any, error) {
				kid, _ := tk.Header["kid"].(string)
				k, ok := published[kid]
				if !ok {
					return nil, errors.New("kid not in JWKS")
				}
				if k.Alg != alg || k.Use != "sig" {
					return nil, errors.New("JWK alg/use mismatch")
				}
				return k.publicKey(t), nil
			}, gjwt.WithValidMethods([]string{alg}), gjwt.WithIssuer("https://authz.example"),
				gjwt.WithAudience("https://api.example"), gjwt.WithExpirationRequired(), gjwt.WithTimeFunc(c.Now))
			if err != nil {
				t.Fatalf("golang-jwt: %v", err)
			}
			if parsed.Header["typ"] != "at+jwt" || parsed.Header["alg"] != alg {
				t.Fatalf("header %v, want typ at+jwt alg %s", parsed.Header, alg)
			}
			if sub, _ := parsed.Claims.GetSubject(); sub != "svc-orders" {
				t.Fatalf("sub %q", sub)
			}
		})
	}
}

// TestFositeStrategy drives the signer through fosite's DefaultJWTStrategy
// exactly as the token endpoint and introspection do: RFC 9068 tokens are
// issued, and still validate after a rotation (fosite's own DefaultSigner
// fails there).
func TestFositeStrategy(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			c := newClock(time.Now()) // fosite stamps iat and checks exp with the wall clock
			m := newManager(t, sqliteStore(t), masterkey.Generate(), testConfig(c, alg))
			strategy := &oauth2.DefaultJWTStrategy{
				Signer: m.Signer(),
				Config: &fosite.Config{AccessTokenIssuer: "https://authz.example", JWTScopeClaimKey: fjwt.JWTScopeFieldString},
			}
			session := &oauth2.JWTSession{
				JWTClaims: &fjwt.JWTClaims{Subject: "svc-orders", JTI: "jti-1", Extra: map[string]any{
					"client_id": "svc-orders", "tenant": "ten_1", "roles": []string{"reader"},
				}},
				JWTHeader: &fjwt.Headers{Extra: map[string]any{
					"alg": "none", "kid": "attacker", "typ": "JWT", "jku": "https://evil.example/jwks", "x-trace": "t1",
				}},
				ExpiresAt: map[fosite.TokenType]time.Time{fosite.AccessToken: time.Now().Add(time.Hour)},
			}
			req := fosite.NewAccessRequest(session)
			req.GrantedScope = fosite.Arguments{"orders:read"}
			req.GrantedAudience = fosite.Arguments{"https://api.example"}

			tok, sig, err := strategy.GenerateAccessToken(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			kid := one(t, m, store.SigningCurrent)
			h := header(t, tok)
			if h["alg"] != alg || h["kid"] != kid || h["typ"] != "at+jwt" || h["jku"] != nil || h["x-trace"] != "t1" {
				t.Fatalf("header %v: the session must not override alg, kid or typ, nor point at other keys", h)
			}
			if strategy.AccessTokenSignature(ctx, tok) != sig {
				t.Fatal("signature mismatch")
			}

			c.Advance(publishAhead)
			if _, err := m.Rotate(ctx); err != nil {
				t.Fatal(err)
			}
			if err := strategy.ValidateAccessToken(ctx, req, tok); err != nil {
				t.Fatalf("token issued before the rotation no longer validates: %v", err)
			}

			decoded, err := m.Signer().Decode(ctx, tok)
			if err != nil {
				t.Fatal(err)
			}
			if decoded.Header["kid"] != kid || decoded.Header["typ"] != "at+jwt" || string(decoded.Method) != alg {
				t.Fatalf("decoded header %v method %s", decoded.Header, decoded.Method)
			}
			// The bridge decodes claims as fosite itself does: integers as
			// int64, arrays as []any, so fosite's claim checks work.
			if _, ok := decoded.Claims["exp"].(int64); !ok {
				t.Fatalf("exp decoded as %T, want int64", decoded.Claims["exp"])
			}
			if !decoded.Claims.VerifyAudience("https://api.example", true) || decoded.Claims["scope"] != "orders:read" ||
				decoded.Claims["sub"] != "svc-orders" || decoded.Claims["jti"] != "jti-1" || decoded.Claims["iss"] != "https://authz.example" {
				t.Fatalf("claims %v", decoded.Claims)
			}
			if got, err := m.Signer().Validate(ctx, tok); err != nil || got != sig {
				t.Fatalf("Validate = %q, %v", got, err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	ctx := context.Background()
	c := newClock(t0)
	m := newManager(t, sqliteStore(t), masterkey.Generate(), testConfig(c, jwks.ES256))
	s := m.Signer()
	mk := func(claims fjwt.MapClaims) string {
		tok, _, err := s.Generate(ctx, claims, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := c.Now()
	wrongTyp, _ := m.Sign(ctx, map[string]any{}, "JWT")
	p1, p2 := strings.Split(mk(fjwt.MapClaims{"n": 1}), "."), strings.Split(mk(fjwt.MapClaims{"n": 2}), ".")
	swapped := p1[0] + "." + p1[1] + "." + p2[2]
	tests := []struct {
		name      string
		token     string
		flag      uint32
		withToken bool // fosite's id_token_hint logic reads an expired token's claims
	}{
		{"fail/expired beyond skew", mk(fjwt.MapClaims{"exp": now.Add(-2 * time.Minute).Unix()}), fjwt.ValidationErrorExpired, true},
		{"fail/issued in the future", mk(fjwt.MapClaims{"iat": now.Add(2 * time.Minute).Unix()}), fjwt.ValidationErrorIssuedAt, true},
		{"fail/not yet valid", mk(fjwt.MapClaims{"nbf": now.Add(2 * time.Minute).Unix()}), fjwt.ValidationErrorNotValidYet, true},
		{"fail/malformed", "a.b", fjwt.ValidationErrorMalformed, false},
		{"fail/wrong typ", wrongTyp, fjwt.ValidationErrorClaimsInvalid, false},
		{"fail/signature of another token", swapped, fjwt.ValidationErrorSignatureInvalid, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := s.Decode(ctx, tt.token)
			var ve *fjwt.ValidationError
			if !errors.As(err, &ve) || !ve.Has(tt.flag) {
				t.Fatalf("Decode error = %#v, want a ValidationError with flag %b", err, tt.flag)
			}
			if errcode.Of(ve.Inner) != errcode.TokenInvalid {
				t.Fatalf("inner error %v is not token_invalid", ve.Inner)
			}
			if (tok != nil) != tt.withToken {
				t.Fatalf("token returned = %v, want %v", tok != nil, tt.withToken)
			}
		})
	}
	t.Run("ok/expired within skew", func(t *testing.T) {
		if _, err := s.Decode(ctx, mk(fjwt.MapClaims{"exp": now.Add(-30 * time.Second).Unix()})); err != nil {
			t.Fatal(err)
		}
	})
}
