// Package audit owns authz's tamper-evident audit log: Append chains events
// inside an admin transaction, the group-commit Recorder makes token
// decisions durable before their response is sent without a write per
// request, Sample keeps floods of malformed or rate-limited requests from
// turning into a write storm, and Verify walks the chain and names the first
// event that was altered, deleted or reordered.
//
// # The chain
//
// Events are numbered 1, 2, 3, ... (Seq). Each event's Hash is
//
//	Hash(n) = SHA-256(encode(Hash(n-1), event n))
//
// with Hash(0) the empty byte string; the store keeps the hash of the last
// event as the head, so that deleting events at the end is detected too.
//
// encode is, in this order, with u32(x) and u64(x) big-endian unsigned
// integers of 4 and 8 bytes and lp(b) = u32(len(b)) || b:
//
//	lp("authz-audit-v1")        domain separation and format version
//	u64(Seq)                    the event's position, 1-based
//	lp(PrevHash)                the previous event's Hash (empty for Seq 1)
//	lp(ID)
//	u64(Time)                   microseconds since the Unix epoch (two's complement)
//	lp(Actor) lp(Action) lp(Target) lp(TenantID) lp(Outcome)
//	lp(ErrorCode) lp(RequestID) lp(ClientAddr)
//	lp(Details)                 the exact stored bytes of the JSON details
//
// Strings are their UTF-8 bytes. Every field is length-prefixed, so no two
// different events encode alike. An auditor can recompute the chain from an
// export of the table with nothing but SHA-256.
//
// # Retention
//
// Export writes a segment of the chain (the events after the anchor up to
// the latest one stamped before a time) as JSONL with every hash, and
// VerifySegment checks such a file offline, naming the first line that
// departs. Prune deletes a segment only when given its last hash, and
// keeps that event's seq and hash as the anchor: Verify starts there, the
// first kept event linking to it. Retainer does both on a schedule, one
// replica at a time. See docs/audit-retention.md.
//
// The chain proves the log was not edited after the fact by someone without
// the ability to rewrite every later event and the head; it is not a
// signature. Ship Verify's head hash elsewhere (a ticket, a log pipeline) to
// pin it.
package audit
