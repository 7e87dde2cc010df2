package audit

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/authz/authz/store"
)

func TestChanges(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	active := store.Principal{ID: "prn_1", TenantID: "ten_1", Kind: store.KindUser, DisplayName: "Ada", Status: store.StatusActive, CreatedAt: t0, UpdatedAt: t0}
	suspended := active
	suspended.Status = store.StatusSuspended
	suspended.StatusChangedBy = "admin:cli_root"

	key := store.LegacyKey{ID: "key_1", Hash: []byte("old-hash"), OwnerID: "prn_1", Status: store.StatusActive}
	rehashed := key
	rehashed.Hash = []byte("new-hash")
	rehashed.OwnerID = "prn_2"

	client := store.Client{ID: "cli_1", Secrets: []store.ClientSecret{{ID: "sec_1", Hash: []byte("h1")}}}
	rotated := client
	rotated.Secrets = []store.ClientSecret{{ID: "sec_2", Hash: []byte("h2")}}

	type nested struct {
		Name   string
		Config map[string]string
	}

	tests := []struct {
		name   string
		before any
		after  any
		want   string
	}{
		{"status change", active, suspended,
			`{"Status":{"from":"active","to":"suspended"},"StatusChangedBy":{"from":"","to":"admin:cli_root"}}`},
		{"nothing changed", active, active, `{}`},
		{"hash shows only that it changed", key, rehashed,
			`{"Hash":{"changed":true},"OwnerID":{"from":"prn_1","to":"prn_2"}}`},
		{"client secrets show only that they changed", client, rotated, `{"Secrets":{"changed":true}}`},
		{"creation: every field from null", nil, struct{ Name string }{"x"}, `{"Name":{"from":null,"to":"x"}}`},
		{"deletion: every field to null", struct{ Name string }{"x"}, nil, `{"Name":{"from":"x","to":null}}`},
		{"secrets nested in a changed field are redacted",
			nested{Name: "a", Config: map[string]string{"client_secret": "s1", "url": "u1"}},
			nested{Name: "a", Config: map[string]string{"client_secret": "s2", "url": "u2"}},
			`{"Config":{"from":{"client_secret":"[redacted]","url":"u1"},"to":{"client_secret":"[redacted]","url":"u2"}}}`},
		{"unmarshalable value", make(chan int), 1, ``},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Changes(tc.before, tc.after)
			if string(got) != tc.want {
				t.Fatalf("Changes = %s\nwant      %s", got, tc.want)
			}
			if got != nil && !json.Valid(got) {
				t.Fatalf("Changes returned invalid JSON %s", got)
			}
		})
	}
}

func TestChangesNeverLeaksSecretValues(t *testing.T) {
	type creds struct {
		KeyID        string
		Key          string
		Private      []byte
		PrivateKey   string
		SecretHash   []byte
		ClientSecret string `json:"client_secret"`
		Password     string
		AccessToken  string
	}
	before := creds{"kid-1", "SECRET-A1", []byte("SECRET-A2"), "SECRET-A3", []byte("SECRET-A4"), "SECRET-A5", "SECRET-A6", "SECRET-A7"}
	after := creds{"kid-2", "SECRET-B1", []byte("SECRET-B2"), "SECRET-B3", []byte("SECRET-B4"), "SECRET-B5", "SECRET-B6", "SECRET-B7"}
	got := string(Changes(before, after))
	if strings.Contains(got, "SECRET") || strings.Contains(got, "U0VDUkVU") { // plain or base64
		t.Fatalf("Changes leaked a secret value: %s", got)
	}
	if !strings.Contains(got, `"KeyID":{"from":"kid-1","to":"kid-2"}`) {
		t.Fatalf("Changes hid a field that only mentions a key: %s", got)
	}
	for _, f := range []string{"Key", "Private", "PrivateKey", "SecretHash", "client_secret", "Password", "AccessToken"} {
		if !strings.Contains(got, `"`+f+`":{"changed":true}`) {
			t.Errorf("%s: change not reported as changed=true in %s", f, got)
		}
	}
}
