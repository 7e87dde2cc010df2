package adminclient

import (
	"context"
	"fmt"
	"net/http"

	"github.com/authz/authz/admin/apiv1"
)

// ChangePrincipal suspends ("suspend"), resumes ("resume") or deletes
// ("delete") a principal with an optional reason, or with req.DryRun only
// lists what the change would stop. The answer lists the keys and clients
// the principal owns either way.
func (c *Client) ChangePrincipal(ctx context.Context, id, verb string, req apiv1.PrincipalStatusChange) (apiv1.PrincipalChanged, error) {
	var out apiv1.PrincipalChanged
	method, path := http.MethodPost, "/principals/"+pathID(id)+"/"+verb
	switch verb {
	case "suspend", "resume":
	case "delete":
		method, path = http.MethodDelete, "/principals/"+pathID(id)
	default:
		return out, fmt.Errorf("adminclient: no principal change %q", verb)
	}
	return out, c.do(ctx, method, path, nil, req, &out)
}
