package statuslist_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/authz/authz/statuslist"
)

func TestParseReference(t *testing.T) {
	for _, tc := range []struct {
		name   string
		claims string
		want   statuslist.ListReference
		ok     bool
	}{
		{"draft example", `{"status":{"status_list":{"idx":0,"uri":"https://example.com/statuslists/1"}}}`,
			statuslist.ListReference{Idx: 0, URI: "https://example.com/statuslists/1"}, true},
		{"large index", `{"sub":"x","status":{"status_list":{"idx":1048575,"uri":"https://a/s/1"}}}`,
			statuslist.ListReference{Idx: 1048575, URI: "https://a/s/1"}, true},
		{"other mechanisms beside", `{"status":{"other":{},"status_list":{"idx":3,"uri":"u"}}}`,
			statuslist.ListReference{Idx: 3, URI: "u"}, true},
		{"no status", `{"sub":"x"}`, statuslist.ListReference{}, false},
		{"no status_list", `{"status":{"other":{}}}`, statuslist.ListReference{}, false},
		{"idx missing", `{"status":{"status_list":{"uri":"u"}}}`, statuslist.ListReference{}, false},
		{"idx negative", `{"status":{"status_list":{"idx":-1,"uri":"u"}}}`, statuslist.ListReference{}, false},
		{"idx not an integer", `{"status":{"status_list":{"idx":1.5,"uri":"u"}}}`, statuslist.ListReference{}, false},
		{"idx a string", `{"status":{"status_list":{"idx":"1","uri":"u"}}}`, statuslist.ListReference{}, false},
		{"uri missing", `{"status":{"status_list":{"idx":1}}}`, statuslist.ListReference{}, false},
		{"not JSON", `{`, statuslist.ListReference{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := statuslist.ParseReference([]byte(tc.claims))
			if !tc.ok {
				if !errors.Is(err, statuslist.ErrNoReference) {
					t.Fatalf("ParseReference = %+v, %v; want ErrNoReference", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseReference = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// The claim value the server puts into tokens reads back with
// ParseReference.
func TestReferenceRoundTrip(t *testing.T) {
	b, err := json.Marshal(map[string]any{"status": &statuslist.Reference{StatusList: &statuslist.ListReference{Idx: 42, URI: "https://authz/statuslists/1"}}})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"status":{"status_list":{"idx":42,"uri":"https://authz/statuslists/1"}}}` {
		t.Fatalf("claim = %s", b)
	}
	got, err := statuslist.ParseReference(b)
	if err != nil || got.Idx != 42 || got.URI != "https://authz/statuslists/1" {
		t.Fatalf("ParseReference = %+v, %v", got, err)
	}
}

func TestParseToken(t *testing.T) {
	const uri, iss = "https://authz.example/statuslists/1", "https://authz.example"
	now := time.Unix(1_800_000_000, 0)
	good := statuslist.Token{Issuer: iss, Subject: uri, IssuedAt: now.Unix() - 10, Expiry: now.Unix() + 300, TTL: 30,
		StatusList: statuslist.Encoded{Bits: 1, Lst: "eNrbuRgAAhcBXQ"}}
	for _, tc := range []struct {
		name   string
		mutate func(*statuslist.Token)
		iss    string
		ok     bool
	}{
		{"valid", func(*statuslist.Token) {}, iss, true},
		{"issuer not checked when not given", func(t *statuslist.Token) { t.Issuer = "" }, "", true},
		{"no exp", func(t *statuslist.Token) { t.Expiry = 0 }, iss, true},
		{"iat within leeway", func(t *statuslist.Token) { t.IssuedAt = now.Unix() + 30 }, iss, true},
		{"sub is another list", func(t *statuslist.Token) { t.Subject = uri + "0" }, iss, false},
		{"sub missing", func(t *statuslist.Token) { t.Subject = "" }, iss, false},
		{"iss differs", func(t *statuslist.Token) { t.Issuer = "https://evil.example" }, iss, false},
		{"iss missing though expected", func(t *statuslist.Token) { t.Issuer = "" }, iss, false},
		{"iat missing", func(t *statuslist.Token) { t.IssuedAt = 0 }, iss, false},
		{"iat in the future", func(t *statuslist.Token) { t.IssuedAt = now.Unix() + 120 }, iss, false},
		{"expired", func(t *statuslist.Token) { t.Expiry = now.Unix() - 120 }, iss, false},
		{"negative ttl", func(t *statuslist.Token) { t.TTL = -1 }, iss, false},
		{"bad bits", func(t *statuslist.Token) { t.StatusList.Bits = 3 }, iss, false},
		{"bad lst", func(t *statuslist.Token) { t.StatusList.Lst = "!!" }, iss, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := good
			tc.mutate(&tok)
			claims, err := json.Marshal(tok)
			if err != nil {
				t.Fatal(err)
			}
			got, l, err := statuslist.ParseToken(claims, uri, tc.iss, now, time.Minute)
			if !tc.ok {
				if err == nil {
					t.Fatal("ParseToken accepted it")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.TTL != tok.TTL || got.Subject != uri {
				t.Fatalf("token = %+v", got)
			}
			if s, err := l.Get(0); err != nil || s != statuslist.Invalid {
				t.Fatalf("Get(0) = %v, %v; want INVALID", s, err)
			}
		})
	}
	if _, _, err := statuslist.ParseToken([]byte(`[]`), uri, iss, now, 0); !errors.Is(err, statuslist.ErrTokenInvalid) {
		t.Fatalf("non-object claims: %v", err)
	}
}

// FuzzParseReference: never panics; what it accepts has a non-negative
// index and a URI.
func FuzzParseReference(f *testing.F) {
	f.Add(`{"status":{"status_list":{"idx":0,"uri":"https://example.com/statuslists/1"}}}`)
	f.Add(`{"status":{"status_list":{"idx":-1,"uri":""}}}`)
	f.Add(`{"status":null}`)
	f.Add(`{"status":{"status_list":{"idx":1e3,"uri":"u"}}}`)
	f.Fuzz(func(t *testing.T, claims string) {
		r, err := statuslist.ParseReference([]byte(claims))
		if err != nil {
			return
		}
		if r.Idx < 0 || r.URI == "" {
			t.Fatalf("accepted %+v", r)
		}
	})
}
