package repo

import (
	"fmt"
	"testing"
)

// BenchmarkEncodeResults renders the summary and cases.jsonl of a run of
// 1,000 cases, as the end of every run does.
func BenchmarkEncodeResults(b *testing.B) {
	cases := make([]CaseVerdict, 1000)
	for i := range cases {
		cases[i] = CaseVerdict{
			CaseID: fmt.Sprintf("case_%016x", i*7919), Label: Pass, Score: 1, PassRate: 1, Repetitions: 3,
		}
		if i%5 == 0 {
			cases[i].Label, cases[i].Score, cases[i].PassRate = Fail, 0.333, 0.333
			cases[i].FailureModes = []string{"wrong_tool", "hallucinated_policy"}
			cases[i].Reason = "the answer promised a refund the policy does not allow"
		}
	}
	summary := &ResultsSummary{SchemaVersion: "results/1", Cases: len(cases)}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := EncodeResults(summary, cases); err != nil {
			b.Fatal(err)
		}
	}
}
