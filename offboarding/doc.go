// Package offboarding is the one operation that suspends, resumes or
// deletes a principal, whoever asks (the admin API and its CLI, the
// console, SCIM): the status change with its optional reason and its
// audit event, and what the change breaks.
//
// Before anything changes, Impact lists the legacy keys and clients the
// principal owns with their last use, their uses in the last 24 hours
// (hourly counts kept by package usage) and an estimate of the tokens they
// still have outstanding (token.issue audit events of the credential
// within the longest token lifetime: an upper bound, since a token may
// have been issued with a shorter lifetime). A dry run returns that list
// and changes nothing; the real change returns the same list.
//
// In the change's transaction, so that a notice is sent for every change
// that committed and for none that did not:
//
//   - principal.suspended on a suspension (as before, now with the reason);
//   - principal.resumed on a resumption;
//   - principal.credentials_broken, plus an audit event of that action,
//     when a suspension or deletion stops credentials used in the last 7
//     days: which, their last use, and the remedy (`authz key reassign
//     KEY --owner <service principal>`);
//   - the Watcher hook (alert.admin_burst, package alerts), which sees
//     every suspension and deletion and whether it broke credentials.
package offboarding
