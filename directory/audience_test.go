package directory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// TestAudiencesAreCachedAndUnshareIsSeenAtOnce: the token endpoint reads
// audiences through the cache, so a share withdrawn (or an audience
// deleted) must be seen by the next read on this replica.
func TestAudiencesAreCachedAndUnshareIsSeenAtOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, open func(t testing.TB) store.Store) {
		st := open(t)
		d, hits := startDirectory(t, st, &clock{t: time.Now()})
		ctx := context.Background()
		owner, borrower := newPrincipal(t, st).TenantID, newPrincipal(t, st).TenantID
		now := time.Now()
		a := store.Audience{ID: store.NewID(store.PrefixAudience), Identifier: "https://b-api", TenantID: owner, SharedWith: []string{borrower}, CreatedAt: now, UpdatedAt: now}
		if err := st.CreateAudience(ctx, a); err != nil {
			t.Fatal(err)
		}
		repeatHits(t, hits, func() {
			if got, err := d.GetAudienceByIdentifier(ctx, a.Identifier); err != nil || !got.Requestable(borrower) {
				t.Fatalf("read: %+v %v", got, err)
			}
		})
		if _, err := st.UpdateAudience(ctx, a.ID, func(a store.Audience) (store.Audience, error) { a.SharedWith = nil; return a, nil }); err != nil {
			t.Fatal(err)
		}
		if got, _ := d.GetAudienceByIdentifier(ctx, a.Identifier); got.Requestable(borrower) {
			t.Fatal("after unsharing the directory still shares it")
		}
		if err := st.DeleteAudience(ctx, a.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := d.GetAudienceByIdentifier(ctx, a.Identifier); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after deleting: %v", err)
		}
	})
}
