// Package alerts holds the built-in detectors. Each raised alert is a
// webhook (notify), an audit event (actor "system", action the alert's
// name) and a Prometheus counter (authz_alerts_total{alert}).
//
//   - alert.refusal_spike: refusals of one key, one client or one tenant
//     in a fixed window (default 5 min) well above that subject's own
//     baseline, an EWMA of its refusals per window (alpha 0.3): it fires
//     when a window reaches at least MinCount refusals (default 50) and
//     Factor times the baseline (default 5). The alert names the top
//     error_code and its count. The baseline lives in memory: after a
//     restart it is learnt again, so a subject refused steadily alerts
//     once more (at most once per window across replicas).
//   - alert.new_network: a credential used (successfully) from a network
//     prefix (IPv4 /24, IPv6 /48) it had not used, once its learning period
//     (default 7 days from its first recorded prefix) is over. The prefixes
//     are kept in the store (credential_networks), so they survive a
//     restart and are shared by replicas; the replica whose insert created
//     the row is the one that alerts. Action notify (default) or
//     suspend-credential (a client is suspended, a legacy key revoked).
//   - alert.admin_burst: one actor suspending or deleting more than
//     MaxPrincipals principals (default 10), or more than MaxInUse
//     principals owning credentials used in the last 7 days (default 3),
//     within a fixed window (default 10 min). The counts are store
//     counters (alert_marks), shared by replicas and kept across
//     restarts; it runs inside the offboarding transaction.
//
// No duplicate alerts from several replicas: every alert first claims a
// store mark (store.ClaimAlert) named for the alert, its subject and its
// window; only the replica whose claim succeeds sends it.
//
// Memory is bounded: refusal baselines for at most MaxTracked subjects
// (default 10,000, about 200 bytes each), prefixes for at most MaxTracked
// credentials with at most MaxPrefixes (default 64) each; past those an
// arbitrary entry is forgotten (a forgotten baseline is learnt again, a
// forgotten prefix set is reloaded through the store). A credential used
// from more than MaxPrefixes prefixes is treated as roaming and no longer
// watched for new networks. The hot path (Observe) takes one shard lock
// and never waits on storage; the work that needs the store goes through
// a bounded queue (QueueSize, default 4096; overflow is counted in
// authz_alert_events_dropped_total) to the worker started by Run, which
// takes what is queued together (waiting up to 50 ms for more to arrive)
// and records the prefixes of all of it in one transaction: a burst of
// credentials never seen before (a migration's first key exchanges) costs
// a commit per few hundred, not one each.
package alerts
