package usage

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The benchmarks compare KeyUsed with the obvious alternative, one mutex
// around one map, under the same parallel load of exchanges spread over
// 1,000 keys. Report the ratio of the two ns/op figures of one run:
//
//	go test ./usage -run '^$' -bench KeyUsed -cpu 1,2 -benchmem

func benchKeys() []string {
	ids := make([]string, 1000)
	for i := range ids {
		ids[i] = fmt.Sprintf("key_%016d", i)
	}
	return ids
}

func BenchmarkKeyUsed(b *testing.B) {
	r := NewRecorder(nil, nil, nil)
	ids := benchKeys()
	at := time.Now()
	for _, id := range ids {
		r.KeyUsed(id, at)
	}
	r.keys.drain() // steady state: every key known since the last flush
	var seq atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := seq.Add(7919)
		for pb.Next() {
			i++
			r.KeyUsed(ids[i%uint64(len(ids))], at)
		}
	})
}

// BenchmarkKeyUsedReferenceMutexMap is the reference: a single mutex
// guarding a map of counts and times.
func BenchmarkKeyUsedReferenceMutexMap(b *testing.B) {
	type entry struct {
		n    int64
		last int64
	}
	var mu sync.Mutex
	m := map[string]*entry{}
	ids := benchKeys()
	at := time.Now().UnixNano()
	for _, id := range ids {
		m[id] = &entry{}
	}
	var seq atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := seq.Add(7919)
		for pb.Next() {
			i++
			id := ids[i%uint64(len(ids))]
			mu.Lock()
			e := m[id]
			e.n++
			if at > e.last {
				e.last = at
			}
			mu.Unlock()
		}
	})
}

// BenchmarkClientUsed is a client use recorded with the secret that
// matched (issue 12): the table's key is a struct of the two ids, so that
// a lookup builds no string. Compare its ns/op with BenchmarkKeyUsed's in
// the same run:
//
//	go test ./usage -run '^$' -bench 'KeyUsed$|ClientUsed$' -cpu 1,2 -benchmem
func BenchmarkClientUsed(b *testing.B) {
	r := NewRecorder(nil, nil, nil)
	ids := benchKeys()
	secs := make([]string, len(ids))
	at := time.Now()
	for i, id := range ids {
		secs[i] = "sec_" + id
		r.ClientUsed(id, secs[i], at)
	}
	r.clients.drain()
	var seq atomic.Uint64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := seq.Add(7919)
		for pb.Next() {
			i++
			j := i % uint64(len(ids))
			r.ClientUsed(ids[j], secs[j], at)
		}
	})
}
