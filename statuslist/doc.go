// Package statuslist is the wire format of the IETF Token Status List
// (draft-ietf-oauth-status-list): the status values, the compressed bit
// array ("lst") with its encoder and decoder, the "status" claim that
// referenced tokens carry, and the claims of a Status List Token.
//
// It imports nothing but the standard library, so that verifiers (the
// gateway, `authz verify`) can read status lists without pulling in the
// server. The server side — index allocation, the status decision and
// publication — lives in statuslist/publisher.
package statuslist
