package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

// testConsoleSessions: links and sessions round-trip, a link is consumed
// exactly once even by concurrent callers, sessions are touched forward
// only, deleted, and purged once expired.
func testConsoleSessions(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	link := store.ConsoleSession{Hash: "h-link", Kind: store.ConsoleLink, PrincipalID: "prn_1",
		CreatedAt: at(0), LastSeenAt: at(0), ExpiresAt: at(15 * time.Minute), CreatedBy: "admin:c1"}
	sess := store.ConsoleSession{Hash: "h-sess", Kind: store.ConsoleSessionKind, PrincipalID: "prn_1",
		CreatedAt: at(0), LastSeenAt: at(0), ExpiresAt: at(12 * time.Hour), CreatedBy: "console:prn_1"}
	must(t, s.CreateConsoleSession(ctx, link))
	must(t, s.CreateConsoleSession(ctx, sess))
	wantErr(t, s.CreateConsoleSession(ctx, link), store.ErrConflict, "CreateConsoleSession of an existing hash")

	got, err := s.GetConsoleSession(ctx, "h-link")
	must(t, err)
	if got != link {
		t.Fatalf("GetConsoleSession = %+v, want %+v", got, link)
	}
	_, err = s.GetConsoleSession(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetConsoleSession of an unknown hash")

	// A session is not a link: it cannot be consumed as one.
	_, err = s.ConsumeConsoleLink(ctx, "h-sess")
	wantErr(t, err, store.ErrNotFound, "ConsumeConsoleLink of a session")

	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := s.ConsumeConsoleLink(ctx, "h-link"); err == nil {
				mu.Lock()
				won++
				mu.Unlock()
				if c != link {
					t.Errorf("ConsumeConsoleLink = %+v, want %+v", c, link)
				}
			}
		}()
	}
	wg.Wait()
	if won != 1 {
		t.Fatalf("%d concurrent ConsumeConsoleLink calls got the link, want exactly 1", won)
	}
	_, err = s.GetConsoleSession(ctx, "h-link")
	wantErr(t, err, store.ErrNotFound, "GetConsoleSession of a consumed link")

	must(t, s.TouchConsoleSession(ctx, "h-sess", at(time.Hour)))
	must(t, s.TouchConsoleSession(ctx, "h-sess", at(time.Minute)))
	if got, _ := s.GetConsoleSession(ctx, "h-sess"); !got.LastSeenAt.Equal(at(time.Hour)) {
		t.Fatalf("LastSeenAt = %v after touches at +1h and +1m, want +1h", got.LastSeenAt)
	}

	if _, err := s.PurgeExpired(ctx, at(13*time.Hour)); err != nil {
		t.Fatal(err)
	}
	_, err = s.GetConsoleSession(ctx, "h-sess")
	wantErr(t, err, store.ErrNotFound, "GetConsoleSession after PurgeExpired past its expiry")

	must(t, s.CreateConsoleSession(ctx, sess))
	must(t, s.DeleteConsoleSession(ctx, "h-sess"))
	must(t, s.DeleteConsoleSession(ctx, "h-sess"))
	_, err = s.GetConsoleSession(ctx, "h-sess")
	wantErr(t, err, store.ErrNotFound, "GetConsoleSession after DeleteConsoleSession")
}
