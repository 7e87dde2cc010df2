// Command keyfile writes a synthetic legacy-key import file, the input of
// the million-key import measurement in docs/benchmarks.md:
//
//	go run ./loadgen/keyfile -keys 1000000 -owners 10000 -present 0.02 -tenant ten_x > 1m.csv
//
// Columns are key,owner_external_id,tenant. Owners are ext-000000...; the
// first present×owners of them are meant to exist in authz (create them
// with -principals), the rest make orphans. The keys are deterministic
// (the same flags give the same file), so that importing the file twice
// measures idempotence.
package main
