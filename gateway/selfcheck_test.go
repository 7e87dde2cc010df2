package gateway_test

import (
	"strings"
	"testing"

	"github.com/authz/authz/gateway"
	"github.com/authz/authz/server/servertest"
	"github.com/authz/authz/store/storetest"
)

// TestCheckExchangeClient runs the gateway's start-up check against a real
// token endpoint: the endpoint authenticates the client and checks its
// grants before it looks at the subject token, so only a client that may
// exchange gets as far as key_malformed.
func TestCheckExchangeClient(t *testing.T) {
	e := servertest.Start(t, storetest.SQLiteURL(t))
	f := e.Standard("gw")
	noGrant, noGrantSecret := e.MkClient(f.Owner, nil) // client_credentials only
	suspendedOwner := e.Standard("gone")
	e.SuspendPrincipal(suspendedOwner.Owner.ID)
	endpoint := e.Issuer + "/oauth2/token"
	tests := []struct {
		name, id, secret string
		want             []string // "" : starts
	}{
		{"may exchange", f.Client.ID, f.Secret, nil},
		{"no token-exchange grant", noGrant.ID, noGrantSecret, []string{"grant_not_allowed", noGrant.ID, gateway.FixExchangeClient}},
		{"wrong secret", f.Client.ID, "not-the-secret-not-the-secret-not-the", []string{"client_invalid", "AUTHZ_CLIENT_SECRET"}},
		{"unknown client", "cli_nobody", "whatever-whatever-whatever-whatever", []string{"client_invalid"}},
		{"suspended owner", suspendedOwner.Client.ID, suspendedOwner.Secret, []string{"client_suspended"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := gateway.CheckExchangeClient(t.Context(), nil, endpoint, tt.id, tt.secret)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused a client that may exchange: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\nlacks %q", err, w)
				}
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		err := gateway.CheckExchangeClient(t.Context(), nil, "http://127.0.0.1:1/oauth2/token", f.Client.ID, f.Secret)
		if err == nil || !strings.Contains(err.Error(), "cannot reach") {
			t.Fatalf("err = %v", err)
		}
	})
}
