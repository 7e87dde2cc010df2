// Package notify sends authz's webhooks (key.expiring, key.expired,
// key.revoked, principal.suspended) from a durable outbox.
//
// Enqueue writes the notice in the caller's transaction, so a notice exists
// if and only if the change it announces committed. Run delivers the outbox
// at least once: each POST is signed (Sign, VerifySignature), a failed one
// is retried with exponential backoff and jitter up to MaxAttempts, and
// several replicas may run it at once because a delivery is leased in the
// store before it is attempted. Receivers deduplicate on the delivery id
// (Authz-Delivery), which is the same on every retry; deliveries are not
// ordered.
package notify
