package verifier

import (
	"encoding/json"
	"testing"

	"github.com/authz/authz/jwks/verifier/verifiertest"
)

// FuzzParseJWKS: whatever the JWKS endpoint returns, parsing must not
// panic, and every key it yields is a usable public key of an allowed alg.
func FuzzParseJWKS(f *testing.F) {
	for _, alg := range DefaultAlgorithms() {
		doc, _ := json.Marshal(map[string]any{"keys": []any{verifiertest.NewKey(f, alg).JWK()}})
		f.Add(doc)
	}
	f.Add([]byte(`{"keys":[]}`))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"a","x":"","y":""}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB","d":"AA"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, doc []byte) {
		keys, err := parseJWKS(doc, []string{ES256, RS256})
		if err != nil {
			return
		}
		for kid, k := range keys {
			if kid == "" || k.kid != kid || k.key == nil || (k.alg != ES256 && k.alg != RS256) {
				t.Fatalf("bad key %q: %+v", kid, k)
			}
		}
	})
}

func TestMaxAge(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   int
		ok     bool
	}{
		{"ok/simple", []string{"public, max-age=300"}, 300, true},
		{"ok/case and spaces", []string{" Public ,  MAX-AGE=60 "}, 60, true},
		{"ok/quoted", []string{`max-age="30"`}, 30, true},
		{"ok/second header", []string{"public", "max-age=7"}, 7, true},
		{"ok/no-store wins", []string{"max-age=300, no-store"}, 0, true},
		{"fail/none", []string{"public"}, 0, false},
		{"fail/negative", []string{"max-age=-1"}, 0, false},
		{"fail/garbage", []string{"max-age=soon"}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := maxAge(tt.values)
			if ok != tt.ok || int(got.Seconds()) != tt.want {
				t.Fatalf("maxAge(%q) = %v, %v; want %ds, %v", tt.values, got, ok, tt.want, tt.ok)
			}
		})
	}
}
