package verifier

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/authz/authz/statuslist"
)

// referenceDecode is decodePayload written the slow, obvious way on
// encoding/json (exact member names, last duplicate wins, null = absent).
func referenceDecode(data []byte, w *wireClaims) error {
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return errClaimType
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(data, &members); err != nil {
		return err
	}
	str := func(raw json.RawMessage, dst *string) error {
		*dst = ""
		if isNull(raw) {
			return nil
		}
		if raw[0] != '"' {
			return errClaimType
		}
		return json.Unmarshal(raw, dst)
	}
	strs := func(raw json.RawMessage, dst *[]string) error {
		*dst = nil
		if isNull(raw) {
			return nil
		}
		var list []json.RawMessage
		if raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
			return errClaimType
		}
		out := []string{}
		for _, e := range list {
			var s string
			if e[0] != '"' || json.Unmarshal(e, &s) != nil {
				return errClaimType
			}
			out = append(out, s)
		}
		*dst = out
		return nil
	}
	date := func(raw json.RawMessage, dst **numericDate) error {
		*dst = nil
		if isNull(raw) {
			return nil
		}
		var n json.Number
		if raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
			return errClaimType
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil || math.Abs(f) > maxNumericDate {
			return errClaimType
		}
		d := numericDate(f)
		*dst = &d
		return nil
	}
	var actor func(raw json.RawMessage, dst **actorClaim, depth int) error
	actor = func(raw json.RawMessage, dst **actorClaim, depth int) error {
		*dst = nil
		if isNull(raw) {
			return nil
		}
		var m map[string]json.RawMessage
		if depth >= maxNesting || raw[0] != '{' || json.Unmarshal(raw, &m) != nil {
			return errClaimType
		}
		a := &actorClaim{}
		for name, v := range m {
			var err error
			switch name {
			case "sub":
				err = str(v, &a.Subject)
			case "act":
				err = actor(v, &a.Act, depth+1)
			default:
				if nesting(v) >= maxNesting-depth-1 {
					err = errClaimType
				}
			}
			if err != nil {
				return err
			}
		}
		*dst = a
		return nil
	}
	for name, v := range members {
		var err error
		switch name {
		case "iss":
			err = str(v, &w.Issuer)
		case "sub":
			err = str(v, &w.Subject)
		case "jti":
			err = str(v, &w.JTI)
		case "client_id":
			err = str(v, &w.ClientID)
		case "scope":
			err = str(v, &w.Scope)
		case "tenant":
			err = str(v, &w.Tenant)
		case "key_id":
			err = str(v, &w.KeyID)
		case "aud":
			if !isNull(v) && v[0] == '"' {
				var a string
				err = str(v, &a)
				w.Audience = audience{a}
			} else {
				var list []string
				err = strs(v, &list)
				w.Audience = list
			}
		case "roles":
			err = strs(v, &w.Roles)
		case "exp":
			err = date(v, &w.ExpiresAt)
		case "iat":
			err = date(v, &w.IssuedAt)
		case "nbf":
			err = date(v, &w.NotBefore)
		case "act":
			err = actor(v, &w.Act, 0)
		case "status":
			err = referenceStatus(v, w)
		default:
			if nesting(v) >= maxNesting {
				err = errClaimType
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// referenceStatus decodes the status claim with the members' rules of
// statuslist.ParseReference (idx a non-negative int64, uri a non-empty
// string, both required once status_list is there), but exact names and
// the last of duplicate members, as for every other claim.
func referenceStatus(raw json.RawMessage, w *wireClaims) error {
	w.HasStatus, w.Status = false, statuslist.ListReference{}
	if isNull(raw) {
		return nil
	}
	var members map[string]json.RawMessage
	if raw[0] != '{' || json.Unmarshal(raw, &members) != nil {
		return errClaimType
	}
	for name, v := range members {
		if name != "status_list" && nesting(v) >= maxNesting-1 {
			return errClaimType
		}
	}
	sl, ok := members["status_list"]
	if !ok || isNull(sl) {
		return nil
	}
	var list map[string]json.RawMessage
	if sl[0] != '{' || json.Unmarshal(sl, &list) != nil {
		return errClaimType
	}
	for name, v := range list {
		if name != "idx" && name != "uri" && nesting(v) >= maxNesting-2 {
			return errClaimType
		}
	}
	idx := int64(-1)
	if v, ok := list["idx"]; ok && !isNull(v) {
		if json.Unmarshal(v, &idx) != nil {
			return errClaimType
		}
	}
	var uri string
	if v, ok := list["uri"]; ok && !isNull(v) {
		if v[0] != '"' || json.Unmarshal(v, &uri) != nil {
			return errClaimType
		}
	}
	if idx < 0 || uri == "" {
		return errClaimType
	}
	w.HasStatus, w.Status = true, statuslist.ListReference{Idx: idx, URI: uri}
	return nil
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

// nesting is how many container levels lie below a value: 0 for a scalar
// or an empty container.
func nesting(raw json.RawMessage) int {
	var children []json.RawMessage
	switch raw[0] {
	case '[':
		_ = json.Unmarshal(raw, &children)
	case '{':
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var m map[string]json.RawMessage
		_ = d.Decode(&m)
		for _, v := range m {
			children = append(children, v)
		}
	}
	deepest := -1
	for _, c := range children {
		deepest = max(deepest, nesting(c))
	}
	return deepest + 1
}

var payloadSeeds = []string{
	`{"iss":"https://a","sub":"s","aud":["x","y"],"exp":1893553745,"iat":1893553445.5,"jti":"j","client_id":"c","scope":"a b","tenant":"t","roles":["r"],"key_id":"k","act":{"sub":"gw","act":{"sub":"edge","x":[1,{}]}}}`,
	`{"aud":"single","exp":null,"roles":null,"act":null}`,
	`{"aud":[],"roles":[]}`,
	`{ "iss" : "a\u0062c" , "sub":"\ud83d\ude00", "scope":"caf\u00e9", "extra":{"deep":[[[["x"]]]]} }`,
	`{"ISS":"upper","iss":"first","iss":"last"}`,
	`{"exp":"soon"}`,
	`{"exp":1e400}`,
	`{"exp":-1.5e3,"nbf":0}`,
	`{"aud":[1]}`,
	`{"roles":"r"}`,
	`{"act":"gw"}`,
	`{"act":{"sub":5}}`,
	`{"unknown":[true,false,null,-0.5e-3,"\"\\"]}`,
	"{\"iss\":\"\xff\xfe\"}",
	`[]`,
	`"str"`,
	`null`,
	`{}`,
	`{"x":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
	`{"status":{"status_list":{"idx":412,"uri":"https://a/statuslists/1"}}}`,
	`{"status":{"status_list":{"idx":0,"uri":"https://a/s\u002f1","x":{}},"other":[1]}}`,
	`{"status":{"identifiers":{"x":1}}}`,
	`{"status":{"status_list":null},"status":null}`,
	`{"status":{"status_list":{"idx":-1,"uri":"u"}}}`,
	`{"status":{"status_list":{"idx":1.0,"uri":"u"}}}`,
	`{"status":{"status_list":{"idx":1e3,"uri":"u"}}}`,
	`{"status":{"status_list":{"idx":99999999999999999999,"uri":"u"}}}`,
	`{"status":{"status_list":{"idx":3}}}`,
	`{"status":{"status_list":{"idx":3,"uri":""}}}`,
	`{"status":{"status_list":{"idx":"3","uri":"u"}}}`,
	`{"status":{"status_list":[3,"u"]}}`,
	`{"status":"valid"}`,
}

// FuzzDecodePayload holds the hand-written decoder to the reference on
// every valid JSON document: same error-or-not, same claims.
func FuzzDecodePayload(f *testing.F) {
	for _, s := range payloadSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return // golang-jwt has refused it before decodePayload runs
		}
		var got, want wireClaims
		errGot := decodePayload(string(data), &got)
		errWant := referenceDecode(data, &want)
		if (errGot == nil) != (errWant == nil) {
			t.Fatalf("%q: decodePayload error %v, reference error %v", data, errGot, errWant)
		}
		if errGot == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %+v\nwant %+v", data, got, want)
		}
	})
}

func TestDecodePayload(t *testing.T) {
	var w wireClaims
	if err := decodePayload(payloadSeeds[0], &w); err != nil {
		t.Fatal(err)
	}
	if w.Issuer != "https://a" || len(w.Audience) != 2 || *w.IssuedAt != 1893553445.5 || w.Act.Act.Subject != "edge" {
		t.Fatalf("decoded %+v", w)
	}
	w = wireClaims{}
	if err := decodePayload(payloadSeeds[4], &w); err != nil || w.Issuer != "last" {
		t.Fatalf("duplicate or case-folded names: iss = %q, err %v", w.Issuer, err)
	}
	for _, bad := range []string{`{"exp":"soon"}`, `{"exp":1e400}`, `{"aud":[1]}`, `{"roles":"r"}`, `{"act":"gw"}`, `[]`} {
		if err := decodePayload(bad, &wireClaims{}); !errors.Is(err, errClaimType) {
			t.Errorf("%s: err = %v, want a type error", bad, err)
		}
	}
}

// The status claim decodes as statuslist.ParseReference reads it (the
// wire format's own parser): the same reference, or none, or a refusal.
func TestDecodeStatusAgreesWithParseReference(t *testing.T) {
	for _, s := range payloadSeeds {
		if !strings.Contains(s, `"status"`) {
			continue
		}
		var w wireClaims
		err := decodePayload(s, &w)
		ref, perr := statuslist.ParseReference([]byte(s))
		switch {
		case err != nil:
			// A malformed reference fails the token; ParseReference
			// fails it too (anything but the plain "no reference").
			if perr == nil || perr == statuslist.ErrNoReference {
				t.Errorf("%s: decodePayload refuses (%v), ParseReference = %+v, %v", s, err, ref, perr)
			}
		case w.HasStatus:
			if perr != nil || ref != w.Status {
				t.Errorf("%s: decoded %+v, ParseReference = %+v, %v", s, w.Status, ref, perr)
			}
		default:
			if !errors.Is(perr, statuslist.ErrNoReference) {
				t.Errorf("%s: no reference decoded, ParseReference = %+v, %v", s, ref, perr)
			}
		}
	}
}
