package legacykeys_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/store"
)

func TestLifecycle(t *testing.T) {
	eachBackend(t, func(t *testing.T, st store.Store) {
		h := newHarness(t, st)
		h.tenant("ten_a")
		h.tenant("ten_b")
		h.principal("prn_alice", "ten_a", "alice")
		h.principal("prn_bob", "ten_a", "bob")
		h.principal("prn_carol", "ten_b", "carol")

		t.Run("issue, then the key resolves", func(t *testing.T) {
			h.t = t
			key, k, err := h.svc.Issue(h.ctx, legacykeys.IssueRequest{OwnerID: "prn_alice", Scopes: []string{"orders:read", "orders:read", "orders:write"}, ExpiresIn: 30 * 24 * time.Hour, Label: "billing job"})
			must(t, err)
			if !strings.HasPrefix(key, legacykeys.Prefix) || k.Hash != nil {
				t.Fatalf("Issue returned key %q... and hash %x", key[:4], k.Hash)
			}
			if k.TenantID != "ten_a" || k.Source != store.SourceIssued || !k.ExpiresAt.Equal(t0.Add(30*24*time.Hour)) {
				t.Fatalf("issued key %+v", k)
			}
			if strings.Join(k.Scopes, " ") != "orders:read orders:write" {
				t.Fatalf("scopes %q: duplicates must go", k.Scopes)
			}
			h.wantResolve(key, "", "")
			evs := h.events("key:" + k.ID)
			if len(evs) != 1 || evs[0].Action != legacykeys.ActionIssue || evs[0].Actor != adminActor || evs[0].RequestID != "req-test" {
				t.Fatalf("audit after issue: %+v", evs)
			}
			stored, err := st.GetLegacyKey(h.ctx, k.ID)
			must(t, err)
			if bytes.Contains(evs[0].Details, []byte(key)) || bytes.Contains(evs[0].Details, []byte(jsonBytes(stored.Hash))) {
				t.Fatalf("audit details carry the key or its hash: %s", evs[0].Details)
			}
		})

		t.Run("revoke: key_revoked, audited, webhook queued", func(t *testing.T) {
			h.t = t
			key, k := h.issue("prn_alice", 0)
			got, err := h.svc.Revoke(h.ctx, k.ID, "found in a public repository")
			must(t, err)
			if got.Status != store.StatusRevoked || got.RevokedBy != adminActor || got.RevokedReason != "found in a public repository" || !got.RevokedAt.Equal(t0) {
				t.Fatalf("revoked key %+v", got)
			}
			h.wantResolve(key, "", errcode.KeyRevoked)
			evs := h.events("key:" + k.ID)
			if last := evs[len(evs)-1]; last.Action != legacykeys.ActionRevoke || !bytes.Contains(last.Details, []byte(`"status":{"from":"active","to":"revoked"}`)) {
				t.Fatalf("revoke audit event %+v details %s", last, last.Details)
			}
			hooks := h.webhooks()[legacykeys.EventKeyRevoked]
			if len(hooks) != 1 || hooks[0]["key_id"] != k.ID || hooks[0]["reason"] != "found in a public repository" || hooks[0]["revoked_by"] != adminActor {
				t.Fatalf("key.revoked webhooks %v", hooks)
			}
			_, err = h.svc.Revoke(h.ctx, k.ID, "again")
			wantCode(t, err, errcode.Conflict)
			if n := len(h.webhooks()[legacykeys.EventKeyRevoked]); n != 1 {
				t.Fatalf("a refused second revoke queued a webhook (%d)", n)
			}
			_, err = h.svc.Revoke(h.ctx, k.ID, "")
			wantCode(t, err, errcode.RequestInvalid)
			_, _, _, err = h.svc.Rotate(h.ctx, k.ID, time.Hour)
			wantCode(t, err, errcode.Conflict)
			_, err = h.svc.Reassign(h.ctx, k.ID, "prn_bob")
			wantCode(t, err, errcode.Conflict)
			_, err = h.svc.Revoke(h.ctx, "key_aaaaaaaaaaaaaaaa", "no such key")
			wantCode(t, err, errcode.NotFound)
		})

		t.Run("rotate: both keys work during the overlap, then the old one expires", func(t *testing.T) {
			h.t = t
			oldKey, old := h.issue("prn_bob", 90*24*time.Hour)
			h.clock.Advance(time.Hour)
			newKey, fresh, oldAfter, err := h.svc.Rotate(h.ctx, old.ID, 24*time.Hour)
			must(t, err)
			now := h.clock.Now()
			if fresh.RotatedFrom != old.ID || fresh.OwnerID != "prn_bob" || fresh.Label != old.Label || fresh.Hash != nil {
				t.Fatalf("fresh key %+v", fresh)
			}
			if !fresh.ExpiresAt.Equal(now.Add(90 * 24 * time.Hour)) {
				t.Fatalf("fresh key expires %v, want the old key's lifetime from now", fresh.ExpiresAt)
			}
			if !oldAfter.ExpiresAt.Equal(now.Add(24 * time.Hour)) {
				t.Fatalf("old key expires %v, want end of overlap", oldAfter.ExpiresAt)
			}
			h.wantResolve(oldKey, "", "")
			h.wantResolve(newKey, "", "")
			h.clock.Advance(24*time.Hour - time.Microsecond)
			h.wantResolve(oldKey, "", "")
			h.clock.Advance(time.Microsecond)
			h.wantResolve(oldKey, "", errcode.KeyExpired)
			h.wantResolve(newKey, "", "")
			acts := actions(h.events("key:" + old.ID))
			if acts != "key.issue key.rotate" {
				t.Fatalf("old key's audit trail %q", acts)
			}
			if acts := actions(h.events("key:" + fresh.ID)); acts != "key.issue" {
				t.Fatalf("new key's audit trail %q", acts)
			}
			// An expired key can be rotated: that is how its holder gets a new one.
			_, again, _, err := h.svc.Rotate(h.ctx, old.ID, 0)
			must(t, err)
			if again.RotatedFrom != old.ID {
				t.Fatalf("rotation of an expired key: %+v", again)
			}
			_, _, _, err = h.svc.Rotate(h.ctx, old.ID, -time.Second)
			wantCode(t, err, errcode.RequestInvalid)
		})

		t.Run("reassign the key of a deleted owner", func(t *testing.T) {
			h.t = t
			h.principal("prn_dave", "ten_a", "dave")
			key, k := h.issue("prn_dave", 0)
			h.setPrincipalStatus("prn_dave", store.StatusDeleted, adminActor)
			h.wantResolve(key, "", errcode.OwnerDeleted)

			_, _, _, err := h.svc.Rotate(h.ctx, k.ID, time.Hour)
			wantCode(t, err, errcode.RequestInvalid) // the new key would have a deleted owner
			_, err = h.svc.Reassign(h.ctx, k.ID, "prn_carol")
			wantCode(t, err, errcode.RequestInvalid) // another tenant
			_, err = h.svc.Reassign(h.ctx, k.ID, "prn_dave")
			wantCode(t, err, errcode.RequestInvalid) // deleted
			_, err = h.svc.Reassign(h.ctx, k.ID, "prn_nobody")
			wantCode(t, err, errcode.NotFound)
			h.wantResolve(key, "", errcode.OwnerDeleted)

			got, err := h.svc.Reassign(h.ctx, k.ID, "prn_bob")
			must(t, err)
			if got.OwnerID != "prn_bob" {
				t.Fatalf("reassigned key %+v", got)
			}
			h.wantResolve(key, "", "")
			evs := h.events("key:" + k.ID)
			last := evs[len(evs)-1]
			if last.Action != legacykeys.ActionReassign || !bytes.Contains(last.Details, []byte(`"owner_id":{"from":"prn_dave","to":"prn_bob"}`)) {
				t.Fatalf("reassign audit %+v %s", last, last.Details)
			}
			// Again to the same owner: nothing changes, nothing is audited.
			_, err = h.svc.Reassign(h.ctx, k.ID, "prn_bob")
			must(t, err)
			if n := len(h.events("key:" + k.ID)); n != len(evs) {
				t.Fatalf("no-op reassign was audited")
			}
		})

		t.Run("issue refuses what cannot own or describe a key", func(t *testing.T) {
			h.t = t
			h.principal("prn_erin", "ten_a", "")
			h.setPrincipalStatus("prn_erin", store.StatusDeleted, adminActor)
			for _, tc := range []struct {
				name string
				req  legacykeys.IssueRequest
				want errcode.Code
			}{
				{"deleted owner", legacykeys.IssueRequest{OwnerID: "prn_erin"}, errcode.RequestInvalid},
				{"unknown owner", legacykeys.IssueRequest{OwnerID: "prn_nobody"}, errcode.NotFound},
				{"no owner", legacykeys.IssueRequest{}, errcode.RequestInvalid},
				{"negative expiry", legacykeys.IssueRequest{OwnerID: "prn_bob", ExpiresIn: -time.Hour}, errcode.RequestInvalid},
				{"scope with a space", legacykeys.IssueRequest{OwnerID: "prn_bob", Scopes: []string{"orders read"}}, errcode.RequestInvalid},
				{"empty scope", legacykeys.IssueRequest{OwnerID: "prn_bob", Scopes: []string{""}}, errcode.RequestInvalid},
				{"label with a newline", legacykeys.IssueRequest{OwnerID: "prn_bob", Label: "a\nb"}, errcode.RequestInvalid},
				{"label too long", legacykeys.IssueRequest{OwnerID: "prn_bob", Label: strings.Repeat("x", 201)}, errcode.RequestInvalid},
			} {
				_, _, err := h.svc.Issue(h.ctx, tc.req)
				if errcode.Of(err) != tc.want {
					t.Errorf("%s: Issue = %v, want %s", tc.name, err, tc.want)
				}
			}
			ks, _, err := st.ListLegacyKeys(h.ctx, store.LegacyKeyFilter{OwnerID: "prn_erin"}, store.Page{})
			must(t, err)
			if len(ks) != 0 {
				t.Fatal("a refused issue stored a key")
			}
		})

		t.Run("the hash is never handed out", func(t *testing.T) {
			h.t = t
			_, k := h.issue("prn_alice", time.Hour)
			ks, err := h.svc.Expiring(h.ctx, "ten_a", 2*time.Hour)
			must(t, err)
			found := false
			for _, x := range ks {
				if x.Hash != nil {
					t.Fatalf("Expiring returned the hash of %s", x.ID)
				}
				found = found || x.ID == k.ID
			}
			if !found {
				t.Fatalf("Expiring missed %s", k.ID)
			}
		})
	})
}

func actions(evs []store.AuditEvent) string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Action)
	}
	return strings.Join(out, " ")
}

func jsonBytes(b []byte) string {
	raw, _ := json.Marshal(b)
	return strings.Trim(string(raw), `"`)
}
