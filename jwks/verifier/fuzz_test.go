package verifier_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/authz/authz/jwks/verifier"
	"github.com/authz/authz/jwks/verifier/verifiertest"
)

// FuzzVerify feeds arbitrary strings to Verify: it must never panic, must
// refuse with a typed error, and must accept nothing but the tokens the
// issuer actually signed.
func FuzzVerify(f *testing.F) {
	iss := verifiertest.NewIssuer(f)
	clock := verifiertest.NewClock(start)
	iss.SetStatusList(verifiertest.StatusList{Now: clock.Now})
	signed := map[string]bool{}
	for _, alg := range verifier.DefaultAlgorithms() {
		k := iss.AddKey(f, alg)
		tok := k.Sign(f, iss.Claims(start, audience), nil)
		signed[tok] = true
		f.Add(tok)
		referenced := iss.Claims(start, audience)
		referenced["status"] = iss.StatusClaim(1)
		tok = k.Sign(f, referenced, nil)
		signed[tok] = true
		f.Add(tok)
		parts := strings.Split(tok, ".")
		f.Add(parts[0] + "." + parts[1] + ".")
		f.Add(parts[0] + ".." + parts[2])
		f.Add(k.Sign(f, iss.Claims(start, audience), map[string]any{"alg": "none"}))
	}
	for _, s := range []string{"", ".", "..", "...", "a.b.c", "eyJ.eyJ.eyJ", "eyJhbGciOiJub25lIn0.e30.", strings.Repeat("A", 9000)} {
		f.Add(s)
	}
	v, err := verifier.New(context.Background(), verifier.Config{Issuer: iss.URL, Audience: []string{audience}, Now: clock.Now})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(v.Close)

	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(context.Background(), token)
		if err == nil {
			if !signed[token] {
				t.Fatalf("accepted a token the issuer never signed: %q", token)
			}
			if c == nil || c.Subject == "" {
				t.Fatal("accepted without claims")
			}
			return
		}
		var e *verifier.Error
		if !errors.As(err, &e) || e.Reason == "" {
			t.Fatalf("untyped refusal %v", err)
		}
	})
}
