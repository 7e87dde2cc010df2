package jwks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/jwks"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/reqmeta"
	"github.com/authz/authz/store"
	"github.com/authz/authz/store/sqlite"
)

// TestTimeline walks one key set through its whole life on every backend:
// created with a next key published ahead, rotated when due, the retired
// key kept published for the token lifetime plus cache and skew, then
// removed.
func TestTimeline(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		c := newClock(t0)
		m := newManager(t, st, masterkey.Generate(), testConfig(c, jwks.ES256))
		if !m.Ready() {
			t.Fatal("not ready after Init")
		}

		k1, k2 := one(t, m, store.SigningCurrent), one(t, m, store.SigningNext)
		infos, _ := m.List(ctx)
		for _, k := range infos {
			if !k.CreatedAt.Equal(t0) || !k.PublishedAt.Equal(t0) || k.Alg != jwks.ES256 {
				t.Errorf("%s: created %s published %s alg %s, want %s ES256", k.KID, k.CreatedAt, k.PublishedAt, k.Alg, t0)
			}
		}
		if published, _ := fetchJWKS(t, m); len(published) != 2 || published[k1].Kid == "" || published[k2].Kid == "" {
			t.Fatalf("first start publishes %v, want current %s and next %s", published, k1, k2)
		}
		old, err := m.Sign(ctx, map[string]any{"sub": "before-rotation"}, jwks.TypeAccessToken)
		if err != nil {
			t.Fatal(err)
		}
		if kid := header(t, old)["kid"]; kid != k1 {
			t.Fatalf("signed with %v, want the current key %s", kid, k1)
		}

		steps := []struct {
			name    string
			advance time.Duration // from the previous step
			current string        // "" = a key created during this walk
			retired []string
			oldOK   bool
		}{
			{"ok/nothing due after an hour", time.Hour, k1, nil, true},
			{"ok/nothing due a second before the period", 23*time.Hour - time.Second, k1, nil, true},
			{"ok/rotates when due", time.Second, k2, []string{k1}, true},
			{"ok/retired key still published just before its window ends", retention - time.Second, k2, []string{k1}, true},
			{"ok/retired key removed when its window ends", time.Second, k2, nil, false},
		}
		for _, s := range steps {
			c.Advance(s.advance)
			if err := m.Maintain(ctx); err != nil {
				t.Fatalf("%s: Maintain: %v", s.name, err)
			}
			by := keysByState(t, m)
			if got := one(t, m, store.SigningCurrent); got != s.current {
				t.Fatalf("%s: current %s, want %s", s.name, got, s.current)
			}
			if !slices.Equal(by[store.SigningRetired], s.retired) {
				t.Fatalf("%s: retired %v, want %v", s.name, by[store.SigningRetired], s.retired)
			}
			one(t, m, store.SigningNext)
			published, _ := fetchJWKS(t, m)
			if _, ok := published[k1]; ok != s.oldOK {
				t.Fatalf("%s: old key published = %v, want %v", s.name, ok, s.oldOK)
			}
			_, _, err := m.Verify(ctx, old, jwks.TypeAccessToken)
			if (err == nil) != s.oldOK {
				t.Fatalf("%s: token signed by the old key: err = %v, want ok = %v", s.name, err, s.oldOK)
			}
		}

		infos, _ = m.List(ctx)
		for _, k := range infos {
			if k.KID == k2 && (k.ActivatedAt == nil || !k.ActivatedAt.Equal(t0.Add(24*time.Hour))) {
				t.Errorf("k2 activated at %v, want %s", k.ActivatedAt, t0.Add(24*time.Hour))
			}
			if k.State == store.SigningNext && !k.PublishedAt.Equal(t0.Add(24*time.Hour)) {
				t.Errorf("new next key published at %s, want the rotation time", k.PublishedAt)
			}
		}
		tok, _ := m.Sign(ctx, map[string]any{"sub": "after"}, jwks.TypeAccessToken)
		if kid := header(t, tok)["kid"]; kid != k2 {
			t.Fatalf("after rotation signed with %v, want %s", kid, k2)
		}

		want := []string{
			jwks.ActionCreate + " signing_key:" + k1 + " system",
			jwks.ActionCreate + " signing_key:" + k2 + " system",
			jwks.ActionRotate + " signing_key:" + k2 + " system",
			jwks.ActionRemove + " signing_key:" + k1 + " system",
		}
		got := auditActions(t, st)
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Errorf("audit log lacks %q: %v", w, got)
			}
		}
		if n := countPrefix(got, jwks.ActionCreate); n != 3 {
			t.Errorf("%d create events, want 3 (current, next, next after rotation): %v", n, got)
		}
	})
}

func countPrefix(lines []string, prefix string) int {
	n := 0
	for _, l := range lines {
		if strings.HasPrefix(l, prefix+" ") {
			n++
		}
	}
	return n
}

// TestRotationWaitsForPublication: an automatic rotation that is due never
// promotes a next key published less than max-age+skew ago.
func TestRotationWaitsForPublication(t *testing.T) {
	ctx := context.Background()
	c := newClock(t0)
	cfg := testConfig(c, jwks.ES256)
	cfg.RotationPeriod = time.Minute // shorter than the publication window
	m := newManager(t, sqliteStore(t), masterkey.Generate(), cfg)
	k1 := one(t, m, store.SigningCurrent)

	c.Advance(publishAhead - time.Second)
	if err := m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := one(t, m, store.SigningCurrent); got != k1 {
		t.Fatalf("rotated to %s before the next key was published %s", got, publishAhead)
	}
	c.Advance(time.Second)
	if err := m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := one(t, m, store.SigningCurrent); got == k1 {
		t.Fatal("did not rotate once due and published long enough")
	}
}

func TestRotateRefusedWhileNextIsFresh(t *testing.T) {
	tests := []struct {
		name    string
		advance time.Duration
		ok      bool
	}{
		{"fail/just published", 0, false},
		{"fail/published for the max-age only", 5 * time.Minute, false},
		{"fail/one second short", publishAhead - time.Second, false},
		{"ok/published max-age plus skew ago", publishAhead, true},
		{"ok/long published", 48 * time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := reqmeta.With(context.Background(), reqmeta.Meta{Actor: "admin:cli_ops", RequestID: "req-1"})
			c := newClock(t0)
			st := sqliteStore(t)
			cfg := testConfig(c, jwks.ES256)
			cfg.RotationPeriod = -1
			m := newManager(t, st, masterkey.Generate(), cfg)
			k1, k2 := one(t, m, store.SigningCurrent), one(t, m, store.SigningNext)
			c.Advance(tt.advance)

			info, err := m.Rotate(ctx)
			if !tt.ok {
				if errcode.Of(err) != errcode.RequestInvalid {
					t.Fatalf("Rotate = %v, want request_invalid", err)
				}
				if e, _ := errcode.As(err); !strings.Contains(e.Text(), k2) || !strings.Contains(e.Text(), "max-age") {
					t.Errorf("refusal does not say which key and why: %q", e.Text())
				}
				if got := one(t, m, store.SigningCurrent); got != k1 {
					t.Fatalf("refused rotation changed the current key to %s", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if info.KID != k2 || info.State != store.SigningCurrent || info.ActivatedAt == nil || !info.ActivatedAt.Equal(c.Now()) {
				t.Fatalf("Rotate returned %+v, want %s current since now", info, k2)
			}
			by := keysByState(t, m)
			if !slices.Equal(by[store.SigningRetired], []string{k1}) || len(by[store.SigningNext]) != 1 || by[store.SigningNext][0] == k2 {
				t.Fatalf("after rotation: %v", by)
			}
			if !slices.Contains(auditActions(t, st), jwks.ActionRotate+" signing_key:"+k2+" admin:cli_ops") {
				t.Fatalf("rotation not audited with the request's actor: %v", auditActions(t, st))
			}
			// The new next key is fresh: a second rotation right away is refused.
			if _, err := m.Rotate(ctx); errcode.Of(err) != errcode.RequestInvalid {
				t.Fatalf("second Rotate = %v, want request_invalid", err)
			}
		})
	}
}

func TestRetiredKeyRemoveAfter(t *testing.T) {
	ctx := context.Background()
	c := newClock(t0)
	m := newManager(t, sqliteStore(t), masterkey.Generate(), testConfig(c, jwks.ES256))
	k1 := one(t, m, store.SigningCurrent)
	c.Advance(publishAhead)
	if _, err := m.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	infos, _ := m.List(ctx)
	for _, k := range infos {
		if k.KID != k1 {
			continue
		}
		// 10 min tokens + 5 min max-age + 1 min skew.
		if k.RetiredAt == nil || !k.RetiredAt.Equal(c.Now()) || k.RemoveAfter == nil || !k.RemoveAfter.Equal(c.Now().Add(retention)) {
			t.Fatalf("retired %v remove after %v, want %s and +%s", k.RetiredAt, k.RemoveAfter, c.Now(), retention)
		}
		return
	}
	t.Fatal("retired key gone")
}

// TestConcurrentReplicas: replicas that start and rotate at the same
// moment on one store end with exactly one current and one next key.
func TestConcurrentReplicas(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		c := newClock(t0)
		mk := masterkey.Generate()
		const replicas = 4
		ms := make([]*jwks.Manager, replicas)
		for i := range ms {
			m, err := jwks.NewManager(st, mk, testConfig(c, jwks.ES256))
			if err != nil {
				t.Fatal(err)
			}
			ms[i] = m
		}
		run := func(fn func(m *jwks.Manager) error) {
			t.Helper()
			var wg sync.WaitGroup
			errs := make([]error, len(ms))
			for i, m := range ms {
				wg.Go(func() { errs[i] = fn(m) })
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil && errcode.Of(err) != errcode.RequestInvalid {
					t.Fatal(err)
				}
			}
		}
		run(func(m *jwks.Manager) error { return m.Init(ctx) })
		infos, _ := ms[0].List(ctx)
		if len(infos) != 2 {
			t.Fatalf("replicas starting together created %d keys, want 2", len(infos))
		}
		first := one(t, ms[0], store.SigningCurrent)
		for _, m := range ms {
			if err := m.Reload(ctx); err != nil {
				t.Fatal(err)
			}
			if !m.Ready() {
				t.Fatal("a replica is not ready")
			}
		}

		c.Advance(24 * time.Hour)
		run(func(m *jwks.Manager) error {
			if err := m.Maintain(ctx); err != nil {
				return err
			}
			_, err := m.Rotate(ctx) // refused: the scheduled rotation just made a fresh next
			return err
		})
		by := keysByState(t, ms[0])
		if len(by[store.SigningCurrent]) != 1 || len(by[store.SigningNext]) != 1 || !slices.Equal(by[store.SigningRetired], []string{first}) {
			t.Fatalf("after concurrent rotation: %v, want one current, one next, %s retired", by, first)
		}
		if n := countPrefix(auditActions(t, st), jwks.ActionRotate); n != 1 {
			t.Fatalf("%d rotations recorded, want 1", n)
		}
		// Every replica signs with the one current key once it has reloaded.
		cur := one(t, ms[0], store.SigningCurrent)
		for _, m := range ms {
			if err := m.Reload(ctx); err != nil {
				t.Fatal(err)
			}
			tok, err := m.Sign(ctx, map[string]any{}, jwks.TypeAccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if kid := header(t, tok)["kid"]; kid != cur {
				t.Fatalf("replica signs with %v, want %s", kid, cur)
			}
		}
	})
}

func TestWithdraw(t *testing.T) {
	tests := []struct {
		name  string
		which store.SigningKeyState
	}{
		{"ok/current", store.SigningCurrent},
		{"ok/next", store.SigningNext},
		{"ok/retired", store.SigningRetired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := reqmeta.With(context.Background(), reqmeta.Meta{Actor: "admin:cli_sec"})
			c := newClock(t0)
			st := sqliteStore(t)
			m := newManager(t, st, masterkey.Generate(), testConfig(c, jwks.ES256))
			tokens := map[string]string{} // kid → a token it signed
			sign := func() {
				tok, err := m.Sign(ctx, map[string]any{"sub": "s"}, jwks.TypeAccessToken)
				if err != nil {
					t.Fatal(err)
				}
				tokens[header(t, tok)["kid"].(string)] = tok
			}
			sign()
			c.Advance(publishAhead)
			if _, err := m.Rotate(ctx); err != nil {
				t.Fatal(err)
			}
			sign()
			before := keysByState(t, m)
			victim := before[tt.which][0]
			tok := tokens[victim] // none for the next key: it never signed
			if tok != "" {
				if _, _, err := m.Verify(ctx, tok, jwks.TypeAccessToken); err != nil {
					t.Fatalf("before withdrawal: %v", err)
				}
			}

			if err := m.Withdraw(ctx, victim); err != nil {
				t.Fatal(err)
			}

			if published, _ := fetchJWKS(t, m); published[victim].Kid != "" {
				t.Fatal("withdrawn key still in the JWKS")
			}
			if tok != "" {
				if _, _, err := m.Verify(ctx, tok, jwks.TypeAccessToken); errcode.Of(err) != errcode.TokenInvalid {
					t.Fatalf("token of a withdrawn key: %v, want token_invalid", err)
				}
				if _, err := m.Signer().Decode(ctx, tok); err == nil {
					t.Fatal("fosite Decode accepts a token of a withdrawn key")
				}
			}
			for kid, other := range tokens {
				if _, _, err := m.Verify(ctx, other, jwks.TypeAccessToken); kid != victim && err != nil {
					t.Fatalf("token of %s, not withdrawn, stopped verifying: %v", kid, err)
				}
			}
			after := keysByState(t, m)
			cur := one(t, m, store.SigningCurrent)
			next := one(t, m, store.SigningNext)
			switch tt.which {
			case store.SigningCurrent:
				if cur != before[store.SigningNext][0] {
					t.Fatalf("withdrawing the current key promoted %s, want the next key %s", cur, before[store.SigningNext][0])
				}
				if next == before[store.SigningNext][0] {
					t.Fatal("no new next key")
				}
			case store.SigningNext:
				if cur != before[store.SigningCurrent][0] || next == victim {
					t.Fatalf("withdrawing next: current %s next %s", cur, next)
				}
			case store.SigningRetired:
				if cur != before[store.SigningCurrent][0] || next != before[store.SigningNext][0] || len(after[store.SigningRetired]) != 0 {
					t.Fatalf("withdrawing a retired key changed others: %v", after)
				}
			}
			fresh, err := m.Sign(ctx, map[string]any{}, jwks.TypeAccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if _, kid, err := m.Verify(ctx, fresh, jwks.TypeAccessToken); err != nil || kid != cur {
				t.Fatalf("new token: kid %s err %v", kid, err)
			}
			if !slices.Contains(auditActions(t, st), jwks.ActionWithdraw+" signing_key:"+victim+" admin:cli_sec") {
				t.Fatalf("withdrawal not audited: %v", auditActions(t, st))
			}
		})
	}
	t.Run("fail/unknown kid", func(t *testing.T) {
		m := newManager(t, sqliteStore(t), masterkey.Generate(), testConfig(newClock(t0), jwks.ES256))
		if err := m.Withdraw(context.Background(), "no-such-kid"); errcode.Of(err) != errcode.NotFound {
			t.Fatalf("Withdraw(unknown) = %v, want not_found", err)
		}
	})
}

func TestWrongMasterKey(t *testing.T) {
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := context.Background()
		c := newClock(t0)
		newManager(t, st, masterkey.Generate(), testConfig(c, jwks.ES256))
		before, _ := st.ListSigningKeys(ctx)

		m, err := jwks.NewManager(st, masterkey.Generate(), testConfig(c, jwks.ES256))
		if err != nil {
			t.Fatal(err)
		}
		err = m.Init(ctx)
		if !errors.Is(err, masterkey.ErrWrongKey) {
			t.Fatalf("Init with another master key = %v, want masterkey.ErrWrongKey", err)
		}
		if msg := err.Error(); !strings.Contains(msg, "differs from the one that created the signing keys") || !strings.Contains(msg, "AUTHZ_MASTER_KEY") {
			t.Errorf("error does not tell the operator what is wrong and how to fix it: %s", msg)
		}
		if m.Ready() {
			t.Error("ready without a usable key")
		}
		after, _ := st.ListSigningKeys(ctx)
		if len(after) != len(before) {
			t.Fatalf("the failed start wrote keys: %d → %d", len(before), len(after))
		}
	})
}

// TestAlgorithmChange: a new Alg replaces the unused next key at once and
// signs from the next rotation; tokens of the old algorithm keep verifying.
func TestAlgorithmChange(t *testing.T) {
	ctx := context.Background()
	c := newClock(t0)
	st := sqliteStore(t)
	mk := masterkey.Generate()
	m := newManager(t, st, mk, testConfig(c, jwks.ES256))
	old, _ := m.Sign(ctx, map[string]any{}, jwks.TypeAccessToken)
	oldNext := one(t, m, store.SigningNext)

	m2 := newManager(t, st, mk, testConfig(c, jwks.EdDSA))
	infos, _ := m2.List(ctx)
	for _, k := range infos {
		if k.KID == oldNext {
			t.Fatal("the ES256 next key was kept")
		}
		if k.State == store.SigningNext && k.Alg != jwks.EdDSA {
			t.Fatalf("next key is %s, want EdDSA", k.Alg)
		}
	}
	if got := m2.Algs(); !slices.Equal(got, []string{jwks.EdDSA, jwks.ES256}) {
		t.Fatalf("Algs = %v", got)
	}
	// A replica still configured for ES256 (a rolling deployment) leaves
	// the new next key alone rather than fighting over it.
	edNext := one(t, m2, store.SigningNext)
	c.Advance(time.Minute)
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := m.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if got := one(t, m, store.SigningNext); got != edNext {
		t.Fatalf("the ES256 replica replaced the EdDSA next key %s with %s", edNext, got)
	}
	c.Advance(publishAhead - time.Minute)
	if _, err := m2.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	tok, _ := m2.Sign(ctx, map[string]any{}, jwks.TypeAccessToken)
	if alg := header(t, tok)["alg"]; alg != jwks.EdDSA {
		t.Fatalf("signs with %v after the rotation, want EdDSA", alg)
	}
	if _, _, err := m2.Verify(ctx, old, jwks.TypeAccessToken); err != nil {
		t.Fatalf("ES256 token from before the change: %v", err)
	}
}

func TestNewManagerRefusesBadConfig(t *testing.T) {
	st := sqliteStore(t)
	tests := []struct {
		name string
		cfg  jwks.Config
		want string
	}{
		{"fail/unknown alg", jwks.Config{Alg: "HS256"}, "HS256"},
		{"fail/none", jwks.Config{Alg: "none"}, "none"},
		{"fail/reload slower than skew", jwks.Config{ClockSkew: time.Second, ReloadInterval: 2 * time.Second}, "reload interval"},
		{"fail/fractional max-age", jwks.Config{CacheMaxAge: 1500 * time.Millisecond}, "whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := jwks.NewManager(st, masterkey.Generate(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewManager = %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

// TestRunFollowsOtherReplicas: a replica running Run picks up a rotation
// made by another replica and rotates by itself when due.
func TestRunFollowsOtherReplicas(t *testing.T) {
	eachStore(t, testRunFollowsOtherReplicas)
}

func testRunFollowsOtherReplicas(t *testing.T, st store.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newClock(t0)
	mk := masterkey.Generate()
	a := newManager(t, st, mk, testConfig(c, jwks.ES256))
	b := newManager(t, st, mk, testConfig(c, jwks.ES256))
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()

	c.Advance(publishAhead)
	info, err := a.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica b to sign with the key a rotated to", func() bool {
		tok, err := b.Sign(ctx, map[string]any{}, jwks.TypeAccessToken)
		return err == nil && header(t, tok)["kid"] == info.KID
	})

	c.Advance(24 * time.Hour)
	waitFor(t, "replica b to rotate on schedule", func() bool {
		cur := keysByState(t, a)[store.SigningCurrent]
		return len(cur) == 1 && cur[0] != info.KID
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v after cancellation", err)
	}
}

// waitFor polls cond; the deadline only bounds a broken test, it is not a
// performance threshold.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestPrivateKeysSealedAtRest: no private key member ever reaches the
// database file (or its WAL) in the clear, for any algorithm.
func TestPrivateKeysSealedAtRest(t *testing.T) {
	for _, alg := range algs {
		t.Run(alg, func(t *testing.T) {
			ctx := context.Background()
			dir := t.TempDir()
			st, err := sqlite.Open(ctx, filepath.Join(dir, "authz.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			m := newManager(t, st, masterkey.Generate(), testConfig(newClock(t0), alg))
			rows, _ := st.ListSigningKeys(ctx)
			for _, r := range rows {
				if bytes.Contains(r.Private, []byte(`"d"`)) || json.Valid(r.Private) || bytes.Contains(r.Public, []byte(`"d"`)) {
					t.Fatalf("key %s is stored in the clear", r.KID)
				}
			}
			if !m.Ready() {
				t.Fatal("not ready")
			}
			files, _ := filepath.Glob(filepath.Join(dir, "authz.db*"))
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Contains(b, []byte(`"d":"`)) {
					t.Fatalf("%s holds a private JWK member in the clear", filepath.Base(f))
				}
			}
		})
	}
}
