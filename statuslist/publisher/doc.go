// Package publisher is the server side of the Token Status List
// (draft-ietf-oauth-status-list): it gives every access token the "status"
// claim of its credential's index, decides the status of every index from
// the credential chain in the store (credential, owner, tenant), and
// publishes the signed Status List Token at /statuslists/1, so that
// gateways verifying tokens offline still refuse a suspended owner's
// tokens within seconds.
//
// An index stands for a credential epoch (store.AllocateStatusIndex), not
// for a token: issuing costs a map read, and a database write only the
// first time a credential is used. A build reads only the entries that
// may not be VALID (store.ListStatusExceptions), and every entry once per
// FullScanInterval. docs/status-list.md explains the design and its
// privacy trade-off.
package publisher
