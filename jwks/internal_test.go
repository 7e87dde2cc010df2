package jwks

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/store"
)

// detachedManager is a Manager whose key set (one current, one next key of
// alg) is built in memory, for fuzzing and benchmarking the signing path
// without a store. The lifecycle is tested on real stores elsewhere.
func detachedManager(tb testing.TB, alg string) *Manager {
	tb.Helper()
	cfg, err := Config{Alg: alg}.withDefaults()
	if err != nil {
		tb.Fatal(err)
	}
	m := &Manager{sealer: masterkey.Generate().Sealer(masterkey.PurposeSigningKeys), cfg: cfg, log: cfg.Logger}
	now := time.Now().UTC().Truncate(time.Microsecond)
	var rows []store.SigningKey
	for _, state := range []store.SigningKeyState{store.SigningCurrent, store.SigningNext} {
		row, err := generateKey(alg, m.sealer, now)
		if err != nil {
			tb.Fatal(err)
		}
		row.State = state
		if state == store.SigningCurrent {
			row.ActivatedAt = &now
		}
		rows = append(rows, row)
	}
	s, err := m.build(1, rows, nil)
	if err != nil {
		tb.Fatal(err)
	}
	m.snap.Store(s)
	return m
}

func TestTypMatches(t *testing.T) {
	tests := []struct {
		name string
		got  any
		want string
		ok   bool
	}{
		{"ok/exact", "at+jwt", "at+jwt", true},
		{"ok/media type", "application/at+jwt", "at+jwt", true},
		{"ok/case", "Application/AT+JWT", "at+jwt", true},
		{"ok/wanted with prefix", "at+jwt", "application/at+jwt", true},
		{"fail/JWT", "JWT", "at+jwt", false},
		{"fail/absent", nil, "at+jwt", false},
		{"fail/not a string", 1.0, "at+jwt", false},
		{"fail/prefix only", "application/", "at+jwt", false},
		{"fail/other suffix", "application/at+jwt2", "at+jwt", false},
		{"fail/other prefix", "text/at+jwt", "at+jwt", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := typMatches(tt.got, tt.want); got != tt.ok {
				t.Fatalf("typMatches(%v, %q) = %v", tt.got, tt.want, got)
			}
		})
	}
}

// TestOpenKeyRefusesTampering: a stored row whose sealed key was moved to
// another kid, or whose algorithm was changed, does not load.
func TestOpenKeyRefusesTampering(t *testing.T) {
	sealer := masterkey.Generate().Sealer(masterkey.PurposeSigningKeys)
	now := time.Now()
	a, err := generateKey(ES256, sealer, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := generateKey(ES256, sealer, now)
	if err != nil {
		t.Fatal(err)
	}
	moved := b
	moved.Private = a.Private
	relabelled := a
	relabelled.Alg = RS256
	tests := []struct {
		name      string
		row       store.SigningKey
		wrongKey  bool
		substring string
	}{
		{"fail/sealed key moved to another kid", moved, true, "master key"},
		{"fail/algorithm changed", relabelled, false, "does not match algorithm"},
		{"fail/truncated", store.SigningKey{KID: a.KID, Alg: ES256, Private: a.Private[:10]}, true, "master key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := openKey(tt.row, sealer)
			if err == nil || errors.Is(err, masterkey.ErrWrongKey) != tt.wrongKey || !strings.Contains(err.Error(), tt.substring) {
				t.Fatalf("openKey = %v", err)
			}
		})
	}
	if _, err := openKey(a, sealer); err != nil {
		t.Fatalf("untouched row: %v", err)
	}
}

// FuzzVerify: no input makes Verify or the fosite bridge panic, every
// refusal is token_invalid, and whatever verifies carries exactly the
// claims that were signed.
func FuzzVerify(f *testing.F) {
	m := detachedManager(f, ES256)
	ctx := context.Background()
	good, err := m.Sign(ctx, map[string]any{"sub": "alice", "exp": 2000000000}, TypeAccessToken)
	if err != nil {
		f.Fatal(err)
	}
	parts := strings.Split(good, ".")
	f.Add(good)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.eyJzdWIiOiJhZG1pbiJ9.")
	f.Add(`{"payload":"e30","protected":"` + parts[0] + `","signature":"` + parts[2] + `"}`)
	f.Add("..")
	f.Add("")
	f.Add("a.b.c.d")
	f.Fuzz(func(t *testing.T, token string) {
		claims, kid, err := m.Verify(ctx, token, TypeAccessToken)
		if err != nil {
			if errcode.Of(err) != errcode.TokenInvalid {
				t.Fatalf("refusal is %v, want token_invalid", err)
			}
		} else if token != good || kid != m.snap.Load().current.kid || !strings.Contains(string(claims), `"sub":"alice"`) {
			t.Fatalf("accepted %q (kid %s, claims %s)", token, kid, claims)
		}
		_, _ = m.Signer().Decode(ctx, token)
		_, _ = m.Signer().GetSignature(ctx, token)
	})
}
