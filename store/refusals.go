package store

import (
	"context"
	"time"
)

// RefusalRetention is how long refusal counts are kept: the hourly purge
// of alert state (PurgeAlertState) deletes older hours.
const RefusalRetention = 90 * 24 * time.Hour

// RefusalCount is a number of refused token requests of one tenant ("" for
// a request that named no known tenant) with one error_code within the
// hour starting at Hour: the increments of the token endpoint's counter
// authz_token_requests_total{outcome="refused"}, which has no tenant label.
type RefusalCount struct {
	TenantID  string
	Hour      time.Time // truncated to the hour, UTC
	ErrorCode string
	N         int64
}

// RefusalFilter selects refusal counts from the hour that contains Since.
// AllTenants sums them over every tenant (the result's TenantID is then
// ""); otherwise only TenantID's are read ("" is the requests of no known
// tenant).
type RefusalFilter struct {
	Since      time.Time
	TenantID   string
	AllTenants bool
}

// RefusalQueries read refusal counts.
type RefusalQueries interface {
	// ListRefusalCounts returns the counts the filter selects, by hour
	// then error_code: at most one row per hour and error_code.
	ListRefusalCounts(ctx context.Context, f RefusalFilter) ([]RefusalCount, error)
}

// RefusalMutations write refusal counts.
type RefusalMutations interface {
	// RecordRefusals adds the counts to their (tenant, hour, error_code)
	// rows, creating them as needed, atomically: all or none.
	RecordRefusals(ctx context.Context, cs []RefusalCount) error
}
