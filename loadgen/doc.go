// Package loadgen is the load generator behind `authz bench`: it drives an
// issuer's token endpoint (client credentials or legacy-key exchange) or
// verifies its tokens locally as a gateway would, from N concurrent
// keep-alive connections, bounded by time and by request count, and
// summarises throughput, latency percentiles and refusals by error_code.
//
// It speaks HTTP only, so it measures what a client sees: nothing of the
// server is imported. Latencies go into a fixed log-linear histogram per
// worker, so memory stays bounded however long the run.
package loadgen
