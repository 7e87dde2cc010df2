// Package usage keeps legacy keys' and clients' last-used times and use
// counts without a database write per request: the token endpoint records
// each use in memory (cheap under contention), and a background loop
// flushes the totals in one batch (store.RecordKeyUsage, RecordClientUsage).
// Refused token requests are counted the same way, per tenant, UTC hour and
// error_code (store.RecordRefusals), for the console's refusals chart.
//
// The counts are best effort by design: uses recorded after the last flush
// are lost if the process dies. A failed flush keeps its counts for the
// next one.
package usage
