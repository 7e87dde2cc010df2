package store

import (
	"context"
	"time"
)

// This file holds what the offboarding report and the alert detectors
// (package alerts) keep: hourly use counts of credentials, the network
// prefixes each credential was used from, and alert marks that let only
// one replica raise a given alert.

// HourlyUse is a number of uses of one credential ("key:<id>" or
// "client:<id>") within the hour starting at Hour.
type HourlyUse struct {
	Credential string
	Hour       time.Time // truncated to the hour, UTC
	Uses       int64
}

// CredentialNetwork is a network prefix ("192.0.2.0/24", "2001:db8:1::/48")
// from which a credential was used.
type CredentialNetwork struct {
	Credential string
	Prefix     string
	FirstSeen  time.Time
	LastSeen   time.Time
}

// AlertQueries are the reads of the offboarding report and the detectors.
type AlertQueries interface {
	// UsesSince sums the credential's hourly use counts from the hour that
	// contains since (so it may count up to an hour more than asked).
	UsesSince(ctx context.Context, credential string, since time.Time) (int64, error)
	// ListCredentialNetworks returns up to limit prefixes the credential
	// was used from, earliest first seen first.
	ListCredentialNetworks(ctx context.Context, credential string, limit int) ([]CredentialNetwork, error)
}

// AlertMutations are the writes of the offboarding report and the
// detectors.
type AlertMutations interface {
	// RecordHourlyUse adds the counts to the credentials' hours.
	RecordHourlyUse(ctx context.Context, us []HourlyUse) error
	// AddCredentialNetwork records a prefix of a credential. It returns
	// true if the prefix was new; otherwise it only advances LastSeen.
	AddCredentialNetwork(ctx context.Context, n CredentialNetwork) (bool, error)
	// ClaimAlert stores an alert mark that lives until until. It returns
	// true if this call stored it and false if the mark already exists
	// (another replica, or an earlier call, raised that alert): one
	// atomic statement, so two replicas never both get true.
	ClaimAlert(ctx context.Context, key string, at, until time.Time) (bool, error)
	// CountAlert adds one to the counter key, which lives until until
	// (an expired counter starts again from zero), and returns the new
	// count. Replicas share it: concurrent calls get distinct counts.
	CountAlert(ctx context.Context, key string, at, until time.Time) (int64, error)
	// PurgeAlertState deletes hourly counts of hours before usesBefore,
	// alert marks that expired before now, and refusal counts of hours
	// that ended RefusalRetention before now; it returns how many rows went.
	PurgeAlertState(ctx context.Context, now, usesBefore time.Time) (int64, error)
}
