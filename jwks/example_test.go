package jwks_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/authz/authz/jwks"
	"github.com/authz/authz/masterkey"
	"github.com/authz/authz/store/sqlite"
)

// A server creates its keys on first start, signs access tokens through
// the fosite Signer (or Sign), publishes the JWKS with ServeHTTP and keeps
// the keys rotating with Run.
func ExampleManager() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "jwks-example")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "authz.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	keys, err := jwks.NewManager(st, masterkey.Generate(), jwks.Config{Alg: jwks.ES256})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := keys.Init(ctx); err != nil { // creates the current and the next key
		fmt.Println(err)
		return
	}
	// go keys.Run(ctx); http.Handle("/.well-known/jwks.json", keys)
	// strategy := &oauth2.DefaultJWTStrategy{Signer: keys.Signer(), ...}

	token, _ := keys.Sign(ctx, map[string]any{"sub": "svc-orders"}, jwks.TypeAccessToken)
	claims, _, err := keys.Verify(ctx, token, jwks.TypeAccessToken)
	fmt.Println(string(claims), err)

	list, _ := keys.List(ctx)
	var states []string
	for _, k := range list {
		states = append(states, k.Alg+" "+string(k.State))
	}
	slices.Sort(states)
	fmt.Println(states)
	// Output:
	// {"sub":"svc-orders"} <nil>
	// [ES256 current ES256 next]
}
