package runner

import (
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/selfevals/selfevals/repo"
)

// aggResults is one result per case: a third fail with a reason of their
// own, as a first iteration of a large run does.
func aggResults(ids []string) []*repo.Result {
	out := make([]*repo.Result, len(ids))
	for i, id := range ids {
		l := repo.Pass
		g := repo.Grade{Grader: "rules", Label: l}
		if i%3 == 0 {
			l, g.Label, g.Reason = repo.Fail, repo.Fail, "output lacks tok of "+id
		}
		out[i] = &repo.Result{Trace: repo.Trace{CaseID: id, LatencyMS: float64(i%97) / 8}, Grades: []repo.Grade{g}, Label: l, Score: impliedScore(l)}
	}
	return out
}

func benchIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%07d", (i*7919)%n)
	}
	return ids
}

// BenchmarkAggregatorAdd300k folds in every result of a 300,000-case
// iteration, over the dataset's index and without one (a stored run read
// back), and reports the time per result and the live bytes per case the
// iteration holds afterwards.
func BenchmarkAggregatorAdd300k(b *testing.B) {
	const n = 300_000
	ids := benchIDs(n)
	ds := writeIDsDataset(b, ids)
	results := aggResults(ids)
	for _, mode := range []string{"dataset", "none"} {
		b.Run(mode, func(b *testing.B) {
			over := ds
			if mode == "none" {
				over = nil
			}
			var agg *Aggregator
			for b.Loop() {
				agg = NewAggregatorOver(1, over)
				for _, r := range results {
					agg.Add(r)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/result")
			var before, after runtime.MemStats
			agg = nil
			runtime.GC()
			runtime.ReadMemStats(&before)
			agg = NewAggregatorOver(1, over)
			for _, r := range results {
				agg.Add(r)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/case-kept")
			runtime.KeepAlive(agg)
		})
	}
}

// BenchmarkAggregatorDecide300k is the work between two iterations of a
// 300,000-case run: metrics with intervals, the pairs for the decision,
// and cases.jsonl streamed out.
func BenchmarkAggregatorDecide300k(b *testing.B) {
	const n = 300_000
	ids := benchIDs(n)
	ds := writeIDsDataset(b, ids)
	agg := NewAggregatorOver(1, ds)
	for _, r := range aggResults(ids) {
		agg.Add(r)
	}
	extra := []string{"pass@1"}
	for b.Loop() {
		agg.Metrics(0.95, extra)
		agg.Pairs()
		if err := writeCaseVerdicts(io.Discard, ds, agg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/case")
}
