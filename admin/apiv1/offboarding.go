package apiv1

import "time"

// PrincipalStatusChange is the optional body of POST
// /principals/{id}/suspend, POST /principals/{id}/resume and DELETE
// /principals/{id}; reason and dry_run may also be query parameters.
type PrincipalStatusChange struct {
	// Reason is kept in the audit event and shown by key diagnose.
	Reason string `json:"reason,omitempty"`
	// DryRun lists what would stop working and changes nothing.
	DryRun bool `json:"dry_run,omitempty"`
}

// PrincipalChanged is the answer to a suspension, resumption or deletion:
// the principal as it now is (or would be left, on a dry run) and what the
// change stops.
type PrincipalChanged struct {
	Principal
	DryRun bool `json:"dry_run"`
	// Changed is false on a dry run and when the principal already had
	// the status asked for.
	Changed bool               `json:"changed"`
	Reason  string             `json:"reason,omitempty"`
	Impact  *OffboardingImpact `json:"impact,omitempty"`
}

// OffboardingImpact is what a principal's suspension or deletion stops.
type OffboardingImpact struct {
	Credentials   []OwnedCredential `json:"credentials"`
	ActiveKeys    int               `json:"active_keys"`
	ActiveClients int               `json:"active_clients"`
	// UsedRecently counts credentials used in the last 7 days.
	UsedRecently int `json:"used_recently"`
	// TokenWindow is the window in which issued tokens are counted as
	// outstanding (the longest token lifetime).
	TokenWindow string    `json:"token_window"`
	AsOf        time.Time `json:"as_of"`
}

// OwnedCredential is a legacy key or client of the principal.
type OwnedCredential struct {
	Type              string     `json:"type"` // "legacy_key" or "client"
	ID                string     `json:"id"`
	Name              string     `json:"name,omitempty"`
	Status            string     `json:"status"`
	LastUsedAt        *time.Time `json:"last_used_at,omitempty"`
	Uses24h           *int64     `json:"uses_24h,omitempty"`
	OutstandingTokens *int64     `json:"outstanding_tokens,omitempty"`
	UsedRecently      bool       `json:"used_recently"`
	Remedy            string     `json:"remedy,omitempty"`
}
