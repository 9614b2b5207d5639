package repo

import (
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkCaseIndex1M builds the index of a million case IDs: the
// dataset's duplicate check and ID (BenchmarkLoadDataset300k reports what
// a dataset keeps per case).
func BenchmarkCaseIndex1M(b *testing.B) {
	const n = 1_000_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%07d", (i*7919)%n) // not in ID order
	}
	for b.Loop() {
		var c idCollector
		for i, id := range ids {
			c.add(id, i+1)
		}
		if _, dups := c.build(); len(dups) > 0 {
			b.Fatal(dups[0])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/case")
}

// BenchmarkCaseIndexRank1M is the lookup every result of a run makes.
func BenchmarkCaseIndexRank1M(b *testing.B) {
	const n = 1_000_000
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%07d", (i*7919)%n)
	}
	x, _ := newCaseIndex(ids)
	i := 0
	for b.Loop() {
		if _, ok := x.Rank(ids[i]); !ok {
			b.Fatal(ids[i])
		}
		i = (i + 104729) % n
	}
}

// BenchmarkLoadDataset300k is the validating pass of a 300,000-case file,
// with what the dataset keeps afterwards per case.
func BenchmarkLoadDataset300k(b *testing.B) {
	const n = 300_000
	path := benchDataset(b, n)
	for b.Loop() {
		if _, err := LoadDataset(path); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/case")
	b.ReportMetric(float64(retained(func() any {
		d, err := LoadDataset(path)
		if err != nil {
			b.Fatal(err)
		}
		return d
	}))/n, "B/case-kept")
}

// retained is the live heap that what make returns holds.
func retained(make func() any) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	v := make()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(v)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc)
}
