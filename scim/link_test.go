package scim_test

import (
	"strings"
	"testing"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/server/servertest"
)

// TestLinking: the first push of a user whose externalId or userName equals
// an existing principal's external_id links to it (recorded, with the
// attribute); an ambiguous push, a service principal and a principal
// another SCIM user governs are refused; nothing is merged by guesswork.
func TestLinking(t *testing.T) {
	servertest.EachBackend(t, func(t *testing.T, dbURL string) {
		e := servertest.Start(t, dbURL)
		w := newWorld(t, e, "linkco")
		ctx := e.Ctx()
		mk := func(name, kind, ext string) apiv1.Principal {
			t.Helper()
			p, err := w.a.CreatePrincipal(ctx, apiv1.CreatePrincipal{TenantID: w.tenant.ID, Kind: kind, Name: name, ExternalID: ext})
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		byExt := mk("imported one", "user", "emp-0001")
		byName := mk("imported two", "user", "bob@linkco.example")
		amb1, amb2 := mk("amb one", "user", "emp-0003"), mk("amb two", "user", "carol@linkco.example")
		svc := mk("batch", "service", "svc-7")
		key := e.IssueKey(byExt.ID, nil, 3600e9)

		for _, c := range []struct {
			name, body string
			status     int
			wantID     string
			linkedBy   string
		}{
			{"by externalId", `{"userName": "alice@linkco.example", "externalId": "emp-0001", "active": true}`, 201, byExt.ID, "externalId"},
			{"by userName", `{"userName": "bob@linkco.example", "externalId": "00u-bob", "active": true}`, 201, byName.ID, "userName"},
			{"ambiguous", `{"userName": "carol@linkco.example", "externalId": "emp-0003"}`, 409, "", ""},
			{"service principal", `{"userName": "svc-7"}`, 409, "", ""},
			{"no match creates", `{"userName": "dan@linkco.example", "externalId": "00u-dan"}`, 201, "", ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := w.sc.want(w.sc.do("POST", "/Users", c.body), c.status, map[bool]string{true: "uniqueness"}[c.status == 409])
				if c.status != 201 {
					return
				}
				id := r.str("id")
				if c.wantID != "" && id != c.wantID {
					t.Fatalf("linked to %s, want %s", id, c.wantID)
				}
				p, err := w.a.GetPrincipal(ctx, id)
				if err != nil || p.Source == nil || p.Source.LinkedBy != c.linkedBy || p.Source.TokenID != w.token.ID {
					t.Fatalf("source: %+v %v", p.Source, err)
				}
			})
		}
		// The ambiguous push merged nothing.
		for _, p := range []apiv1.Principal{amb1, amb2, svc} {
			got, _ := w.a.GetPrincipal(ctx, p.ID)
			if got.Source != nil {
				t.Fatalf("%s was linked: %+v", p.ID, got.Source)
			}
		}
		// The imported owner is governed by the IdP from now on.
		w.sc.want(w.sc.do("PATCH", "/Users/"+byExt.ID, oktaActive(false)), 200, "")
		exchange(t, e, key.Key, "owner_suspended")
		// key diagnose names the IdP, not just the token id.
		d, err := w.a.DiagnoseKey(ctx, key.ID)
		if err != nil || d.Owner == nil || d.Owner.Source == nil || d.Owner.Source.LinkedBy != "externalId" || d.Owner.Change == nil ||
			d.Owner.Change.Via != "Okta via SCIM" || !strings.Contains(d.Remedy, "suspended by Okta via SCIM at ") {
			t.Fatalf("diagnosis: %+v %+v %v", d.Owner, d.Remedy, err)
		}
		// A second SCIM user cannot take over a linked principal.
		w.sc.want(w.sc.do("POST", "/Users", `{"userName": "other@linkco.example", "externalId": "emp-0001"}`), 409, "uniqueness")
	})
}
