package reports

import (
	"strings"
	"testing"
)

func TestEstimateText(t *testing.T) {
	head := "experiment:  pingpong (exp_1)\niterations:  2 (at most; convergence may stop earlier)\ncalls:       12 = 2 cases × 3 repetitions × 2 iterations\n"
	for _, c := range []struct {
		e    Estimate
		cost string
	}{
		{Estimate{}, "cost:        unknown: no earlier run reported a cost; pass --cost-per-call\n"},
		{Estimate{CostPerCall: 0.003}, "cost:        $0.04 at $0.003 per call\n"},
		{Estimate{CostPerCall: 0.0125, MeanOf: "evals/runs/pingpong/run_1"}, "cost:        $0.15 at $0.012500 per call (mean of evals/runs/pingpong/run_1)\n"},
	} {
		e := c.e
		e.Slug, e.ID, e.Cases, e.Repetitions, e.Iterations = "pingpong", "exp_1", 2, 3, 2
		if got := EstimateText(&e); got != head+c.cost {
			t.Errorf("got\n%s\nwant\n%s", got, head+c.cost)
		}
	}
}

// LLM judges are model calls too: counted per trace they grade and priced
// per call, with a total when every price is known.
func TestEstimateTextJudges(t *testing.T) {
	e := Estimate{Slug: "hello", ID: "exp_1", Cases: 10, Repetitions: 2, Iterations: 3, CostPerCall: 0.01, Judges: []JudgeEstimate{
		{Grader: "reply_judge", Traces: 4, CostPerCall: 0.002, Known: true, MeanOf: "evals/runs/hello/run_1"},
		{Grader: "tone_judge", Traces: 10, CostPerCall: 0.001, Known: true},
	}}
	got := EstimateText(&e)
	for _, want := range []string{
		"calls:       60 = 10 cases × 2 repetitions × 3 iterations\ncost:        $0.60 at $0.01 per call\n",
		"judge calls: 24 = reply_judge: 4 traces × 2 repetitions × 3 iterations (at most: answers in the judge cache are not asked again)\n",
		"judge cost:  reply_judge $0.05 at $0.002000 per call (mean of evals/runs/hello/run_1)\n",
		"judge calls: 60 = tone_judge: 10 traces × 2 repetitions × 3 iterations",
		"judge cost:  tone_judge $0.06 at $0.001 per call\n",
		"total cost:  $0.71\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("estimate lacks %q:\n%s", want, got)
		}
	}
	e.Judges[1].Known = false
	got = EstimateText(&e)
	if !strings.Contains(got, "judge cost:  tone_judge unknown: no earlier run recorded its cost; pass --judge-cost-per-call") || strings.Contains(got, "total cost") {
		t.Errorf("an unknown judge cost:\n%s", got)
	}
}
