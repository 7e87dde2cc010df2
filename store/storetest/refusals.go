package storetest

import (
	"testing"
	"time"

	"github.com/authz/authz/store"
)

// testRefusalCounts: two flushes add up, a tenant reads only its own rows
// (and "" only the no-tenant rows), every tenant reads the sums, since
// starts at its hour, and the purge drops hours past the retention.
func testRefusalCounts(t *testing.T, s store.Store) {
	ctx := ctxOf(t)
	hour := t0.Truncate(time.Hour)
	must(t, s.RecordRefusals(ctx, []store.RefusalCount{
		{TenantID: "ten_a", Hour: hour, ErrorCode: "client_invalid", N: 2},
		{TenantID: "ten_a", Hour: hour.Add(-2 * time.Hour), ErrorCode: "rate_limited", N: 5},
		{TenantID: "ten_b", Hour: hour, ErrorCode: "client_invalid", N: 1},
		{TenantID: "", Hour: hour, ErrorCode: "invalid_request", N: 4},
		{TenantID: "ten_a", Hour: hour, ErrorCode: "ignored", N: 0},
	}))
	// A second flush: the same rows add up; a time within the hour is
	// the hour's.
	must(t, s.RecordRefusals(ctx, []store.RefusalCount{
		{TenantID: "ten_a", Hour: hour.Add(59 * time.Minute), ErrorCode: "client_invalid", N: 3},
		{TenantID: "", Hour: hour, ErrorCode: "invalid_request", N: 1},
		{TenantID: "ten_a", Hour: hour.Add(-100 * 24 * time.Hour), ErrorCode: "client_invalid", N: 7},
	}))
	must(t, s.RecordRefusals(ctx, nil))
	rc := func(tenant string, h time.Time, code string, n int64) store.RefusalCount {
		return store.RefusalCount{TenantID: tenant, Hour: h, ErrorCode: code, N: n}
	}
	for _, c := range []struct {
		name string
		f    store.RefusalFilter
		want []store.RefusalCount
	}{
		{"one tenant", store.RefusalFilter{TenantID: "ten_a", Since: t0.Add(-3 * time.Hour)},
			[]store.RefusalCount{rc("ten_a", hour.Add(-2*time.Hour), "rate_limited", 5), rc("ten_a", hour, "client_invalid", 5)}},
		{"since is its hour's start", store.RefusalFilter{TenantID: "ten_a", Since: t0.Add(-2 * time.Hour)},
			[]store.RefusalCount{rc("ten_a", hour.Add(-2*time.Hour), "rate_limited", 5), rc("ten_a", hour, "client_invalid", 5)}},
		{"later", store.RefusalFilter{TenantID: "ten_a", Since: t0.Add(-time.Hour)},
			[]store.RefusalCount{rc("ten_a", hour, "client_invalid", 5)}},
		{"other tenant", store.RefusalFilter{TenantID: "ten_b", Since: t0.Add(-3 * time.Hour)},
			[]store.RefusalCount{rc("ten_b", hour, "client_invalid", 1)}},
		{"no known tenant", store.RefusalFilter{Since: t0.Add(-3 * time.Hour)},
			[]store.RefusalCount{rc("", hour, "invalid_request", 5)}},
		{"unknown tenant", store.RefusalFilter{TenantID: "ten_none", Since: t0.Add(-3 * time.Hour)}, nil},
		{"every tenant", store.RefusalFilter{AllTenants: true, Since: t0.Add(-3 * time.Hour)},
			[]store.RefusalCount{rc("", hour.Add(-2*time.Hour), "rate_limited", 5), rc("", hour, "client_invalid", 6), rc("", hour, "invalid_request", 5)}},
		{"every tenant, 120 days", store.RefusalFilter{AllTenants: true, Since: t0.Add(-120 * 24 * time.Hour)},
			[]store.RefusalCount{rc("", hour.Add(-100*24*time.Hour), "client_invalid", 7), rc("", hour.Add(-2*time.Hour), "rate_limited", 5), rc("", hour, "client_invalid", 6), rc("", hour, "invalid_request", 5)}},
	} {
		got, err := s.ListRefusalCounts(ctx, c.f)
		must(t, err)
		if !sameRefusals(got, c.want) {
			t.Errorf("%s: ListRefusalCounts(%+v) = %+v, want %+v", c.name, c.f, got, c.want)
		}
	}
	// The purge keeps 90 days of refusal counts (and so only the row of
	// 100 days ago goes), whatever it is told about hourly uses.
	n, err := s.PurgeAlertState(ctx, t0, t0.Add(-24*time.Hour))
	must(t, err)
	if n != 1 {
		t.Errorf("purged %d rows, want the refusal count of 100 days ago", n)
	}
	got, err := s.ListRefusalCounts(ctx, store.RefusalFilter{TenantID: "ten_a", Since: t0.Add(-120 * 24 * time.Hour)})
	must(t, err)
	if want := []store.RefusalCount{rc("ten_a", hour.Add(-2*time.Hour), "rate_limited", 5), rc("ten_a", hour, "client_invalid", 5)}; !sameRefusals(got, want) {
		t.Errorf("after the purge: %+v, want %+v", got, want)
	}
}

func sameRefusals(a, b []store.RefusalCount) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].TenantID != b[i].TenantID || !a[i].Hour.Equal(b[i].Hour) || a[i].ErrorCode != b[i].ErrorCode || a[i].N != b[i].N {
			return false
		}
	}
	return true
}
