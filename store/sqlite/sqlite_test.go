package sqlite_test

import (
	"testing"

	"github.com/authz/authz/store"
	"github.com/authz/authz/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.OpenSQLite(t) })
}
