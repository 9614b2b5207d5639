// Package paired answers "is B better than A on the same cases": the one
// paired comparison behind run decisions, compare, diff and the web UI.
// Which way is better for each metric lives with the metric names in repo.
package paired

import (
	"fmt"
	"math"
	"strings"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/repo/stats"
)

// Test names, as reports print them.
const (
	McNemar  = "exact McNemar"
	SignFlip = "sign-flip permutation"
)

// TestFor names the paired test a metric gets on its own per-case values
// (Value), or "" when it has none: quantiles (latency p50, p95), totals,
// tokens, per-grader pass rates and the recovery rate, which counts only
// the cases that failed first.
func TestFor(metric string) string {
	switch {
	case metric == "pass@1", metric == "fail_rate":
		return McNemar
	case metric == "mean_score", metric == "consistency_rate", metric == "stability_score", metric == "error_rate",
		metric == "cost_usd_per_case", metric == "latency_ms_per_case_avg", isPassK(metric):
		return SignFlip
	}
	return ""
}

func isPassK(metric string) bool { k, _ := passK(metric); return k > 0 }

// passK is k of a pass@k (k > 1) or pass^k metric, else 0: the metrics
// tested on each case's unbiased estimate (pass@1 is a plain pass rate).
func passK(metric string) (k int, hat bool) {
	k, hat = repo.PassK(metric)
	if k == 1 && !hat {
		return 0, false
	}
	return k, hat
}

// Value is a case's own value of metric, the one whose mean over cases is
// the metric (for the per-case means; the pass@k family uses the unbiased
// per-case estimators); ok is false when the outcome does not record it.
func Value(metric string, p repo.CasePair) (v float64, ok bool) {
	switch {
	case metric == "pass@1":
		return b2f(p.Pass), true
	case metric == "fail_rate":
		return 1 - b2f(p.Pass), true
	case metric == "mean_score":
		return p.Score, true
	case metric == "consistency_rate", metric == "stability_score":
		return float64(p.Passes) / float64(p.Runs), p.Runs > 0
	case metric == "error_rate":
		return float64(p.Errors) / float64(p.Runs), p.Runs > 0 && p.Errors >= 0
	case metric == "cost_usd_per_case":
		return float64(p.CostUSD), p.Timed
	case metric == "latency_ms_per_case_avg":
		return float64(p.LatencyMS), p.Timed
	}
	if k, hat := passK(metric); k > 0 && int(p.Runs) >= k {
		if hat {
			return stats.PassHatK(int(p.Runs), int(p.Passes), k), true
		}
		return stats.PassAtK(int(p.Runs), int(p.Passes), k), true
	}
	return 0, false
}

// SharedMean is metric over the given outcomes from their own per-case
// values (the metric restricted to the cases both sides share).
func SharedMean(metric string, ps []repo.CasePair) float64 {
	sum, n := 0.0, 0
	for _, p := range ps {
		if v, ok := Value(metric, p); ok {
			sum += v
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// Compare pairs A and B (each in case ID order) on the cases both have and
// tests metric's change from va to vb: exact McNemar with Newcombe's hybrid
// score interval for pass rates (stats.PairedProportions), the exact sign-flip
// permutation test with its inverted interval for the mean score
// (stats.PairedMeanDiff: Monte Carlo past stats.ExactSignFlipLimit pairs,
// the normal approximation past stats.BootstrapLimit). It returns nil when
// no case is shared, and evidence without a test (P nil) for a metric that
// has none.
//
// With fewer pairs than stats.MinPairsToTest no outcome could be
// significant, so there is no p-value and no interval: P is nil, Lo = Hi =
// Delta and Note says how many cases a test needs. Test stays "" there
// too, because callers print *P whenever Test is set; TestFor names the
// test that would apply.
func Compare(metric string, va, vb float64, a, b repo.CasePairs, confidence float64) *repo.Evidence {
	pa, pb := Common(a, b)
	return CompareAligned(metric, va, vb, pa, pb, confidence)
}

// CompareAligned is Compare on outcomes already paired: the i-th of pa
// and of pb are the same case (as Common returns them).
func CompareAligned(metric string, va, vb float64, pa, pb []repo.CasePair, confidence float64) *repo.Evidence {
	if len(pa) == 0 {
		return nil
	}
	ev := &repo.Evidence{Metric: metric, Value: vb, Delta: vb - va, Pairs: len(pa)}
	test := TestFor(metric)
	if test == "" {
		return ev
	}
	if need := stats.MinPairsToTest(confidence); len(pa) < need {
		ev.Lo, ev.Hi = ev.Delta, ev.Delta
		ev.Note = fmt.Sprintf("too few cases to test (n=%d, at least %d needed)", len(pa), need)
		return ev
	}
	var p float64
	switch test {
	case McNemar:
		// A "success" is a pass for pass@1 and a failure for fail_rate.
		var both, onlyA, onlyB, neither int
		for i := range pa {
			sa, sb := pa[i].Pass, pb[i].Pass
			if metric == "fail_rate" {
				sa, sb = !sa, !sb
			}
			switch {
			case sa && sb:
				both++
			case sa:
				onlyA++
			case sb:
				onlyB++
			default:
				neither++
			}
		}
		_, ev.Lo, ev.Hi, p = stats.PairedProportions(both, onlyA, onlyB, neither, confidence)
	case SignFlip:
		xa := make([]float64, len(pa))
		xb := make([]float64, len(pa))
		lo, hi := math.Inf(1), math.Inf(-1)
		for i := range pa {
			var okA, okB bool
			xa[i], okA = Value(metric, pa[i])
			xb[i], okB = Value(metric, pb[i])
			if !okA || !okB {
				ev.Note = "the per-case values of " + metric + " are not recorded on both sides"
				return ev
			}
			lo, hi = min(lo, xb[i]-xa[i]), max(hi, xb[i]-xa[i])
		}
		var l, h float64
		_, l, h, p = stats.PairedMeanDiff(xa, xb, confidence, 1)
		// An unbounded end (Monte Carlo draws too few for a tiny 1 −
		// confidence) is capped at the most extreme difference seen, which
		// the mean cannot pass.
		ev.Lo, ev.Hi = max(l, lo), min(h, hi)
	}
	ev.P, ev.Test = &p, test
	return ev
}

// Common keeps, from two lists of outcomes in case ID order, the cases
// both have: the i-th of each is the same case. Two lists of every case
// of one dataset are that already.
func Common(a, b repo.CasePairs) (inA, inB []repo.CasePair) {
	if a.AlignedWith(b) {
		return a.List, b.List
	}
	inA, inB = make([]repo.CasePair, 0, min(a.Len(), b.Len())), make([]repo.CasePair, 0, min(a.Len(), b.Len()))
	for i, j := 0, 0; i < a.Len() && j < b.Len(); {
		switch c := strings.Compare(a.ID(i), b.ID(j)); {
		case c < 0:
			i++
		case c > 0:
			j++
		default:
			inA, inB = append(inA, a.List[i]), append(inB, b.List[j])
			i++
			j++
		}
	}
	return inA, inB
}

// FromVerdicts turns committed case verdicts (cases.jsonl, in case ID
// order) into outcomes to pair.
func FromVerdicts(vs []repo.CaseVerdict) repo.CasePairs {
	out := repo.CasePairs{List: make([]repo.CasePair, len(vs)), IDs: make([]string, len(vs))}
	for i, v := range vs {
		out.IDs[i] = v.CaseID
		out.List[i] = repo.CasePair{Pass: v.Label == repo.Pass, Score: v.Score,
			Runs: int16(v.Repetitions), Passes: int16(math.Round(v.PassRate * float64(v.Repetitions))), Errors: -1}
	}
	return out
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
