package verifier_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"

	"github.com/authz/authz/jwks/verifier"
	"github.com/authz/authz/jwks/verifier/verifiertest"
)

// joseVerify is a second, independent implementation of the verification
// rules on go-jose/v4: the allow-list, typ at+jwt, the alg bound to the
// kid, iss, aud, exp/nbf/iat with the leeway and the RFC 9068 required
// claims. It shares no code with the verifier.
func joseVerify(token string, keys jose.JSONWebKeySet, issuer, aud string, now time.Time) error {
	if len(token) > verifier.DefaultMaxTokenSize {
		return errors.New("too large")
	}
	// Both insist on canonical base64url (golang-jwt's strict decoding).
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errors.New("not compact JWS")
	}
	for _, p := range parts {
		b, err := base64.RawURLEncoding.DecodeString(p)
		if err != nil || base64.RawURLEncoding.EncodeToString(b) != p {
			return errors.New("non-canonical base64url")
		}
	}
	tok, err := josejwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.EdDSA, jose.RS256})
	if err != nil {
		return err
	}
	h := tok.Headers[0]
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return errors.New("typ")
	}
	if _, crit := h.ExtraHeaders["crit"]; crit {
		return errors.New("crit")
	}
	found := keys.Key(h.KeyID)
	if h.KeyID == "" || len(found) != 1 || found[0].Algorithm != h.Algorithm {
		return errors.New("no key for kid and alg")
	}
	var std josejwt.Claims
	var extra struct {
		ClientID *string `json:"client_id"`
	}
	if err := tok.Claims(found[0].Key, &std, &extra); err != nil {
		return err
	}
	if std.Issuer == "" || std.Subject == "" || std.ID == "" || std.Expiry == nil || std.IssuedAt == nil ||
		extra.ClientID == nil || *extra.ClientID == "" {
		return errors.New("missing required claim")
	}
	return std.ValidateWithLeeway(josejwt.Expected{Issuer: issuer, AnyAudience: []string{aud}, Time: now}, verifier.DefaultLeeway)
}

// TestSecondVerifierAgrees checks, on a table of valid and tampered tokens
// and on random corruptions of them, that the go-jose verifier accepts
// exactly the tokens the golang-jwt verifier accepts.
func TestSecondVerifierAgrees(t *testing.T) {
	iss := verifiertest.NewIssuer(t)
	clock := verifiertest.NewClock(start)
	keys := map[string]*verifiertest.Key{}
	for _, alg := range verifier.DefaultAlgorithms() {
		keys[alg] = iss.AddKey(t, alg)
	}
	v, err := verifier.New(t.Context(), verifier.Config{Issuer: iss.URL, Audience: []string{audience}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	jwks := fetchJWKS(t, iss.URL+"/.well-known/jwks.json")
	other := verifiertest.NewIssuer(t).AddKey(t, verifier.ES256)

	type variant struct {
		name   string
		claims func(map[string]any)
		header map[string]any
	}
	at := func(d time.Duration) int64 { return start.Add(d).Unix() }
	variants := []variant{
		{name: "valid"},
		{name: "typ application/at+jwt", header: map[string]any{"typ": "application/at+jwt"}},
		{name: "typ JWT", header: map[string]any{"typ": "JWT"}},
		{name: "no typ", header: map[string]any{"typ": nil}},
		{name: "no kid", header: map[string]any{"kid": nil}},
		{name: "unknown kid", header: map[string]any{"kid": "nope"}},
		{name: "crit", header: map[string]any{"crit": []string{"x"}, "x": 1}},
		{name: "expired", claims: func(c map[string]any) { c["exp"] = at(-time.Hour) }},
		{name: "expired within leeway", claims: func(c map[string]any) { c["exp"] = at(-verifier.DefaultLeeway + time.Second) }},
		{name: "expired beyond leeway", claims: func(c map[string]any) { c["exp"] = at(-verifier.DefaultLeeway - time.Second) }},
		{name: "nbf within leeway", claims: func(c map[string]any) { c["nbf"] = at(verifier.DefaultLeeway - time.Second) }},
		{name: "nbf future", claims: func(c map[string]any) { c["nbf"] = at(time.Hour) }},
		{name: "iat future", claims: func(c map[string]any) { c["iat"] = at(time.Hour) }},
		{name: "wrong iss", claims: func(c map[string]any) { c["iss"] = "https://evil.example" }},
		{name: "wrong aud", claims: func(c map[string]any) { c["aud"] = []string{"https://billing.example"} }},
		{name: "aud string", claims: func(c map[string]any) { c["aud"] = audience }},
		{name: "aud among others", claims: func(c map[string]any) { c["aud"] = []string{"x", audience} }},
		{name: "no aud", claims: func(c map[string]any) { delete(c, "aud") }},
		{name: "no sub", claims: func(c map[string]any) { delete(c, "sub") }},
		{name: "no jti", claims: func(c map[string]any) { delete(c, "jti") }},
		{name: "no client_id", claims: func(c map[string]any) { delete(c, "client_id") }},
		{name: "no exp", claims: func(c map[string]any) { delete(c, "exp") }},
		{name: "no iat", claims: func(c map[string]any) { delete(c, "iat") }},
		{name: "legacy key", claims: func(c map[string]any) {
			c["key_id"], c["act"] = "k_1", map[string]any{"sub": "gw"}
		}},
	}

	var tokens []string
	names := map[string]string{}
	for _, alg := range verifier.DefaultAlgorithms() {
		for _, vr := range variants {
			claims := iss.Claims(start, audience)
			if vr.claims != nil {
				vr.claims(claims)
			}
			tok := keys[alg].Sign(t, claims, vr.header)
			tokens = append(tokens, tok)
			names[tok] = alg + "/" + vr.name
		}
		// Forgeries: alg swapped on a kid, another issuer's key under our kid.
		swapped := *keys[alg]
		for _, a := range verifier.DefaultAlgorithms() {
			if a != alg {
				swapped.Kid = keys[a].Kid
			}
		}
		tok := swapped.Sign(t, iss.Claims(start, audience), nil)
		tokens, names[tok] = append(tokens, tok), alg+"/alg not bound to kid"
	}
	impostor := *other
	impostor.Kid = keys[verifier.ES256].Kid
	tok := impostor.Sign(t, iss.Claims(start, audience), nil)
	tokens, names[tok] = append(tokens, tok), "impostor key"

	agree := func(name, token string) bool {
		_, errA := v.Verify(context.Background(), token)
		errB := joseVerify(token, jwks, iss.URL, audience, start)
		if (errA == nil) != (errB == nil) {
			t.Errorf("%s: golang-jwt verifier: %v; go-jose verifier: %v", name, errA, errB)
		}
		return errA == nil
	}

	accepted := 0
	for _, tok := range tokens {
		if agree(names[tok], tok) {
			accepted++
		}
	}
	// 7 accepted variants per algorithm; the test is only meaningful if
	// both sides accept some tokens and refuse others.
	if want := 7 * len(verifier.DefaultAlgorithms()); accepted != want {
		t.Fatalf("accepted %d tokens, want %d", accepted, want)
	}

	// Random corruption: flip, insert or delete a byte, swap segments.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		base := tokens[rng.IntN(len(tokens))]
		b := []byte(base)
		switch rng.IntN(3) {
		case 0:
			b[rng.IntN(len(b))] ^= byte(1 << rng.IntN(8))
		case 1:
			p := rng.IntN(len(b))
			b = append(b[:p], append([]byte{"AZaz09-_."[rng.IntN(9)]}, b[p:]...)...)
		case 2:
			p := rng.IntN(len(b))
			b = append(b[:p], b[p+1:]...)
		}
		if agree(fmt.Sprintf("mutation %d of %s", i, names[base]), string(b)) && string(b) != base {
			t.Errorf("mutation %d of %s accepted", i, names[base])
		}
	}
}

func fetchJWKS(t *testing.T, url string) jose.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		t.Fatal(err)
	}
	return set
}
