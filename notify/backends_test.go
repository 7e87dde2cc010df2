package notify

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/sqlite"
)

// eachBackend runs fn on a fresh store of every backend.
func eachBackend(t *testing.T, fn func(t *testing.T, st store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "authz.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		fn(t, st)
	})
}
