package runner

import (
	"fmt"
	"hash/fnv"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/runner/adapters"
)

// Nothing failed on the first try, so nothing could be recovered: the
// recovery rate is not observed (not 0, which a ">=" guardrail would block).
func TestRecoveryRateUndefinedWithoutFailures(t *testing.T) {
	a := NewAggregator(2)
	for rep := range 2 {
		a.Add(&repo.Result{Trace: repo.Trace{CaseID: "c", Repetition: rep}, Label: repo.Pass, Score: 1})
	}
	if m := a.Metrics(0.95, nil)["recovery_rate"]; m.Observed {
		t.Errorf("recovery_rate observed as %v with no failure to recover from", m.Value)
	}
}

// A pass@k or pass^k target needs k repetitions: the run refuses to start
// rather than measure a number the agent cannot move.
func TestOpenRefusesPassAtKAboveTheRepetitions(t *testing.T) {
	spec := strings.Replace(lowerIsBetter, `primary: {name: cost_usd_per_case, operator: "<=", value: 0.5}`,
		`primary: {name: "pass^3", operator: ">=", value: 0.5}`, 1)
	ls := loadSpec(t, spec, "{\"input\":{\"text\":\"a\"}}\n")
	agent, _ := adapters.NewBuiltin("echo")
	_, err := Open(ls, OpenOptions{EvalsDir: t.TempDir(), Adapter: agent, Fingerprint: "agt_test", NoCache: true, NoCommit: "test"})
	if !repo.IsUserError(err) || !strings.Contains(err.Error(), "pass^3 needs at least 3 repetitions per case; the run has 1") {
		t.Fatalf("error %v", err)
	}
	ls.Spec.Experiment.Run.RepetitionsPerCase = 3 // as --reps 3 sets it
	s, err := Open(ls, OpenOptions{EvalsDir: t.TempDir(), Adapter: agent, Fingerprint: "agt_test", NoCache: true, NoCommit: "test"})
	if err != nil {
		t.Fatalf("with 3 repetitions: %v", err)
	}
	s.Close()
}

// noiseSweep is a sweep of ten proposals over twenty cases whose answers
// are coin flips, the same for no two (case, proposal, seed): no proposal
// is better than another.
func noiseSweep(t *testing.T, significance string, seed int) int {
	t.Helper()
	spec := `experiment:
  name: noise
  goal: keep nothing
  target:
    primary: {name: pass@1, operator: ">=", value: 0.9}
  decision: {significance: ` + significance + `}
  search_space:
    model_params:
      level: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
  run: {max_iterations: 11, convergence: {patience: 20}}
dataset:
  cases_path: ../datasets/d.jsonl
agent:
  builtin: echo
graders:
  - {type: deterministic, name: rules}
`
	var cases strings.Builder
	for i := range 20 {
		fmt.Fprintf(&cases, `{"name":"c%d","input":{"text":"%d"},"expected":{"must_include":["heads"]}}`+"\n", i, i)
	}
	ls := loadSpec(t, spec, cases.String())
	rs := runLoop(t, ls, fixedAgent{func(req *repo.Request) repo.Response {
		h := fnv.New64a()
		fmt.Fprintf(h, "%d/%s/%v", seed, req.CaseID, param(req, "level"))
		if h.Sum64()%2 == 0 {
			return repo.Response{Output: "heads"}
		}
		return repo.Response{Output: "tails"}
	}})
	if len(rs.Iterations) != 11 {
		t.Fatalf("seed %d: %d iterations (%s)", seed, len(rs.Iterations), rs.Terminated)
	}
	kept := 0
	for _, it := range rs.Iterations {
		if it.Decision.Outcome == repo.KeepCandidate {
			kept++
		}
	}
	return kept
}

// A sweep of pure noise keeps nothing in at least 95 % of seeds under the
// default rule (each candidate tested against the baseline at its share of
// 0.05); the reference's point-estimate rule, significance: report, keeps
// something in most of them.
func TestNoiseIsNotKept(t *testing.T) {
	const seeds = 100
	keptUnderRequire, keptUnderReport := 0, 0
	for seed := range seeds {
		if noiseSweep(t, "require", seed) > 0 {
			keptUnderRequire++
		}
		if noiseSweep(t, "report", seed) > 0 {
			keptUnderReport++
		}
	}
	if keptUnderRequire > seeds/20 {
		t.Errorf("the default rule kept noise in %d of %d sweeps (at most 5 %% allowed)", keptUnderRequire, seeds)
	}
	if keptUnderReport < seeds/2 {
		t.Errorf("significance: report kept something in only %d of %d noise sweeps; the point-estimate rule keeps any gain", keptUnderReport, seeds)
	}
	t.Logf("noise sweeps keeping a candidate: %d/%d under require, %d/%d under report", keptUnderRequire, seeds, keptUnderReport, seeds)
}

// An unproven gain is investigated against the baseline at its share of
// alpha, and the rationale says how many cases would tell.
func TestUnprovenGainSaysHowManyCasesWouldTell(t *testing.T) {
	e := &repo.Experiment{Target: repo.Target{Primary: repo.MetricTarget{Name: "pass@1", Operator: ">=", Value: 0.9}},
		Decision: repo.DecisionPolicy{IfRegressionFails: repo.Reject, Significance: "require", Confidence: 0.95}}
	mk := func(index, passing int) *repo.IterationSummary {
		s := &repo.IterationSummary{Index: index}
		for i := range 12 {
			s.Pairs.Add(fmt.Sprintf("%02d", i), repo.CasePair{Pass: i < passing})
		}
		s.Primary = float64(passing) / 12
		s.Metrics = map[string]repo.Metric{"pass@1": {Value: s.Primary, Observed: true}}
		return s
	}
	base, cur := mk(0, 4), mk(1, 7)
	d := DecideInSweep(e, cur, base, Sweep{Baseline: base, Comparisons: 4})
	if d.Outcome != repo.Investigate || !strings.Contains(d.Rationale, "not proven against the baseline (iteration 0)") ||
		!strings.Contains(d.Rationale, "α=0.0125 (0.05 split over 4 candidates)") || !strings.Contains(d.Rationale, "cases to show (80% power), the sweep has 12") {
		t.Errorf("%s %q", d.Outcome, d.Rationale)
	}
	if d.Evidence == nil || d.Evidence.Test != "exact McNemar" || d.Baseline == nil || *d.Baseline != 0 {
		t.Errorf("evidence %+v baseline %v", d.Evidence, d.Baseline)
	}
	// The same gain on many cases is proven.
	big := func(index, passing int) *repo.IterationSummary {
		s := &repo.IterationSummary{Index: index}
		for i := range 120 {
			s.Pairs.Add(fmt.Sprintf("%03d", i), repo.CasePair{Pass: i%12 < passing})
		}
		s.Primary = float64(passing) / 12
		s.Metrics = map[string]repo.Metric{"pass@1": {Value: s.Primary, Observed: true}}
		return s
	}
	base, cur = big(0, 4), big(1, 7)
	if d := DecideInSweep(e, cur, base, Sweep{Baseline: base, Comparisons: 4}); d.Outcome != repo.KeepCandidate {
		t.Errorf("120 cases: %s %q", d.Outcome, d.Rationale)
	}
}

// Free calls are a measured cost of 0: cost is observed; calls that report
// no cost leave it unobserved.
func TestReportedZeroCostIsObserved(t *testing.T) {
	for _, tc := range []struct {
		reported bool
		observed bool
	}{{true, true}, {false, false}} {
		a := NewAggregator(1)
		a.Add(&repo.Result{Trace: repo.Trace{CaseID: "c", CostReported: tc.reported}, Label: repo.Pass, Score: 1})
		m := a.Metrics(0.95, nil)
		if m["cost_usd_total"].Observed != tc.observed || m["cost_usd_per_case"].Observed != tc.observed {
			t.Errorf("reported=%v: cost observed %v, want %v", tc.reported, m["cost_usd_total"].Observed, tc.observed)
		}
	}
}
