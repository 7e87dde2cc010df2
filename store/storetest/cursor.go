package storetest

import (
	"errors"
	"testing"

	"github.com/authz/authz/store"
)

// testBadCursors: a cursor no listing could have returned is
// store.ErrBadCursor, which the admin API answers 400 rather than 500
// (issue 18 §7), on every backend.
func testBadCursors(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	for _, tc := range []struct {
		name string
		list func(after string) error
		bad  []string
	}{
		{"audit", func(after string) error {
			_, _, err := s.ListAudit(ctx, store.AuditFilter{}, store.Page{After: after})
			return err
		}, []string{"abc", "18446744073709551616", "99999999999999999999999", "-1", "1.5", " 1"}},
		{"audit descending", func(after string) error {
			_, _, err := s.ListAudit(ctx, store.AuditFilter{Descending: true}, store.Page{After: after})
			return err
		}, []string{"abc", "18446744073709551616"}},
		{"bindings", func(after string) error {
			_, _, err := s.ListBindings(ctx, store.BindingFilter{}, store.Page{After: after})
			return err
		}, []string{"abc", "prn_only"}},
	} {
		for _, after := range tc.bad {
			if err := tc.list(after); !errors.Is(err, store.ErrBadCursor) {
				t.Errorf("%s after=%q: err = %v, want store.ErrBadCursor", tc.name, after, err)
			}
		}
	}
	// Well-formed cursors past the end are fine: an empty page.
	if _, _, err := s.ListAudit(ctx, store.AuditFilter{}, store.Page{After: "9223372036854775807"}); err != nil {
		t.Errorf("audit after max int64: %v", err)
	}
	if _, _, err := s.ListBindings(ctx, store.BindingFilter{}, store.Page{After: "prn_z rol_z"}); err != nil {
		t.Errorf("bindings after a well-formed cursor: %v", err)
	}
}
