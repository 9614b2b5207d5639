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
}

// EstimateText renders an estimate: iterations, agent calls and cost.
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
	return b.String()
}
