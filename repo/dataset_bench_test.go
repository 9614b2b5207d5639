package repo

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// benchDataset writes n cases shaped like selfevals-bench's workload.
func benchDataset(b *testing.B, n int) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "cases.jsonl")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		fmt.Fprintf(f, `{"id":"c%07d","input":{"text":"ping tok%d"},"expected":{"must_include":["tok%d"]}}`+"\n", i, i, i)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkLoadDataset is the validating pass of every run: decode, check,
// identify and de-duplicate each case.
func BenchmarkLoadDataset10k(b *testing.B) {
	path := benchDataset(b, 10000)
	b.ResetTimer()
	for b.Loop() {
		if _, err := LoadDataset(path); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/case")
}

// BenchmarkEachValidated10k is the per-iteration pass over a validated file
// too large to be kept in memory.
func BenchmarkEachValidated10k(b *testing.B) {
	d, err := LoadDataset(benchDataset(b, 10000))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := d.eachValidated(func(*Case) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10000, "ns/case")
}

// BenchmarkYAMLSyntaxErrorLocate is the cost of placing a syntax error at
// its column (locateYAMLError re-parses prefixes) in a 2,000-line file,
// the mistake on its last line.
func BenchmarkYAMLSyntaxErrorLocate(b *testing.B) {
	var doc []byte
	for i := range 2000 {
		doc = fmt.Appendf(doc, "key%d: value %d\n", i, i)
	}
	doc = append(doc, "last: a: b\n"...)
	for b.Loop() {
		if _, err := parseYAML("big.yaml", doc); err == nil {
			b.Fatal("no error")
		}
	}
}

// BenchmarkEachSecondPass1M is a later iteration's walk of a
// 1,000,000-case file: "decode" decodes every line again, as every walk
// did before the spill; "first" is the walk that decodes them and writes
// the spill; "spilled" reads the cases the first walk spilled;
// "floor" only allocates what each case holds (the Case, its expected
// block, its list and its texts), which any walk handing out new cases
// must.
// lastCase keeps a benchmark's cases from being optimised away.
var lastCase *Case

func BenchmarkEachSecondPass1M(b *testing.B) {
	const n = 1_000_000
	d, err := LoadDataset(benchDataset(b, n))
	if err != nil {
		b.Fatal(err)
	}
	// Each walk hands its cases to fn, which stores the last, so that
	// the floor's cases escape to the heap as the walks' do.
	none := func(c *Case) error { lastCase = c; return nil }
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if err := d.eachValidated(none); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/case")
	})
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			d.spill = &caseSpill{} // unwritten, as a run's first walk finds it
			if err := d.Each(none); err != nil || stateOf(d) != spillReady {
				b.Fatal("the walk did not spill: ", err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/case")
	})
	b.Run("spilled", func(b *testing.B) {
		if err := d.Each(none); err != nil || stateOf(d) != spillReady {
			b.Fatal("the first walk did not spill: ", err)
		}
		for b.Loop() {
			if err := d.Each(none); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/case")
	})
	b.Run("floor", func(b *testing.B) {
		for b.Loop() {
			for i := range n {
				texts := make([]byte, 40)
				c := &Case{Input: texts[:20], Expected: &Expected{MustInclude: make([]string, 1)}, Line: i}
				if err := none(c); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/case")
	})
}
