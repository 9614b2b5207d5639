package reports

import (
	"fmt"
	"math"
	"testing"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/runner"
)

// A run's decision and `selfevals diff` judge the same pairs the same way:
// the same test, interval, p-value and direction for the primary metric,
// whether it is a pass rate or a score, and whichever way it moved.
func TestDecideAndDiffAgreeOnTheSamePairs(t *testing.T) {
	// 40 cases; A passes the first 20, B the first 20 plus cases 20–27
	// (8 discordant pairs, all favouring B), scores follow the labels with
	// some noise.
	const n = 40
	outcomes := func(passing int, shift float64) repo.CasePairs {
		var ps repo.CasePairs
		for i := range n {
			pass := i < passing
			score := 0.2 + 0.01*float64(i%7)
			if pass {
				score = 0.8 + shift - 0.01*float64(i%5)
			}
			ps.Add(fmt.Sprintf("case_%02d", i), repo.CasePair{Pass: pass, Score: score, Runs: 1, Passes: int16(b2i(pass)), Timed: true})
		}
		return ps
	}
	a, b := outcomes(20, 0), outcomes(28, 0.05)
	for _, tc := range []struct {
		name   string
		target repo.MetricTarget
		first  repo.CasePairs // the best so far (revision A)
		second repo.CasePairs // the new iteration (revision B)
	}{
		{"pass rate improves", repo.MetricTarget{Name: "pass@1", Operator: ">=", Value: 0.9}, a, b},
		{"pass rate regresses", repo.MetricTarget{Name: "pass@1", Operator: ">=", Value: 0.9}, b, a},
		{"fail rate improves", repo.MetricTarget{Name: "fail_rate", Operator: "<=", Value: 0.1}, a, b},
		{"score improves", repo.MetricTarget{Name: "mean_score", Operator: ">=", Value: 0.9}, a, b},
		{"score regresses", repo.MetricTarget{Name: "mean_score", Operator: ">=", Value: 0.9}, b, a},
		// Consistency is tested on its own per-case values (passes over
		// repetitions), on both sides alike.
		{"consistency improves", repo.MetricTarget{Name: "consistency_rate", Operator: ">=", Value: 0.9}, a, b},
		// Latency is a quantile: neither side may claim a paired test.
		{"p95 latency has no paired test", repo.MetricTarget{Name: "latency_ms_p95", Operator: "<=", Value: 100}, a, b},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &repo.Experiment{Target: repo.Target{Primary: tc.target},
				Decision: repo.DecisionPolicy{IfRegressionFails: repo.Reject, Confidence: 0.95}}
			best, cur := iterationOf(0, tc.target, tc.first), iterationOf(1, tc.target, tc.second)
			d := runner.Decide(e, cur, best)
			ev := d.Evidence
			if ev == nil {
				t.Fatalf("decision has no evidence: %+v", d)
			}

			tree := func(it *repo.IterationSummary) mapTree {
				summary, cases := committedResult(t, tc.target, it)
				return mapTree{"evals/results/x/summary.json": string(summary), "evals/results/x/cases.jsonl": string(cases)}
			}
			rep, err := Diff(Revision{Name: "a", Tree: tree(best)}, Revision{Name: "b", Tree: tree(cur)}, DiffOptions{EvalsDir: "evals", Confidence: 0.95})
			if err != nil {
				t.Fatal(err)
			}
			var md *MetricDiff
			for i := range rep.Experiments[0].Metrics {
				if m := &rep.Experiments[0].Metrics[i]; m.Name == tc.target.Name {
					md = m
				}
			}
			if md == nil {
				t.Fatalf("diff has no row for %s", tc.target.Name)
			}
			if ev.Test == "" || md.Test == "" {
				if ev.Test != md.Test || md.P != nil || ev.P != nil {
					t.Errorf("decide test %q (p=%v), diff test %q (p=%v): one claims a test the other does not", ev.Test, ev.P, md.Test, md.P)
				}
				return
			}
			if md.Test != ev.Test || md.Pairs != ev.Pairs || md.P == nil || ev.P == nil || *md.P != *ev.P ||
				md.CI[0] != round6(ev.Lo) || md.CI[1] != round6(ev.Hi) {
				t.Errorf("diff %s %d pairs p=%v CI %v; decide %s %d pairs p=%v CI [%v, %v]",
					md.Test, md.Pairs, md.P, *md.CI, ev.Test, ev.Pairs, ev.P, ev.Lo, ev.Hi)
			}
			improved := tc.target.Better(cur.Primary, best.Primary)
			wantVerdict := VerdictWorse
			if improved {
				wantVerdict = VerdictBetter
			}
			significant := ev.Significant(0.95)
			switch {
			case significant && md.Verdict != wantVerdict:
				t.Errorf("diff says %s, decide saw a significant %s (p=%v)", md.Verdict, wantVerdict, *ev.P)
			case !significant && md.Verdict != VerdictNotSignificant:
				t.Errorf("diff says %s for a change that is not significant (p=%v)", md.Verdict, *ev.P)
			}
			if improved != (d.Outcome == repo.KeepCandidate) {
				t.Errorf("decide %s (%s) but the metric improved=%v", d.Outcome, d.Rationale, improved)
			}
		})
	}
}

// iterationOf is an iteration with these outcomes and the metrics they give.
func iterationOf(index int, target repo.MetricTarget, pairs repo.CasePairs) *repo.IterationSummary {
	passed, score := 0.0, 0.0
	for _, p := range pairs.List {
		if p.Pass {
			passed++
		}
		score += p.Score
	}
	n := float64(pairs.Len())
	it := &repo.IterationSummary{Index: index, Pairs: pairs, Metrics: map[string]repo.Metric{
		"pass@1":           {Value: passed / n, N: pairs.Len(), Observed: true},
		"fail_rate":        {Value: 1 - passed/n, N: pairs.Len(), Observed: true},
		"mean_score":       {Value: score / n, N: pairs.Len(), Observed: true},
		"consistency_rate": {Value: passed / n, N: pairs.Len(), Observed: true},
		"latency_ms_p95":   {Value: 50 + float64(index), N: pairs.Len(), Observed: true},
	}}
	it.Primary = it.Metrics[target.Name].Value
	return it
}

// committedResult is what a run commits for an iteration: summary.json and
// cases.jsonl.
func committedResult(t *testing.T, target repo.MetricTarget, it *repo.IterationSummary) (summary, cases []byte) {
	t.Helper()
	s := &repo.ResultsSummary{SchemaVersion: "1", Experiment: repo.SummaryExperiment{Slug: "x"}, Cases: it.Pairs.Len(), Repetitions: 1,
		Target: target, Metrics: map[string]repo.SummaryMetric{}, FailureModes: map[string]int{}}
	for name, m := range it.Metrics {
		s.Metrics[name] = repo.SummaryMetric{Value: m.Value, CI: [2]float64{m.Value, m.Value}, N: m.N}
	}
	s.Primary = &it.Primary
	var vs []repo.CaseVerdict
	for i, p := range it.Pairs.List {
		label := repo.Fail
		if p.Pass {
			label = repo.Pass
		}
		vs = append(vs, repo.CaseVerdict{CaseID: it.Pairs.ID(i), Label: label, Score: p.Score, PassRate: math.Round(p.Score), Repetitions: 1})
	}
	summary, cases, err := repo.EncodeResults(s, vs)
	if err != nil {
		t.Fatal(err)
	}
	return summary, cases
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
