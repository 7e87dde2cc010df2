package scim

import (
	"errors"
	"net/http"
	"testing"
)

// FuzzParseFilter: any filter is either understood or refused with 400
// invalidFilter; the grammar library never turns input into a panic.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		`userName eq "ada@acme.example"`,
		`externalId eq "00u1" and userName eq "a"`,
		`urn:ietf:params:scim:schemas:core:2.0:User:userName eq "x"`,
		`userName eq "a" or userName eq "b"`,
		`not (userName eq "a")`,
		`emails[type eq "work" and value co "@"]`,
		`meta.lastModified gt "2011-05-13T04:42:34Z"`,
		`userName eq`,
		`((userName eq "a")`,
		`displayName eq "Engineering"`,
		`id eq 7`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := parseFilter(s, schemaUser, "username", "externalid", "id")
		if err != nil {
			var se *Error
			if !errors.As(err, &se) || se.Status != http.StatusBadRequest || se.Type != typeInvalidFilter {
				t.Fatalf("filter %q: %v, want a 400 invalidFilter", s, err)
			}
			return
		}
		for k := range q.eq {
			if k != "username" && k != "externalid" && k != "id" {
				t.Fatalf("filter %q: kept attribute %q", s, k)
			}
		}
	})
}

// FuzzParsePatch: any PATCH body is parsed or refused with a 400, and a
// parsed one applies to a User and a Group without a panic, or is refused
// with a 400.
func FuzzParsePatch(f *testing.F) {
	for _, s := range []string{
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","value":{"active":false}}]}`,
		`{"Operations":[{"op":"Replace","path":"active","value":"False"}]}`,
		`{"Operations":[{"op":"Add","path":"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager","value":"m"}]}`,
		`{"Operations":[{"op":"remove","path":"members[value eq \"prn_x\"]"}]}`,
		`{"Operations":[{"op":"add","path":"members","value":[{"value":"prn_x"}]}]}`,
		`{"Operations":[{"op":"replace","path":"name.givenName","value":"Ada"}]}`,
		`{"Operations":[{"op":"replace","value":{"name.familyName":"L","emails":[{"value":"a@b"}]}}]}`,
		`{"Operations":[{"op":"add","path":"emails[type eq \"work\"].value","value":"a@b"}]}`,
		`{"Operations":[{"op":"remove"}]}`,
		`{"Operations":null}`,
		`[]`,
	} {
		f.Add([]byte(s))
	}
	bad := func(t *testing.T, body []byte, err error) {
		t.Helper()
		var se *Error
		if !errors.As(err, &se) || se.Status != http.StatusBadRequest || se.Type == "" {
			t.Fatalf("patch %q: %v, want a 400 with a scimType", body, err)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ops, err := parsePatch(body)
		if err != nil {
			bad(t, body, err)
			return
		}
		u := userDoc{UserName: "ada"}
		if err := u.applyPatch(ops); err != nil {
			bad(t, body, err)
		} else if u.UserName == "" {
			t.Fatalf("patch %q removed the userName", body)
		}
		g := groupDoc{DisplayName: "Ops", Members: []string{"prn_x"}}
		if err := g.applyPatch(ops); err != nil {
			bad(t, body, err)
		} else if g.DisplayName == "" {
			t.Fatalf("patch %q removed the displayName", body)
		}
	})
}

// FuzzSimpleEqualities: the fast reading of an IdP's lookup filter agrees
// with the grammar library on every filter it reads, answer and refusal.
func FuzzSimpleEqualities(f *testing.F) {
	for _, s := range []string{
		`userName eq "ada@acme.example"`,
		`externalId eq "00u1" and userName eq "a"`,
		`userName eq "a" and userName eq "b"`,
		`displayName eq "x"`,
		`and eq "x"`,
		`userName eq ""`,
		`user-name eq "x" and id eq "prn_1"`,
		`emails eq "x"`,
	} {
		f.Add(s)
	}
	allowed := []string{"username", "externalid", "id"}
	f.Fuzz(func(t *testing.T, s string) {
		pairs, ok := simpleEqualities(s)
		if !ok {
			return
		}
		var fast equalities
		fast.eq = map[string]string{}
		fastErr := fast.addSimple(pairs, allowed)
		full, fullErr := parseFilterFull(s, schemaUser, allowed)
		if (fastErr == nil) != (fullErr == nil) {
			t.Fatalf("filter %q: fast %v, library %v", s, fastErr, fullErr)
		}
		if fastErr != nil {
			return
		}
		if fast.none != full.none || len(fast.eq) != len(full.eq) {
			t.Fatalf("filter %q: fast %+v, library %+v", s, fast, full)
		}
		for k, v := range fast.eq {
			if full.eq[k] != v {
				t.Fatalf("filter %q: fast %+v, library %+v", s, fast, full)
			}
		}
	})
}
