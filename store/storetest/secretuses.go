package storetest

import (
	"testing"
	"time"

	"github.com/authz/authz/store"
)

// testClientSecretUses: each secret's last use, recorded by the usage
// flush, read back with the client (get and list), moving only forward,
// and gone with the secret or the client.
func testClientSecretUses(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	seed(t, s, "ten_a", "prn_1")
	c := client("cli_1", "ten_a", "prn_1")
	c.Secrets = []store.ClientSecret{
		{ID: "sec_old", Hash: []byte{1}, CreatedAt: t0, ExpiresAt: ptr(at(24 * time.Hour))},
		{ID: "sec_new", Hash: []byte{2}, CreatedAt: at(time.Hour)},
	}
	must(t, s.CreateClient(ctx, c))
	must(t, s.CreateClient(ctx, client("cli_2", "ten_a", "prn_1")))

	// Uses of each secret; one batch may carry both secrets of a client,
	// a client without a secret (private_key_jwt), and an unknown client.
	must(t, s.RecordClientUsage(ctx, []store.ClientUsage{
		{ClientID: "cli_1", SecretID: "sec_old", LastUsedAt: at(2 * time.Hour)},
		{ClientID: "cli_1", SecretID: "sec_new", LastUsedAt: at(3 * time.Hour)},
		{ClientID: "cli_2", LastUsedAt: at(time.Hour)},
		{ClientID: "cli_gone", SecretID: "sec_x", LastUsedAt: t0},
	}))
	// An older use moves nothing back.
	must(t, s.RecordClientUsage(ctx, []store.ClientUsage{{ClientID: "cli_1", SecretID: "sec_old", LastUsedAt: at(time.Hour)}}))

	uses := func(c store.Client) map[string]*time.Time {
		out := map[string]*time.Time{}
		for _, s := range c.Secrets {
			out[s.ID] = s.LastUsedAt
		}
		return out
	}
	check := func(what string, got map[string]*time.Time, want map[string]time.Time) {
		t.Helper()
		for id, w := range want {
			g := got[id]
			switch {
			case w.IsZero() && g != nil:
				t.Fatalf("%s: secret %s last used %v, want never", what, id, g)
			case !w.IsZero() && (g == nil || !g.Equal(w)):
				t.Fatalf("%s: secret %s last used %v, want %v", what, id, g, w)
			}
		}
	}
	got, err := s.GetClient(ctx, "cli_1")
	must(t, err)
	check("GetClient", uses(got), map[string]time.Time{"sec_old": at(2 * time.Hour), "sec_new": at(3 * time.Hour)})
	if got.LastUsedAt == nil || !got.LastUsedAt.Equal(at(3*time.Hour)) {
		t.Fatalf("client last used %v, want the latest secret's %v", got.LastUsedAt, at(3*time.Hour))
	}
	list, _, err := s.ListClients(ctx, store.ClientFilter{OwnerID: "prn_1"}, store.Page{})
	must(t, err)
	if len(list) != 2 {
		t.Fatalf("ListClients: %d clients", len(list))
	}
	check("ListClients", uses(list[0]), map[string]time.Time{"sec_old": at(2 * time.Hour), "sec_new": at(3 * time.Hour)})
	if list[1].LastUsedAt == nil || !list[1].LastUsedAt.Equal(at(time.Hour)) {
		t.Fatalf("cli_2 last used %v", list[1].LastUsedAt)
	}

	// The overlap ends: sec_old leaves the list, and its last use with it
	// (a secret of the same id added later has never been used).
	_, err = s.UpdateClient(ctx, "cli_1", func(c store.Client) (store.Client, error) {
		c.Secrets = c.Secrets[1:]
		return c, nil
	})
	must(t, err)
	_, err = s.UpdateClient(ctx, "cli_1", func(c store.Client) (store.Client, error) {
		c.Secrets = append(c.Secrets, store.ClientSecret{ID: "sec_old", Hash: []byte{3}, CreatedAt: at(4 * time.Hour)})
		return c, nil
	})
	must(t, err)
	got, err = s.GetClient(ctx, "cli_1")
	must(t, err)
	check("after the overlap", uses(got), map[string]time.Time{"sec_old": {}, "sec_new": at(3 * time.Hour)})

	// A deleted client takes its secrets' uses along: one created again
	// under the same id starts with none.
	must(t, s.DeleteClient(ctx, "cli_1", at(5*time.Hour)))
	must(t, s.CreateClient(ctx, c))
	got, err = s.GetClient(ctx, "cli_1")
	must(t, err)
	check("recreated", uses(got), map[string]time.Time{"sec_old": {}, "sec_new": {}})
}
