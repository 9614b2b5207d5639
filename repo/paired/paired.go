// Package paired answers "is B better than A on the same cases": the one
// paired comparison behind run decisions, compare, diff and the web UI.
// Which way is better for each metric lives with the metric names in repo.
package paired

import (
	"strings"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/stats"
)

// Test names, as reports print them.
const (
	McNemar   = "exact McNemar"
	Bootstrap = "paired bootstrap"
)

// TestFor names the paired test a metric gets from per-case outcomes, or
// "" when the per-case pass and score do not determine it (latency, cost,
// tokens, consistency and the pass@k family need more than one outcome
// per case).
func TestFor(metric string) string {
	switch metric {
	case "pass@1", "fail_rate":
		return McNemar
	case "mean_score":
		return Bootstrap
	}
	return ""
}

// Compare pairs A and B (each in case ID order) on the cases both have and
// tests metric's change from va to vb: exact McNemar with a paired interval
// on the difference for pass rates, a paired bootstrap for the mean score
// (the normal approximation past stats.BootstrapLimit pairs). It returns
// nil when no case is shared, and evidence without a test (P nil) for a
// metric that has none.
func Compare(metric string, va, vb float64, a, b []repo.CasePair, confidence float64) *repo.Evidence {
	pa, pb := Common(a, b)
	if len(pa) == 0 {
		return nil
	}
	ev := &repo.Evidence{Metric: metric, Value: vb, Delta: vb - va, Pairs: len(pa)}
	xa := make([]float64, len(pa))
	xb := make([]float64, len(pa))
	switch TestFor(metric) {
	case McNemar:
		passFail, failPass := 0, 0
		for i := range pa {
			passA, passB := pa[i].Pass, pb[i].Pass
			xa[i], xb[i] = b2f(passA), b2f(passB)
			if metric == "fail_rate" {
				xa[i], xb[i] = 1-xa[i], 1-xb[i]
			}
			if passA && !passB {
				passFail++
			}
			if !passA && passB {
				failPass++
			}
		}
		_, ev.Lo, ev.Hi, _ = stats.PairedMeanDiff(xa, xb, confidence, 1)
		p := stats.McNemarExact(passFail, failPass)
		ev.P, ev.Test = &p, McNemar
	case Bootstrap:
		for i := range pa {
			xa[i], xb[i] = pa[i].Score, pb[i].Score
		}
		var p float64
		_, ev.Lo, ev.Hi, p = stats.PairedMeanDiff(xa, xb, confidence, 1)
		ev.P, ev.Test = &p, Bootstrap
	}
	return ev
}

// Common keeps, from two lists of outcomes in case ID order, the cases
// both have: the i-th of each is the same case.
func Common(a, b []repo.CasePair) (inA, inB []repo.CasePair) {
	inA, inB = make([]repo.CasePair, 0, min(len(a), len(b))), make([]repo.CasePair, 0, min(len(a), len(b)))
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch c := strings.Compare(a[i].CaseID, b[j].CaseID); {
		case c < 0:
			i++
		case c > 0:
			j++
		default:
			inA, inB = append(inA, a[i]), append(inB, b[j])
			i++
			j++
		}
	}
	return inA, inB
}

// FromVerdicts turns committed case verdicts (cases.jsonl, in case ID
// order) into outcomes to pair.
func FromVerdicts(vs []repo.CaseVerdict) []repo.CasePair {
	out := make([]repo.CasePair, len(vs))
	for i, v := range vs {
		out[i] = repo.CasePair{CaseID: v.CaseID, Pass: v.Label == repo.Pass, Score: v.Score}
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
