package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

// testAllocateStatusIndexes: a group of credentials is allocated like the
// same credentials one by one, in the order given: current indices kept,
// duplicates given one index, the smallest free indices first, then new
// ones; a malformed credential fails the group and allocates nothing.
func testAllocateStatusIndexes(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	alloc := func(creds ...string) []int64 {
		t.Helper()
		got, err := s.AllocateStatusIndexes(ctx, creds, t0)
		must(t, err)
		if len(got) != len(creds) {
			t.Fatalf("AllocateStatusIndexes(%v) = %v: %d indices for %d credentials", creds, got, len(got), len(creds))
		}
		return got
	}
	if got := alloc(); len(got) != 0 {
		t.Fatalf("AllocateStatusIndexes of nothing = %v", got)
	}
	if idx, err := s.AllocateStatusIndex(ctx, "client:cli_1", t0); err != nil || idx != 0 {
		t.Fatalf("AllocateStatusIndex(cli_1) = %d, %v; want 0", idx, err)
	}
	for _, c := range []struct {
		name  string
		creds []string
		want  []int64
	}{
		{"new, current and repeated", []string{"key:key_1", "client:cli_1", "key:key_2", "key:key_1"}, []int64{1, 0, 2, 1}},
		{"all current", []string{"key:key_2", "client:cli_1"}, []int64{2, 0}},
		{"one new", []string{"key:key_3"}, []int64{3}},
	} {
		if got := alloc(c.creds...); !slices.Equal(got, c.want) {
			t.Fatalf("%s: AllocateStatusIndexes(%v) = %v, want %v", c.name, c.creds, got, c.want)
		}
	}
	for _, bad := range []string{"nope", "key:", ":key_9"} {
		if got, err := s.AllocateStatusIndexes(ctx, []string{"key:key_8", bad, "key:key_9"}, t0); err == nil {
			t.Fatalf("AllocateStatusIndexes with %q = %v, want an error", bad, got)
		}
		for _, c := range []string{"key:key_8", "key:key_9"} {
			_, err := s.GetStatusIndex(ctx, c)
			wantErr(t, err, store.ErrNotFound, "GetStatusIndex("+c+") after a failed group with "+bad)
		}
	}

	// Free 0 and 1: the group takes them first, in its order, then 4.
	must(t, s.InvalidateStatusIndex(ctx, "client:cli_1", at(time.Hour)))
	must(t, s.InvalidateStatusIndex(ctx, "key:key_1", at(time.Hour)))
	n, err := s.PurgeStatusEntries(ctx, at(2*time.Hour))
	must(t, err)
	if n != 2 {
		t.Fatalf("PurgeStatusEntries removed %d entries, want 2", n)
	}
	creds := []string{"key:key_5", "key:key_2", "key:key_6", "key:key_7", "key:key_5"}
	if got, want := alloc(creds...), []int64{0, 2, 1, 4, 0}; !slices.Equal(got, want) {
		t.Fatalf("after the purge: AllocateStatusIndexes(%v) = %v, want %v", creds, got, want)
	}
	entries, err := s.ListStatusEntries(ctx, -1, 100)
	must(t, err)
	var got []string
	for _, e := range entries {
		if e.InvalidatedAt != nil {
			t.Errorf("entry %d of %s is invalidated", e.Idx, e.Credential)
		}
		got = append(got, fmt.Sprintf("%d=%s", e.Idx, e.Credential))
	}
	if want := []string{"0=key:key_5", "1=key:key_6", "2=key:key_2", "3=key:key_3", "4=key:key_7"}; !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	ext, err := s.ListStatusExceptions(ctx, at(3*time.Hour), at(2*time.Hour), at(4*time.Hour), func(store.StatusEntry) error { return nil })
	must(t, err)
	if ext.Top != 4 || ext.Count != 5 {
		t.Fatalf("extent: top %d, count %d; want 4, 5", ext.Top, ext.Count)
	}
}

// testAllocateStatusIndexesRolledBack: a group allocated in a
// transaction that rolls back leaves no entry and takes no index, free or
// new.
func testAllocateStatusIndexesRolledBack(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	for _, c := range []string{"client:cli_1", "client:cli_2"} {
		_, err := s.AllocateStatusIndex(ctx, c, t0)
		must(t, err)
	}
	must(t, s.InvalidateStatusIndex(ctx, "client:cli_1", t0))
	_, err := s.PurgeStatusEntries(ctx, at(time.Minute)) // frees 0
	must(t, err)
	errRollback := errors.New("roll back")
	err = s.Tx(ctx, func(tx store.Tx) error {
		got, err := tx.AllocateStatusIndexes(ctx, []string{"key:key_1", "key:key_2"}, t0)
		if err != nil {
			return err
		}
		if want := []int64{0, 2}; !slices.Equal(got, want) {
			return fmt.Errorf("in the transaction: %v, want %v", got, want)
		}
		return errRollback
	})
	wantErr(t, err, errRollback, "Tx")
	for _, c := range []string{"key:key_1", "key:key_2"} {
		_, err := s.GetStatusIndex(ctx, c)
		wantErr(t, err, store.ErrNotFound, "GetStatusIndex("+c+") after the rollback")
	}
	got, err := s.AllocateStatusIndexes(ctx, []string{"key:key_3", "key:key_4"}, t0)
	must(t, err)
	if want := []int64{0, 2}; !slices.Equal(got, want) {
		t.Fatalf("after the rollback: %v, want %v (the free 0, then the next new 2)", got, want)
	}
}

// testAllocateStatusIndexesConcurrently: groups and single allocations
// racing over overlapping credentials agree on one index per credential,
// and distinct credentials get distinct indices, without gaps.
func testAllocateStatusIndexesConcurrently(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	const callers, shared = 8, 6
	var (
		mu  sync.Mutex
		got = map[string][]int64{}
		wg  sync.WaitGroup
	)
	record := func(creds []string, idx []int64, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			t.Error(err)
			return
		}
		for i, c := range creds {
			got[c] = append(got[c], idx[i])
		}
	}
	for g := range callers {
		wg.Go(func() {
			creds := []string{fmt.Sprintf("key:own_%d_a", g), fmt.Sprintf("key:own_%d_b", g)}
			for i := range shared {
				creds = append(creds, fmt.Sprintf("client:shared_%d", i))
			}
			r := rand.New(rand.NewPCG(uint64(g), 1))
			r.Shuffle(len(creds), func(i, j int) { creds[i], creds[j] = creds[j], creds[i] })
			idx, err := s.AllocateStatusIndexes(ctx, creds, t0)
			record(creds, idx, err)
		})
		wg.Go(func() {
			c := fmt.Sprintf("client:shared_%d", g%shared)
			idx, err := s.AllocateStatusIndex(ctx, c, t0)
			record([]string{c}, []int64{idx}, err)
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var all []int64
	for c, idx := range got {
		for _, i := range idx {
			if i != idx[0] {
				t.Fatalf("%s got indices %v", c, idx)
			}
		}
		all = append(all, idx[0])
	}
	slices.Sort(all)
	if want := callers*2 + shared; len(all) != want {
		t.Fatalf("%d credentials, want %d", len(all), want)
	}
	for i, idx := range all {
		if idx != int64(i) {
			t.Fatalf("indices %v are not 0..%d without gaps or repeats", all, len(all)-1)
		}
	}
}
