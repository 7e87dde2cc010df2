// Package gcpolicy sets the garbage collector's pace for a token server:
// a minimum headroom of heap growth between collections, so that a small
// live heap is not collected every few hundred tokens.
//
// Go's default (GOGC=100) lets the heap grow by as much as is live before
// the next collection. authz's live heap is a few MiB while each token
// allocates tens of KiB, so at that default the collector ran about fifty
// times a second under load and cost a quarter of the throughput
// (docs/benchmarks.md, issue 13). A Tuner raises GOGC so that the growth
// allowed is at least MinHeadroom, and lowers it back towards 100 as the
// live heap grows (large caches gain nothing from a higher GOGC and would
// only grow RSS): the memory it adds is bounded by MinHeadroom, never by a
// multiple of the live heap. An operator's GOGC or GOMEMLIMIT is left alone.
package gcpolicy
