package adminclient

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/authz/authz/admin/apiv1"
	"github.com/authz/authz/legacykeys"
	"github.com/authz/authz/store"
)

// DiagnoseKey explains a legacy key given as its id or as the key itself;
// the key travels in a request body, never in a URL.
func (c *Client) DiagnoseKey(ctx context.Context, keyOrID string) (legacykeys.Diagnosis, error) {
	var out legacykeys.Diagnosis
	if store.HasPrefix(keyOrID, store.PrefixKey) {
		err := c.do(ctx, http.MethodGet, "/keys/"+pathID(keyOrID)+"/diagnosis", nil, nil, &out)
		var e *Error
		if !errors.As(err, &e) || e.Code != "not_found" {
			return out, err
		}
		// Not a key id after all: an old system's key may look like one.
	}
	return out, c.do(ctx, http.MethodPost, "/keys/diagnose", nil, apiv1.DiagnoseKey{Key: keyOrID}, &out)
}

// MigrationReport reports, per tenant and per key holder, how far the move
// from legacy keys to tokens has come. tenantID "" = every tenant the
// caller sees.
func (c *Client) MigrationReport(ctx context.Context, tenantID string) (legacykeys.MigrationReport, error) {
	var out legacykeys.MigrationReport
	return out, c.do(ctx, http.MethodGet, "/reports/migration", tenantQuery(tenantID), nil, &out)
}

// Orphans lists active keys whose owner or tenant is not usable.
func (c *Client) Orphans(ctx context.Context, tenantID string) ([]legacykeys.Orphan, error) {
	var out apiv1.List[legacykeys.Orphan]
	err := c.do(ctx, http.MethodGet, "/reports/orphans", tenantQuery(tenantID), nil, &out)
	return out.Items, err
}

// Expiring lists active keys expiring within the given time.
func (c *Client) Expiring(ctx context.Context, tenantID string, within time.Duration) ([]apiv1.LegacyKey, error) {
	q := tenantQuery(tenantID)
	if within > 0 {
		q.Set("within", strconv.FormatInt(int64(within.Seconds()), 10))
	}
	var out apiv1.List[apiv1.LegacyKey]
	err := c.do(ctx, http.MethodGet, "/reports/expiring", q, nil, &out)
	return out.Items, err
}

func tenantQuery(tenantID string) url.Values {
	q := url.Values{}
	set(q, "tenant_id", tenantID)
	return q
}
