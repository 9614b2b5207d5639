package runner

import (
	"fmt"
	"testing"

	"github.com/selfevals/selfevals/repo"
)

// BenchmarkAggregatorSummary is the work between two iterations of a
// 10,000-case run: metrics with intervals, and the pairs for the decision.
func BenchmarkAggregatorSummary10k(b *testing.B) {
	agg := NewAggregator(1)
	for i := range 10000 {
		label := repo.Pass
		if i%3 == 0 {
			label = repo.Fail
		}
		agg.Add(&repo.Result{Trace: repo.Trace{CaseID: fmt.Sprintf("c%07d", i), LatencyMS: float64(i % 97)},
			Grades: []repo.Grade{{Grader: "rules", Label: label}}, Label: label, Score: float64(i % 2)})
	}
	extra := []string{"pass@1"}
	for b.Loop() {
		agg.Metrics(0.95, extra)
		agg.Pairs()
	}
}
