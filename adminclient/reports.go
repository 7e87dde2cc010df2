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

// OrphansPage lists one page of the active keys whose owner or tenant is
// not usable, by key id, and the cursor of the next page ("" after the
// last).
func (c *Client) OrphansPage(ctx context.Context, tenantID string, p Page) ([]legacykeys.Orphan, string, error) {
	q := p.query()
	set(q, "tenant_id", tenantID)
	var out apiv1.List[legacykeys.Orphan]
	err := c.do(ctx, http.MethodGet, "/reports/orphans", q, nil, &out)
	return out.Items, out.Next, err
}

// Orphans lists every orphan, page by page.
func (c *Client) Orphans(ctx context.Context, tenantID string) ([]legacykeys.Orphan, error) {
	return all(func(after string) ([]legacykeys.Orphan, string, error) {
		return c.OrphansPage(ctx, tenantID, Page{Limit: store.MaxLimit, After: after})
	})
}

// ExpiringPage lists one page of the active keys expiring within the
// given time, soonest first, and the cursor of the next page.
func (c *Client) ExpiringPage(ctx context.Context, tenantID string, within time.Duration, p Page) ([]apiv1.LegacyKey, string, error) {
	q := p.query()
	set(q, "tenant_id", tenantID)
	if within > 0 {
		q.Set("within", strconv.FormatInt(int64(within.Seconds()), 10))
	}
	var out apiv1.List[apiv1.LegacyKey]
	err := c.do(ctx, http.MethodGet, "/reports/expiring", q, nil, &out)
	return out.Items, out.Next, err
}

// Expiring lists every active key expiring within the given time.
func (c *Client) Expiring(ctx context.Context, tenantID string, within time.Duration) ([]apiv1.LegacyKey, error) {
	return all(func(after string) ([]apiv1.LegacyKey, string, error) {
		return c.ExpiringPage(ctx, tenantID, within, Page{Limit: store.MaxLimit, After: after})
	})
}

// MigrationHistory returns the daily counts by holder state of the last
// days days (0: the server's default, 90), oldest first.
func (c *Client) MigrationHistory(ctx context.Context, tenantID string, days int) ([]legacykeys.MigrationDay, error) {
	q := tenantQuery(tenantID)
	if days > 0 {
		q.Set("days", strconv.Itoa(days))
	}
	var out apiv1.List[legacykeys.MigrationDay]
	err := c.do(ctx, http.MethodGet, "/reports/migration/history", q, nil, &out)
	return out.Items, err
}

// all follows the pages of a listing to its end.
func all[T any](page func(after string) ([]T, string, error)) ([]T, error) {
	out := []T{}
	after := ""
	for {
		items, next, err := page(after)
		if err != nil {
			return nil, err
		}
		out = append(out, items...)
		if next == "" || len(items) == 0 {
			return out, nil
		}
		after = next
	}
}

func tenantQuery(tenantID string) url.Values {
	q := url.Values{}
	set(q, "tenant_id", tenantID)
	return q
}
