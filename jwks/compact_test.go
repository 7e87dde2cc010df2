package jwks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	fjwt "github.com/ory/fosite/token/jwt"

	"github.com/authz/authz/jwks/verifier"
)

// TestCompactSigner holds the compact signer (the token path) to the
// go-jose path it replaced: the same header and claim-set bytes (golden:
// the first two segments are identical, the header is exactly alg, kid,
// typ), and a token that go-jose, golang-jwt and the gateway's verifier all
// accept, for every algorithm authz signs with.
func TestCompactSigner(t *testing.T) {
	for _, alg := range []string{ES256, EdDSA, RS256} {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			m := detachedManager(t, alg)
			k := m.snap.Load().current
			claims := typicalClaims()
			claims["iss"] = "https://authz.test"
			payload, err := json.Marshal(map[string]any(claims))
			if err != nil {
				t.Fatal(err)
			}

			tok, sig, err := m.Signer().Generate(ctx, claims, &fjwt.Headers{})
			if err != nil {
				t.Fatal(err)
			}
			ref, err := signWithJose(k, payload, TypeAccessToken, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, want := strings.Split(tok, "."), strings.Split(ref, ".")
			if len(got) != 3 || got[2] != sig {
				t.Fatalf("token %q: want three segments, the third returned as the signature %q", tok, sig)
			}
			if got[0] != want[0] {
				t.Errorf("header segment differs from go-jose's:\n got %s\nwant %s", got[0], want[0])
			}
			if got[1] != want[1] {
				t.Errorf("claims segment differs from go-jose's:\n got %s\nwant %s", got[1], want[1])
			}
			header, _ := base64.RawURLEncoding.DecodeString(got[0])
			if g, w := string(header), `{"alg":"`+alg+`","kid":"`+k.kid+`","typ":"at+jwt"}`; g != w {
				t.Errorf("header = %s, want %s", g, w)
			}
			if alg != ES256 && got[2] != want[2] {
				t.Errorf("%s is deterministic, yet the signatures differ", alg)
			}

			// go-jose v4, the key as published.
			jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatalf("go-jose parse: %v", err)
			}
			out, err := jws.Verify(&k.public)
			if err != nil || string(out) != string(payload) {
				t.Fatalf("go-jose verify: %v (payload %s)", err, out)
			}
			// golang-jwt v5, strict.
			parsed, err := jwt.Parse(tok, func(tk *jwt.Token) (any, error) { return k.public.Key, nil },
				jwt.WithValidMethods([]string{alg}), jwt.WithIssuer("https://authz.test"), jwt.WithStrictDecoding())
			if err != nil || !parsed.Valid {
				t.Fatalf("golang-jwt: %v", err)
			}
			if parsed.Header["typ"] != "at+jwt" || parsed.Header["kid"] != k.kid {
				t.Errorf("golang-jwt header = %v", parsed.Header)
			}
			// The gateway's verifier, over the Manager's own JWKS.
			srv := httptest.NewServer(m)
			defer srv.Close()
			v, err := verifier.New(ctx, verifier.Config{Issuer: "https://authz.test", JWKSURL: srv.URL,
				Algorithms: []string{alg}, StatusLists: verifier.StatusListConfig{Disabled: true}})
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Verify(ctx, tok)
			if err != nil {
				t.Fatalf("gateway verifier: %v", err)
			}
			if c.Subject != claims["sub"] {
				t.Errorf("verifier claims sub = %q", c.Subject)
			}
			// And authz's own verification (introspection, fosite Decode).
			if _, _, err := m.Verify(ctx, tok, TypeAccessToken); err != nil {
				t.Errorf("Manager.Verify: %v", err)
			}
		})
	}
}

// TestCompactSignerExtraHeader: a session header member still goes
// through go-jose, with the reserved members the signer's own.
func TestCompactSignerExtraHeader(t *testing.T) {
	m := detachedManager(t, ES256)
	h := &fjwt.Headers{Extra: map[string]any{"x-note": "n", "kid": "evil"}}
	tok, _, err := m.Signer().Generate(context.Background(), typicalClaims(), h)
	if err != nil {
		t.Fatal(err)
	}
	seg, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[0])
	var hdr map[string]any
	if err := json.Unmarshal(seg, &hdr); err != nil {
		t.Fatal(err)
	}
	if hdr["x-note"] != "n" || hdr["kid"] != m.snap.Load().current.kid || hdr["typ"] != "at+jwt" {
		t.Errorf("header = %v", hdr)
	}
	if _, _, err := m.Verify(context.Background(), tok, TypeAccessToken); err != nil {
		t.Error(err)
	}
}
