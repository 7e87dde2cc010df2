package storetest

import (
	"database/sql"
	"errors"
	"io/fs"
	"log/slog"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/authz/authz/store"
)

// AudienceMigrationVersion is the migration that registers audiences.
const AudienceMigrationVersion = 6

// RunAudienceMigration checks the data step of the audiences migration on
// a backend: an identifier that clients of exactly one tenant name is
// registered to that tenant; one that clients of two tenants name stays
// unregistered (no tenant wins it by having named it first). s and db are
// the same, fully migrated, empty database; fsys holds the backend's
// migrations.
func RunAudienceMigration(t *testing.T, s store.Store, db *sql.DB, dialect goose.Dialect, fsys fs.FS) {
	ctx := ctxOf(t)
	seed(t, s, "ten_a", "prn_a")
	seed(t, s, "ten_b", "prn_b")
	withAud := func(id, tenantID, ownerID string, aud ...string) store.Client {
		c := client(id, tenantID, ownerID)
		c.Audiences = aud
		return c
	}
	for _, c := range []store.Client{
		withAud("cli_a1", "ten_a", "prn_a", "https://a-only", "https://both"),
		withAud("cli_a2", "ten_a", "prn_a", "https://a-only"),
		withAud("cli_b1", "ten_b", "prn_b", "https://both", "https://b-only"),
		withAud("cli_n", "ten_b", "prn_b"),
	} {
		must(t, s.CreateClient(ctx, c))
	}
	p, err := goose.NewProvider(dialect, db, fsys, goose.WithDisableGlobalRegistry(true),
		goose.WithSlog(slog.New(slog.DiscardHandler)))
	must(t, err)
	// Back to the schema before audiences existed, then forward again,
	// with the clients in place: what an upgrade of a live database does.
	_, err = p.ApplyVersion(ctx, AudienceMigrationVersion, false)
	must(t, err)
	_, err = p.ApplyVersion(ctx, AudienceMigrationVersion, true)
	must(t, err)

	for _, c := range []struct {
		identifier, owner string
	}{
		{"https://a-only", "ten_a"},
		{"https://b-only", "ten_b"},
		{"https://both", ""},
	} {
		a, err := s.GetAudienceByIdentifier(ctx, c.identifier)
		switch {
		case c.owner == "" && !errors.Is(err, store.ErrNotFound):
			t.Errorf("%s, named by two tenants: got %+v, %v; want it left unregistered", c.identifier, a, err)
		case c.owner != "" && err != nil:
			t.Errorf("%s: %v", c.identifier, err)
		case c.owner != "" && (a.TenantID != c.owner || len(a.SharedWith) != 0 || !store.HasPrefix(a.ID, store.PrefixAudience)):
			t.Errorf("%s: registered as %+v; want owner %s, no shares, an aud_ id", c.identifier, a, c.owner)
		}
	}
	all, _, err := s.ListAudiences(ctx, store.AudienceFilter{}, store.Page{})
	must(t, err)
	if len(all) != 2 {
		t.Errorf("migration registered %d audiences, want 2: %+v", len(all), all)
	}
}
