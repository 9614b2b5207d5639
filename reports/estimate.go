package reports

import (
	"fmt"
	"strings"
)

// Estimate is what a run would take before it starts.
type Estimate struct {
	Slug, ID                       string
	Cases, Repetitions, Iterations int
	// CostPerCall is the USD one agent call costs: as given, or, with MeanOf
	// set, the mean over the calls of that earlier run. 0 when unknown.
	CostPerCall float64
	MeanOf      string
	// Judges are the spec's llm_judge graders, each a model call per
	// trace it grades.
	Judges []JudgeEstimate
}

// JudgeEstimate is what one LLM judge would take.
type JudgeEstimate struct {
	Grader string
	// Traces is how many traces of one repetition of one iteration it
	// grades.
	Traces int
	// CostPerCall is the USD one judge call costs, known when Known: as
	// given, or, with MeanOf set, the mean over that earlier run's grades.
	CostPerCall float64
	Known       bool
	MeanOf      string
}

// EstimateText renders an estimate: iterations, agent and judge calls, and
// cost.
func EstimateText(e *Estimate) string {
	var b strings.Builder
	calls := e.Cases * e.Repetitions * e.Iterations
	fmt.Fprintf(&b, "experiment:  %s (%s)\n", e.Slug, e.ID)
	fmt.Fprintf(&b, "iterations:  %d (at most; convergence may stop earlier)\n", e.Iterations)
	fmt.Fprintf(&b, "calls:       %d = %d cases × %d repetitions × %d iterations\n", calls, e.Cases, e.Repetitions, e.Iterations)
	cost := float64(calls) * e.CostPerCall
	switch {
	case e.MeanOf != "":
		fmt.Fprintf(&b, "cost:        $%.2f at $%.6f per call (mean of %s)\n", cost, e.CostPerCall, e.MeanOf)
	case e.CostPerCall > 0:
		fmt.Fprintf(&b, "cost:        $%.2f at $%g per call\n", cost, e.CostPerCall)
	default:
		b.WriteString("cost:        unknown: no earlier run reported a cost; pass --cost-per-call\n")
	}
	if len(e.Judges) > 0 {
		writeJudgeEstimates(&b, e, cost)
	}
	return b.String()
}

// writeJudgeEstimates adds the judges' calls and cost, and the total when
// every cost is known.
func writeJudgeEstimates(b *strings.Builder, e *Estimate, agentCost float64) {
	total, known := agentCost, e.CostPerCall > 0 || e.MeanOf != ""
	for _, j := range e.Judges {
		n := j.Traces * e.Repetitions * e.Iterations
		fmt.Fprintf(b, "judge calls: %d = %s: %d traces × %d repetitions × %d iterations (at most: answers in the judge cache are not asked again)\n",
			n, j.Grader, j.Traces, e.Repetitions, e.Iterations)
		c := float64(n) * j.CostPerCall
		switch {
		case !j.Known:
			fmt.Fprintf(b, "judge cost:  %s unknown: no earlier run recorded its cost; pass --judge-cost-per-call\n", j.Grader)
			known = false
		case j.MeanOf != "":
			fmt.Fprintf(b, "judge cost:  %s $%.2f at $%.6f per call (mean of %s)\n", j.Grader, c, j.CostPerCall, j.MeanOf)
		default:
			fmt.Fprintf(b, "judge cost:  %s $%.2f at $%g per call\n", j.Grader, c, j.CostPerCall)
		}
		total += c
	}
	if known {
		fmt.Fprintf(b, "total cost:  $%.2f\n", total)
	}
}
