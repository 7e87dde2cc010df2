package publisher_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/statuslist"
	"github.com/authz/authz/statuslist/publisher"
)

// refOf reads the status claim of an issued access token.
func refOf(t *testing.T, tok string) statuslist.ListReference {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWS: %q", tok)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	ref, err := statuslist.ParseReference(payload)
	if err != nil {
		t.Fatalf("token without a status claim: %v: %s", err, payload)
	}
	return ref
}

// published fetches /statuslists/1 from the running server and returns
// the status of idx, verifying the token as a gateway would.
func published(e *servertest.Env, idx int64) (statuslist.Status, bool) {
	e.T.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.Issuer+publisher.PathList, nil)
	req.Header.Set("Accept", statuslist.MediaType)
	r := e.Do(req)
	if r.Status != http.StatusOK {
		return 0, false
	}
	if ct := r.Header.Get("Content-Type"); ct != statuslist.MediaType {
		e.T.Fatalf("Content-Type %q", ct)
	}
	claims, _, err := e.Srv.Keys.Verify(e.Ctx(), string(r.Raw), statuslist.TokenType)
	if err != nil {
		e.T.Fatalf("the status list does not verify against the issuer's keys: %v", err)
	}
	_, l, err := statuslist.ParseToken(claims, e.Issuer+publisher.PathList, e.Issuer, e.Clock.Now(), time.Minute)
	if err != nil {
		e.T.Fatal(err)
	}
	s, err := l.Get(idx)
	if err != nil {
		return 0, false
	}
	return s, true
}

// waitPublished waits until the running server publishes want for idx.
// The deadline only keeps a broken server from hanging the test.
func waitPublished(e *servertest.Env, idx int64, want statuslist.Status) {
	e.T.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, ok := published(e, idx)
		if ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			e.T.Fatalf("index %d is published as %v (served: %v), want %v", idx, got, ok, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// End to end on a running server: tokens carry the claim, the metadata
// advertises the lists, and suspensions, deletions and revocations reach
// the published list (suspensions undone by resuming).
func TestEndToEnd(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		a, b := e.Standard("acme"), e.Standard("globex")
		ctx := e.Ctx()
		admin := e.Admin()

		tok := e.Token(a, "")
		ref := refOf(t, tok)
		if ref.URI != e.Issuer+publisher.PathList {
			t.Fatalf("status uri = %q", ref.URI)
		}
		if again := refOf(t, e.Token(a, "")); again != ref {
			t.Fatalf("second token of one client: %+v, want %+v", again, ref)
		}
		other := refOf(t, e.Token(b, ""))
		if other.Idx == ref.Idx {
			t.Fatalf("two clients share index %d", ref.Idx)
		}

		md := e.Do(mustRequest(t, e.Issuer+"/.well-known/oauth-authorization-server"))
		if md.Str("status_list_aggregation_endpoint") != e.Issuer+publisher.PathAggregation {
			t.Fatalf("metadata: %s", md.Raw)
		}
		agg := e.Do(mustRequest(t, e.Issuer+publisher.PathAggregation))
		if lists, _ := agg.Body["status_lists"].([]any); len(lists) != 1 || lists[0] != ref.URI {
			t.Fatalf("aggregation: %s", agg.Raw)
		}

		waitPublished(e, ref.Idx, statuslist.Valid)
		steps := []struct {
			name string
			do   func() error
			idx  int64
			want statuslist.Status
		}{
			{"principal suspended", func() error { _, err := admin.SuspendPrincipal(ctx, a.Owner.ID); return err }, ref.Idx, statuslist.Suspended},
			{"principal resumed", func() error { _, err := admin.ResumePrincipal(ctx, a.Owner.ID); return err }, ref.Idx, statuslist.Valid},
			{"tenant suspended", func() error { _, err := admin.SuspendTenant(ctx, a.Tenant.ID); return err }, ref.Idx, statuslist.Suspended},
			{"tenant resumed", func() error { _, err := admin.ResumeTenant(ctx, a.Tenant.ID); return err }, ref.Idx, statuslist.Valid},
			{"client suspended", func() error { _, err := admin.SuspendClient(ctx, a.Client.ID); return err }, ref.Idx, statuslist.Suspended},
			{"client resumed", func() error { _, err := admin.ResumeClient(ctx, a.Client.ID); return err }, ref.Idx, statuslist.Valid},
			{"other tenant untouched by all that", func() error { return nil }, other.Idx, statuslist.Valid},
			{"principal deleted", func() error { _, err := admin.DeletePrincipal(ctx, b.Owner.ID); return err }, other.Idx, statuslist.Invalid},
		}
		for _, s := range steps {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
			waitPublished(e, s.idx, s.want)
		}

		// RFC 7009: revoking a token ends its credential's epoch. That
		// moves no generation; the list shows it at the next rescan (the
		// ttl, on the server's clock), and the client's next token, issued
		// after that build, carries a fresh index.
		if r := e.Post("/oauth2/revoke", url.Values{"token": {tok}}, a.Client.ID, a.Secret); r.Status != http.StatusOK {
			t.Fatalf("revoke: %d %s", r.Status, r.Raw)
		}
		e.Clock.Advance(publisher.DefaultTTL)
		waitPublished(e, ref.Idx, statuslist.Invalid)
		fresh := refOf(t, e.Token(a, ""))
		if fresh.Idx == ref.Idx {
			t.Fatalf("after revocation the client's token still carries index %d", ref.Idx)
		}
		waitPublished(e, fresh.Idx, statuslist.Valid)
	})
}

// Exchanged tokens carry the key's index; revoking the key makes it
// INVALID at once on the list (an admin change moves the generation).
func TestEndToEndLegacyKey(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, db string) {
		e := servertest.Start(t, db)
		h := e.Holder("acme", "service")
		k := e.IssueKey(h.Owner.ID, []string{"orders:read"}, 0)
		r := e.Exchange(k.Key, nil, "", "")
		if r.Status != http.StatusOK {
			t.Fatalf("exchange: %d %s", r.Status, r.Raw)
		}
		ref := refOf(t, r.Str("access_token"))
		if again := refOf(t, e.Exchange(k.Key, nil, "", "").Str("access_token")); again != ref {
			t.Fatalf("second exchange: %+v, want %+v", again, ref)
		}
		waitPublished(e, ref.Idx, statuslist.Valid)
		if _, err := e.Admin().RevokeKey(e.Ctx(), k.ID, "compromised"); err != nil {
			t.Fatal(err)
		}
		waitPublished(e, ref.Idx, statuslist.Invalid)
	})
}

func mustRequest(t *testing.T, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
