package runner

import (
	"math"
	"testing"

	"github.com/selfevals/selfevals/repo"
)

func result(caseID string, rep int, label repo.Label, cost, latency float64, modes ...string) *repo.Result {
	score := 0.0
	if label == repo.Pass {
		score = 1
	}
	r := &repo.Result{Label: label, Score: score}
	r.CaseID, r.Repetition, r.CostUSD, r.LatencyMS = caseID, rep, cost, latency
	r.Usage = repo.Usage{InputTokens: 10, OutputTokens: 5}
	r.Grades = []repo.Grade{{Grader: "rules", Label: label, FailureModes: modes}}
	if label == repo.Error {
		r.Error, r.ErrorKind = "boom", repo.ErrExit
	}
	return r
}

// Hand-computed: case a passes reps 0 and 2, case b passes rep 1 only.
func TestAggregateMetrics(t *testing.T) {
	a := NewAggregator(3)
	for _, r := range []*repo.Result{
		result("a", 0, repo.Pass, 0.01, 100), result("a", 1, repo.Fail, 0.01, 200, "missing_required_substring"), result("a", 2, repo.Pass, 0.01, 300),
		result("b", 0, repo.Fail, 0.02, 400, "missing_required_substring"), result("b", 1, repo.Pass, 0.02, 500), result("b", 2, repo.Error, 0, 600),
	} {
		a.Add(r)
	}
	m := a.Metrics(0.95, []string{"pass@2", "pass^2", "pass@5"})
	for name, want := range map[string]float64{
		"pass@1":                  0.5,
		"pass@2":                  (1 + 2.0/3) / 2, // a: 1-C(1,2)/C(3,2); b: 1-C(2,2)/C(3,2)
		"pass^2":                  (1.0 / 3) / 2,   // a: C(2,2)/C(3,2); b: 0
		"consistency_rate":        0.5,
		"recovery_rate":           1,
		"mean_score":              0.5,
		"error_rate":              1.0 / 6,
		"fail_rate":               0.5,
		"cost_usd_total":          0.07,
		"cost_usd_per_case":       0.035,
		"latency_ms_p50":          350,
		"latency_ms_p95":          575,
		"latency_ms_per_case_avg": 1050,
		"tokens_total":            90,
		"pass@1[rules]":           0.5,
	} {
		got, ok := m[name]
		if !ok || !got.Observed {
			t.Errorf("%s not observed", name)
			continue
		}
		if math.Abs(got.Value-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got.Value, want)
		}
	}
	// pass@1 over 2 cases: Wilson interval of 1/2.
	if lo, hi := *m["pass@1"].Lo, *m["pass@1"].Hi; math.Abs(lo-0.0945) > 1e-3 || math.Abs(hi-0.9055) > 1e-3 {
		t.Errorf("pass@1 interval [%v, %v]", lo, hi)
	}
	if m["pass@5"].Observed {
		t.Error("pass@5 with 3 repetitions must be reported as not observed")
	}
	if a.FailureModes()["missing_required_substring"] != 2 {
		t.Errorf("failure modes %v", a.FailureModes())
	}
	pairs := a.Pairs()
	if pairs.Len() != 2 || pairs.ID(0) != "a" || pairs.ID(1) != "b" || !pairs.List[0].Pass || pairs.List[1].Pass || math.Abs(pairs.List[0].Score-2.0/3) > 1e-9 {
		t.Errorf("pairs %v", pairs)
	}
}

func TestUnobservedCostIsMissing(t *testing.T) {
	a := NewAggregator(1)
	a.Add(result("a", 0, repo.Pass, 0, 10))
	m := a.Metrics(0.95, nil)
	if m["cost_usd_per_case"].Observed || m["cost_usd_total"].Observed {
		t.Error("cost observed although no agent reported one")
	}
}
