package verifier_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/jwks/verifier"
	"github.com/authz/authz/jwks/verifier/verifiertest"
)

// TestStatusListWithdrawsKeys (issue 22 §3): a status list that no longer
// names a kid (jwks_kids) withdraws it at once, even while this
// verifier's JWKS — or a stale copy the issuer's cache still serves —
// publishes it; tokens verified earlier with it (the token cache) go too.
// A list signed by a key the previous list did not name yet is read (the
// JWKS as fetched verifies lists), and a list without jwks_kids changes
// nothing.
func TestStatusListWithdrawsKeys(t *testing.T) {
	const ttl = 10 * time.Second
	f, _ := statusSetup(t, verifiertest.StatusList{TTL: ttl}, nil)
	compromised := f.key
	spare := f.iss.AddKey(t, verifier.ES256)
	f.iss.UpdateStatusList(func(l *verifiertest.StatusList) {
		l.Signer = spare
		l.JWKSKids = []string{compromised.Kid, spare.Kid}
	})
	// Past the JWKS refetch interval, so the spare key can be learnt.
	f.clock.Advance(verifier.DefaultMinRefreshInterval + time.Second)
	tok := f.statusToken(t, 0)
	f.accepted(t, tok)
	f.accepted(t, tok) // now in the verified-token cache

	// The issuer withdraws the key; its JWKS (as the verifier will
	// refetch it) still serves the key, as a stale cache in front would.
	f.iss.UpdateStatusList(func(l *verifiertest.StatusList) { l.JWKSKids = []string{spare.Kid} })
	f.clock.Advance(ttl + time.Second)
	_, err := f.v.Verify(context.Background(), tok)
	var e *verifier.Error
	if !errors.As(err, &e) || e.Reason != verifier.ReasonUnknownKey || !strings.Contains(e.Detail, "withdrawn") {
		t.Fatalf("token of the withdrawn key: %v, want %s naming the withdrawal", err, verifier.ReasonUnknownKey)
	}
	f.refused(t, tok, verifier.ReasonUnknownKey) // and again, from the cache path
	other := spare.Sign(t, f.claimsWithStatus(0), nil)
	f.accepted(t, other)

	// A new key, absent from the last list, signs the next list: the
	// list is still read, and names the new key for tokens.
	fresh := f.iss.AddKey(t, verifier.ES256)
	f.iss.UpdateStatusList(func(l *verifiertest.StatusList) {
		l.Signer = fresh
		l.JWKSKids = []string{spare.Kid, fresh.Kid}
	})
	f.clock.Advance(verifier.DefaultMinRefreshInterval + time.Second)
	f.accepted(t, fresh.Sign(t, f.claimsWithStatus(0), nil))
	f.refused(t, tok, verifier.ReasonUnknownKey)

	// An issuer that stops naming kids leaves the last word standing.
	f.iss.UpdateStatusList(func(l *verifiertest.StatusList) { l.JWKSKids = nil })
	f.clock.Advance(ttl + time.Second)
	f.accepted(t, other)
	f.refused(t, tok, verifier.ReasonUnknownKey)
}

// claimsWithStatus are valid claims referring to entry idx of the list.
func (f *fixture) claimsWithStatus(idx int64) map[string]any {
	c := f.claims()
	c["exp"] = f.clock.Now().Add(2 * time.Hour).Unix()
	c["status"] = f.iss.StatusClaim(idx)
	return c
}
