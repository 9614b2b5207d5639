package reports

import "testing"

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
