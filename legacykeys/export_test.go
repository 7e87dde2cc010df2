package legacykeys

import "time"

// ImportedIDs exposes the ids an import gives new keys, in the order one
// Import call draws them, so that the import benchmarks' bare inserts
// (their reference) lay keys out as the import does.
func ImportedIDs(now time.Time) func() string { return newIDSequence(now).next }
