package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
)

func main() {
	keys := flag.Int("keys", 1_000_000, "rows to write")
	owners := flag.Int("owners", 10_000, "distinct owner external ids")
	tenant := flag.String("tenant", "", "tenant id written on every row (required)")
	seed := flag.Uint64("seed", 1, "changes every key; the same seed gives the same file")
	flag.Parse()
	if *tenant == "" || *keys < 0 || *owners < 1 {
		fmt.Fprintln(os.Stderr, "usage: keyfile -tenant T [-keys N] [-owners M] [-seed S] > file.csv")
		os.Exit(2)
	}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	fmt.Fprintln(w, "key,owner_external_id,tenant")
	for i := range *keys {
		// A Weyl sequence keeps keys distinct and spread over the hash
		// space the way real random keys are.
		fmt.Fprintf(w, "sk_live_%016x%08d,ext-%06d,%s\n", (uint64(i)+*seed<<32)*0x9e3779b97f4a7c15, i, i%*owners, *tenant)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, "keyfile:", err)
		os.Exit(1)
	}
}
