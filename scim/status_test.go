package scim_test

import (
	"testing"

	"github.com/authz/authz/server/servertest"
)

// TestOperatorSuspensionOutlastsRoutinePushes: an IdP re-sends active=true
// for every user it reconciles; that must not lift a suspension an
// operator made, while a reactivation in the IdP (false, then true) does.
func TestOperatorSuspensionOutlastsRoutinePushes(t *testing.T) {
	e := servertest.Start(t, "sqlite:"+t.TempDir()+"/authz.db")
	w := newWorld(t, e, "opsco")
	sc := w.sc
	id := sc.want(sc.do("POST", "/Users", oktaCreate), 201, "").str("id")
	if _, err := w.a.SuspendPrincipal(e.Ctx(), id); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, method, body string
		active             bool
	}{
		{"routine put", "PUT", oktaPut(id, true), false},
		{"routine patch", "PATCH", oktaActive(true), false},
		{"deactivated in the IdP", "PATCH", oktaActive(false), false},
		{"reactivated in the IdP", "PATCH", entraActive("True"), true},
	} {
		r := sc.want(sc.do(c.method, "/Users/"+id, c.body), 200, "")
		if r.Body["active"] != c.active {
			t.Fatalf("%s: active %v, want %v", c.name, r.Body["active"], c.active)
		}
	}
	p, err := w.a.GetPrincipal(e.Ctx(), id)
	if err != nil || p.Status != "active" || p.StatusChangedBy != "scim:"+w.token.ID {
		t.Fatalf("after the reactivation: %+v %v", p, err)
	}
}
