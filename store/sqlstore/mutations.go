package sqlstore

import (
	"context"
	"time"

	"github.com/authz/authz/store"
)

// The Store's writes: each runs in a transaction of its own, with the same
// code a caller's Tx runs.

// do runs fn in a transaction of its own and returns its result.
func do[T any](ctx context.Context, s *Store, fn func(t *txn) (T, error)) (T, error) {
	var out T
	err := s.inTx(ctx, func(t *txn) error {
		var err error
		out, err = fn(t)
		return err
	})
	if err != nil {
		var zero T
		return zero, err
	}
	return out, nil
}

// CreateTenant implements store.Mutations in a transaction of its own.
func (s *Store) CreateTenant(ctx context.Context, t store.Tenant) error {
	return s.inTx(ctx, func(x *txn) error { return x.CreateTenant(ctx, t) })
}

// UpdateTenant implements store.Mutations in a transaction of its own.
func (s *Store) UpdateTenant(ctx context.Context, id string, fn func(store.Tenant) (store.Tenant, error)) (store.Tenant, error) {
	return do(ctx, s, func(x *txn) (store.Tenant, error) { return x.UpdateTenant(ctx, id, fn) })
}

// CreatePrincipal implements store.Mutations in a transaction of its own.
func (s *Store) CreatePrincipal(ctx context.Context, p store.Principal) error {
	return s.inTx(ctx, func(x *txn) error { return x.CreatePrincipal(ctx, p) })
}

// UpdatePrincipal implements store.Mutations in a transaction of its own.
func (s *Store) UpdatePrincipal(ctx context.Context, id string, fn func(store.Principal) (store.Principal, error)) (store.Principal, error) {
	return do(ctx, s, func(x *txn) (store.Principal, error) { return x.UpdatePrincipal(ctx, id, fn) })
}

// CreateClient implements store.Mutations in a transaction of its own.
func (s *Store) CreateClient(ctx context.Context, c store.Client) error {
	return s.inTx(ctx, func(x *txn) error { return x.CreateClient(ctx, c) })
}

// UpdateClient implements store.Mutations in a transaction of its own.
func (s *Store) UpdateClient(ctx context.Context, id string, fn func(store.Client) (store.Client, error)) (store.Client, error) {
	return do(ctx, s, func(x *txn) (store.Client, error) { return x.UpdateClient(ctx, id, fn) })
}

// DeleteClient implements store.Mutations in a transaction of its own.
func (s *Store) DeleteClient(ctx context.Context, id string, at time.Time) error {
	return s.inTx(ctx, func(x *txn) error { return x.DeleteClient(ctx, id, at) })
}

// CreateRole implements store.Mutations in a transaction of its own.
func (s *Store) CreateRole(ctx context.Context, r store.Role) error {
	return s.inTx(ctx, func(x *txn) error { return x.CreateRole(ctx, r) })
}

// UpdateRole implements store.Mutations in a transaction of its own.
func (s *Store) UpdateRole(ctx context.Context, id string, fn func(store.Role) (store.Role, error)) (store.Role, error) {
	return do(ctx, s, func(x *txn) (store.Role, error) { return x.UpdateRole(ctx, id, fn) })
}

// DeleteRole implements store.Mutations in a transaction of its own.
func (s *Store) DeleteRole(ctx context.Context, id string) error {
	return s.inTx(ctx, func(x *txn) error { return x.DeleteRole(ctx, id) })
}

// CreateBinding implements store.Mutations in a transaction of its own.
func (s *Store) CreateBinding(ctx context.Context, b store.Binding) error {
	return s.inTx(ctx, func(x *txn) error { return x.CreateBinding(ctx, b) })
}

// DeleteBinding implements store.Mutations in a transaction of its own.
func (s *Store) DeleteBinding(ctx context.Context, principalID, roleID string) error {
	return s.inTx(ctx, func(x *txn) error { return x.DeleteBinding(ctx, principalID, roleID) })
}

// CreateLegacyKey implements store.Mutations in a transaction of its own.
func (s *Store) CreateLegacyKey(ctx context.Context, k store.LegacyKey) error {
	return s.inTx(ctx, func(x *txn) error { return x.CreateLegacyKey(ctx, k) })
}

// CreateLegacyKeys implements store.Mutations in a transaction of its own.
func (s *Store) CreateLegacyKeys(ctx context.Context, ks []store.LegacyKey) ([]string, error) {
	return do(ctx, s, func(x *txn) ([]string, error) { return x.CreateLegacyKeys(ctx, ks) })
}

// UpdateLegacyKey implements store.Mutations in a transaction of its own.
func (s *Store) UpdateLegacyKey(ctx context.Context, id string, fn func(store.LegacyKey) (store.LegacyKey, error)) (store.LegacyKey, error) {
	return do(ctx, s, func(x *txn) (store.LegacyKey, error) { return x.UpdateLegacyKey(ctx, id, fn) })
}

// RemapLegacyKeys implements store.Mutations in a transaction of its own.
func (s *Store) RemapLegacyKeys(ctx context.Context, tenantID, oldRef, newOwnerID string) (int64, error) {
	return do(ctx, s, func(x *txn) (int64, error) { return x.RemapLegacyKeys(ctx, tenantID, oldRef, newOwnerID) })
}

// RecordKeyUsage implements store.Mutations in a transaction of its own.
func (s *Store) RecordKeyUsage(ctx context.Context, us []store.KeyUsage) error {
	return s.inTx(ctx, func(x *txn) error { return x.RecordKeyUsage(ctx, us) })
}

// RecordClientUsage implements store.Mutations in a transaction of its own.
func (s *Store) RecordClientUsage(ctx context.Context, us []store.ClientUsage) error {
	return s.inTx(ctx, func(x *txn) error { return x.RecordClientUsage(ctx, us) })
}

// CreateSigningKey implements store.Mutations in a transaction of its own.
func (s *Store) CreateSigningKey(ctx context.Context, k store.SigningKey) error {
	return s.inTx(ctx, func(x *txn) error { return x.CreateSigningKey(ctx, k) })
}

// UpdateSigningKey implements store.Mutations in a transaction of its own.
func (s *Store) UpdateSigningKey(ctx context.Context, kid string, fn func(store.SigningKey) (store.SigningKey, error)) (store.SigningKey, error) {
	return do(ctx, s, func(x *txn) (store.SigningKey, error) { return x.UpdateSigningKey(ctx, kid, fn) })
}

// DeleteSigningKey implements store.Mutations in a transaction of its own.
func (s *Store) DeleteSigningKey(ctx context.Context, kid string) error {
	return s.inTx(ctx, func(x *txn) error { return x.DeleteSigningKey(ctx, kid) })
}

// InsertAssertionJTI implements store.Mutations in a transaction of its own.
func (s *Store) InsertAssertionJTI(ctx context.Context, clientID, jti string, exp time.Time) error {
	return s.inTx(ctx, func(x *txn) error { return x.InsertAssertionJTI(ctx, clientID, jti, exp) })
}

// RevokeToken implements store.Mutations in a transaction of its own.
func (s *Store) RevokeToken(ctx context.Context, jti string, exp time.Time) error {
	return s.inTx(ctx, func(x *txn) error { return x.RevokeToken(ctx, jti, exp) })
}

// PurgeExpired implements store.Mutations in a transaction of its own.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (int64, error) {
	return do(ctx, s, func(x *txn) (int64, error) { return x.PurgeExpired(ctx, now) })
}

// EnqueueWebhook implements store.Mutations in a transaction of its own.
func (s *Store) EnqueueWebhook(ctx context.Context, w store.Webhook) error {
	return s.inTx(ctx, func(x *txn) error { return x.EnqueueWebhook(ctx, w) })
}

// ClaimWebhooks implements store.Mutations in a transaction of its own.
func (s *Store) ClaimWebhooks(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Webhook, error) {
	return do(ctx, s, func(x *txn) ([]store.Webhook, error) { return x.ClaimWebhooks(ctx, now, lease, limit) })
}

// MarkWebhookDelivered implements store.Mutations in a transaction of its own.
func (s *Store) MarkWebhookDelivered(ctx context.Context, id string, at time.Time) error {
	return s.inTx(ctx, func(x *txn) error { return x.MarkWebhookDelivered(ctx, id, at) })
}

// MarkWebhookFailed implements store.Mutations in a transaction of its own.
func (s *Store) MarkWebhookFailed(ctx context.Context, id string, attempts int, next time.Time, lastErr string) error {
	return s.inTx(ctx, func(x *txn) error { return x.MarkWebhookFailed(ctx, id, attempts, next, lastErr) })
}

// AllocateStatusIndex implements store.Mutations in a transaction of its own.
func (s *Store) AllocateStatusIndex(ctx context.Context, credential string, now time.Time) (int64, error) {
	return do(ctx, s, func(x *txn) (int64, error) { return x.AllocateStatusIndex(ctx, credential, now) })
}

// AllocateStatusIndexes implements store.Mutations in a transaction of its own.
func (s *Store) AllocateStatusIndexes(ctx context.Context, credentials []string, now time.Time) ([]int64, error) {
	return do(ctx, s, func(x *txn) ([]int64, error) { return x.AllocateStatusIndexes(ctx, credentials, now) })
}

// InvalidateStatusIndex implements store.Mutations in a transaction of its own.
func (s *Store) InvalidateStatusIndex(ctx context.Context, credential string, at time.Time) error {
	return s.inTx(ctx, func(x *txn) error { return x.InvalidateStatusIndex(ctx, credential, at) })
}

// PurgeStatusEntries implements store.Mutations in a transaction of its own.
func (s *Store) PurgeStatusEntries(ctx context.Context, invalidatedBefore time.Time) (int64, error) {
	return do(ctx, s, func(x *txn) (int64, error) { return x.PurgeStatusEntries(ctx, invalidatedBefore) })
}

// SetSetting implements store.Mutations in a transaction of its own.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	return s.inTx(ctx, func(x *txn) error { return x.SetSetting(ctx, key, value) })
}

// SetSettingIfAbsent implements store.Mutations in a transaction of its own.
func (s *Store) SetSettingIfAbsent(ctx context.Context, key, value string) (string, error) {
	return do(ctx, s, func(x *txn) (string, error) { return x.SetSettingIfAbsent(ctx, key, value) })
}

// AddKeyClaims implements store.Mutations in a transaction of its own.
func (s *Store) AddKeyClaims(ctx context.Context, cs []store.KeyClaim) error {
	return s.Tx(ctx, func(tx store.Tx) error { return tx.AddKeyClaims(ctx, cs) })
}

// ResolveKeyClaims implements store.Mutations in a transaction of its own.
func (s *Store) ResolveKeyClaims(ctx context.Context, conflictID, winnerKeyID string, at time.Time, by string) error {
	return s.Tx(ctx, func(tx store.Tx) error { return tx.ResolveKeyClaims(ctx, conflictID, winnerKeyID, at, by) })
}
