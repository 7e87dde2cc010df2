package policy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/authz/authz/errcode"
	"github.com/authz/authz/store"
)

type registry map[string]store.Audience

func (r registry) GetAudienceByIdentifier(_ context.Context, id string) (store.Audience, error) {
	if id == "https://down" {
		return store.Audience{}, store.ErrUnavailable
	}
	a, ok := r[id]
	if !ok {
		return store.Audience{}, store.ErrNotFound
	}
	return a, nil
}

func TestCheckAudiences(t *testing.T) {
	reg := registry{
		"https://a-api": {ID: "aud_a", Identifier: "https://a-api", TenantID: "ten_a"},
		"https://b-api": {ID: "aud_b", Identifier: "https://b-api", TenantID: "ten_b", SharedWith: []string{"ten_c"}},
	}
	open := []string{"https://issuer"}
	for _, c := range []struct {
		name   string
		tenant string
		aud    []string
		want   errcode.Code // "" = allowed
	}{
		{"own audience", "ten_a", []string{"https://a-api"}, ""},
		{"the issuer needs no registration", "ten_a", []string{"https://issuer"}, ""},
		{"none", "ten_a", nil, ""},
		{"another tenant's audience", "ten_a", []string{"https://b-api"}, errcode.AudienceNotGranted},
		{"one foreign among own", "ten_a", []string{"https://a-api", "https://b-api"}, errcode.AudienceNotGranted},
		{"shared with the tenant", "ten_c", []string{"https://b-api"}, ""},
		{"unregistered", "ten_a", []string{"https://nobody"}, errcode.AudienceNotGranted},
		{"no tenant", "", []string{"https://a-api"}, errcode.AudienceNotGranted},
		{"storage down", "ten_a", []string{"https://down"}, errcode.Internal},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := CheckAudiences(context.Background(), reg, c.tenant, c.aud, open)
			if got := errcode.Of(err); got != c.want {
				t.Fatalf("err = %v (code %q), want code %q", err, got, c.want)
			}
			if c.want == errcode.Internal && !errors.Is(err, store.ErrUnavailable) {
				t.Fatalf("outage not passed on: %v", err)
			}
		})
	}
	// Registered by another tenant and registered by nobody read the same.
	foreign := CheckAudiences(context.Background(), reg, "ten_a", []string{"https://b-api"}, open)
	unknown := CheckAudiences(context.Background(), reg, "ten_a", []string{"https://c-api"}, open)
	e1, _ := errcode.As(foreign)
	e2, _ := errcode.As(unknown)
	if strings.ReplaceAll(e1.Text(), "b-api", "X") != strings.ReplaceAll(e2.Text(), "c-api", "X") {
		t.Fatalf("refusals differ: %q vs %q", e1.Text(), e2.Text())
	}
}
