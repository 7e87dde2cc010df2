package legacykeys_test

import (
	"fmt"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/store"
)

func ExampleParse() {
	key, id := legacykeys.Generate()
	p, err := legacykeys.Parse(key)
	fmt.Println(p.Issued, p.ID == id, err)

	// One character changed when the key was copied: caught by the
	// checksum, before any database read.
	typo := key[:len(key)-1] + "!"
	_, err = legacykeys.Parse(typo)
	fmt.Println(errcode.Of(err))

	// Keys imported from the old system keep their format.
	p, err = legacykeys.Parse("sk_live_4f9a2b7c")
	fmt.Println(p.Issued, err)
	// Output:
	// true true <nil>
	// key_malformed
	// false <nil>
}

func ExampleDecide() {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	deleted := now.Add(-time.Hour)
	f := legacykeys.Facts{
		Key:    &store.LegacyKey{ID: "key_aaaaaaaaaaaaaaaa", TenantID: "ten_a", OwnerID: "prn_a", Status: store.StatusActive},
		Owner:  &store.Principal{ID: "prn_a", TenantID: "ten_a", Status: store.StatusDeleted, DeletedAt: &deleted},
		Tenant: &store.Tenant{ID: "ten_a", Status: store.StatusActive},
		Now:    now,
	}
	e := legacykeys.Decide(f)
	fmt.Println(e.Code)
	fmt.Println(e.Text())
	// Output:
	// owner_deleted
	// The API key's owner prn_a was deleted at 2026-03-01T11:00:00Z; an administrator must reassign the key to an active principal.
}
