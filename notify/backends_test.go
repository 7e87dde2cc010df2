package notify

import (
	"testing"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

// eachBackend runs fn on a fresh store of every backend (storetest.Each).
func eachBackend(t *testing.T, fn func(t *testing.T, st store.Store)) {
	storetest.Each(t, func(t *testing.T, open func(testing.TB) store.Store) { fn(t, open(t)) })
}
