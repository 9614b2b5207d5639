package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/graders"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/runner/adapters"
)

// loadSpec writes a spec and dataset into a temp repository and loads it.
func loadSpec(t *testing.T, spec, cases string) *repo.LoadedSpec {
	t.Helper()
	dir := t.TempDir()
	for path, content := range map[string]string{"evals/experiments/x.yaml": spec, "evals/datasets/d.jsonl": cases} {
		p := filepath.Join(dir, path)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := repo.LoadExperiment(filepath.Join(dir, "evals/experiments/x.yaml"), repo.LoadOptions{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	return ls
}

func runLoop(t *testing.T, ls *repo.LoadedSpec, agent adapters.Adapter) *repo.RunSummary {
	t.Helper()
	reg, err := graders.NewRegistry(ls.Spec.Graders, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := &Loop{Spec: ls, Fingerprint: "agt_test", Executor: &Executor{Adapter: agent, Parallelism: 4, Experiment: ls.Slug, RunID: "run_test",
		Grade: reg.Grade}}
	rs, err := l.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// The pingpong example: iteration 0 investigates at pass@1 0, iteration 1
// is kept at pass@1 1, and the grid is exhausted.
func TestPingpongLoop(t *testing.T) {
	ls, err := repo.LoadExperiment("../evals/experiments/pingpong.yaml", repo.LoadOptions{Root: ".."})
	if err != nil {
		t.Fatal(err)
	}
	agent, _ := adapters.NewBuiltin("pingpong")
	rs := runLoop(t, ls, agent)
	if len(rs.Iterations) != 2 {
		t.Fatalf("%d iterations", len(rs.Iterations))
	}
	it0, it1 := rs.Iterations[0], rs.Iterations[1]
	if it0.Primary != 0 || it0.Decision.Outcome != repo.Investigate || it1.Primary != 1 || it1.Decision.Outcome != repo.KeepCandidate {
		t.Errorf("iteration 0: %v %s; iteration 1: %v %s", it0.Primary, it0.Decision.Outcome, it1.Primary, it1.Decision.Outcome)
	}
	if !strings.HasPrefix(rs.Terminated, "search_space_exhausted: grid exhausted after 2 combinations") || rs.Best == nil || *rs.Best != 1 {
		t.Errorf("terminated %q best %v", rs.Terminated, rs.Best)
	}
	// Kept on evidence: 8 of 8 cases flip, exact McNemar p = 2/2^8, below
	// the whole 0.05 (the grid has one candidate to test).
	want := "proven against the baseline (iteration 0): pass@1 1 (+1, 95% CI [+0.5412, +1], p=0.00781), p below α=0.05 (0.05 split over 1 candidate); no guardrails"
	if it1.Decision.Rationale != want {
		t.Errorf("rationale %q, want %q", it1.Decision.Rationale, want)
	}
}

// latencyAgent answers after reporting a latency that depends on the
// parameters, through a real adapter: the HTTP one.
type fixedAgent struct {
	answer func(req *repo.Request) repo.Response
}

func (f fixedAgent) Call(_ context.Context, req *repo.Request) (repo.Response, error) {
	return f.answer(req), nil
}
func (fixedAgent) Close() error { return nil }

func param(req *repo.Request, key string) float64 {
	mp, _ := req.Parameters["model_params"].(map[string]any)
	switch v := mp[key].(type) {
	case float64:
		return v
	case int64:
		return float64(v)
	}
	return 0
}

const lowerIsBetter = `experiment:
  name: latency
  goal: lower p95
  target:
    primary: {name: cost_usd_per_case, operator: "<=", value: 0.5}
  decision: {significance: report} # the reference's point-estimate rule: the direction is under test
  search_space:
    model_params:
      size: [3, 1, 2]
dataset:
  cases_path: ../datasets/d.jsonl
agent:
  builtin: echo
`

// A target with <= treats lower as better: the cheapest configuration is
// kept and the loop's best is the lowest value.
func TestLowerIsBetter(t *testing.T) {
	ls := loadSpec(t, lowerIsBetter, "{\"input\":{\"text\":\"a\"}}\n{\"input\":{\"text\":\"b\"}}\n")
	rs := runLoop(t, ls, fixedAgent{func(req *repo.Request) repo.Response {
		return repo.Response{Output: "ok", CostUSD: param(req, "size") / 4}
	}})
	var got []string
	for _, it := range rs.Iterations {
		got = append(got, fmt.Sprintf("%v:%s", it.Primary, it.Decision.Outcome))
	}
	// 0.75 misses the target; 0.25 improves (lower); 0.5 is worse than the best.
	want := "0.75:investigate 0.25:keep_candidate 0.5:reject"
	if strings.Join(got, " ") != want {
		t.Errorf("got %s, want %s", strings.Join(got, " "), want)
	}
	if rs.Best == nil || *rs.Best != 1 {
		t.Errorf("best %v, want 1", rs.Best)
	}
}

func TestGuardrailsAndMissing(t *testing.T) {
	spec := strings.Replace(lowerIsBetter, `primary: {name: cost_usd_per_case, operator: "<=", value: 0.5}`,
		`primary: {name: pass@1, operator: ">=", value: 0.5}
    guardrails:
      - {name: cost_usd_per_case, operator: "<=", value: 0.6}
      - {name: tokens_total, operator: "<=", value: 100}`, 1)
	ls := loadSpec(t, spec, "{\"input\":{\"text\":\"a\"}}\n")
	rs := runLoop(t, ls, fixedAgent{func(req *repo.Request) repo.Response {
		return repo.Response{Output: "ok", CostUSD: param(req, "size") / 4}
	}})
	d := rs.Iterations[0].Decision
	if d.Outcome != repo.RequireTradeoffReview || !strings.Contains(d.Rationale, "cost_usd_per_case=0.75 fails <= 0.6") {
		t.Errorf("guardrail: %s %q", d.Outcome, d.Rationale)
	}
	d = rs.Iterations[1].Decision
	// A guardrail nobody observed cannot vouch for a candidate: not kept.
	if d.Outcome != repo.Investigate || !strings.Contains(d.Rationale, "guardrails not observed: tokens_total") {
		t.Errorf("missing guardrail not reported: %s %q", d.Outcome, d.Rationale)
	}
	if d.Guardrail[1].Status != "missing" {
		t.Errorf("guardrail checks %+v", d.Guardrail)
	}
}

func TestConvergenceAndMaxIterations(t *testing.T) {
	spec := strings.Replace(lowerIsBetter, "      size: [3, 1, 2]", "      size: [1, 2, 3, 4, 5, 6]", 1)
	spec = strings.Replace(spec, `primary: {name: cost_usd_per_case, operator: "<=", value: 0.5}`, `primary: {name: pass@1, operator: ">=", value: 0.5}`, 1)
	ls := loadSpec(t, spec, "{\"input\":{\"text\":\"a\"}}\n")
	rs := runLoop(t, ls, fixedAgent{func(req *repo.Request) repo.Response { return repo.Response{Output: "ok"} }})
	// Flat pass@1: converged after patience (3) + 1 iterations.
	if rs.Terminated != "converged" || len(rs.Iterations) != 4 {
		t.Errorf("terminated %q after %d", rs.Terminated, len(rs.Iterations))
	}
	ls.Spec.Experiment.Run.MaxIterations = 2
	rs = runLoop(t, ls, fixedAgent{func(req *repo.Request) repo.Response { return repo.Response{Output: "ok"} }})
	if rs.Terminated != "max_iterations" || len(rs.Iterations) != 2 {
		t.Errorf("terminated %q after %d", rs.Terminated, len(rs.Iterations))
	}
}

func TestAdoptedParametersRunFirstAndOnce(t *testing.T) {
	spec := strings.Replace(lowerIsBetter, "  search_space:", "  parameters: {model_params: {size: 1, extra: 7}}\n  search_space:", 1)
	ls := loadSpec(t, spec, "{\"input\":{\"text\":\"a\"}}\n")
	var seen []string
	rs := runLoop(t, ls, fixedAgent{func(req *repo.Request) repo.Response {
		return repo.Response{Output: "ok", CostUSD: param(req, "size") / 4}
	}})
	for _, it := range rs.Iterations {
		seen = append(seen, formatValue(it.Params["model_params"]))
	}
	// Baseline first; the grid's size=1 equals the baseline and is skipped;
	// proposals keep the adopted extra=7.
	want := `{"extra":7,"size":1} {"extra":7,"size":3} {"extra":7,"size":2}`
	if strings.Join(seen, " ") != want {
		t.Errorf("got %s\nwant %s", strings.Join(seen, " "), want)
	}
}

// A spec with neither parameters nor a search space still runs its agent
// once, as configured, and then ends.
func TestNoParametersRunsABaseline(t *testing.T) {
	spec := strings.Replace(lowerIsBetter, "  search_space:\n    model_params:\n      size: [3, 1, 2]\n", "", 1)
	ls := loadSpec(t, spec, "{\"input\":{\"text\":\"a\"}}\n")
	rs := runLoop(t, ls, fixedAgent{func(*repo.Request) repo.Response { return repo.Response{Output: "ok"} }})
	if len(rs.Iterations) != 1 || rs.Calls != 1 || len(rs.Iterations[0].Params) != 0 {
		t.Fatalf("iterations %d, calls %d", len(rs.Iterations), rs.Calls)
	}
	if !strings.HasPrefix(rs.Terminated, "search_space_exhausted") {
		t.Errorf("terminated %q", rs.Terminated)
	}
	// selfevals estimate counts the same baseline.
	if n, err := CountIterations(&ls.Spec.Experiment, 20); err != nil || n != 1 {
		t.Errorf("CountIterations = %d, %v; want 1", n, err)
	}
}

func TestRandomProposerIsSeeded(t *testing.T) {
	e := &repo.Experiment{
		SearchSpace: repo.SearchSpace{ModelParams: repo.OrderedMap{
			{Key: "temperature", Value: map[string]any{"min": 0.0, "max": 1.0}},
			{Key: "top_k", Value: map[string]any{"min": int64(1), "max": int64(10)}},
			{Key: "model", Value: []any{"a", "b"}},
			{Key: "const", Value: int64(7)},
		}},
		Proposer: repo.Proposer{Strategy: "random", Parameters: repo.ProposerParams{MaxProposals: 3}},
	}
	draw := func() []string {
		p, err := NewProposer(e)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for {
			prop, ok := p.Next(nil)
			if !ok {
				break
			}
			mp := prop.Params["model_params"].(map[string]any)
			tk := mp["top_k"].(int64)
			tp := mp["temperature"].(float64)
			if tk < 1 || tk > 10 || tp < 0 || tp > 1 || mp["const"] != int64(7) {
				t.Errorf("out of range: %v", mp)
			}
			out = append(out, prop.Hypothesis)
		}
		return out
	}
	a, b := draw(), draw()
	if len(a) != 3 || strings.Join(a, "|") != strings.Join(b, "|") {
		t.Errorf("not reproducible: %v vs %v", a, b)
	}
}

func TestGridOrderLastKeyFastest(t *testing.T) {
	e := &repo.Experiment{SearchSpace: repo.SearchSpace{ModelParams: repo.OrderedMap{
		{Key: "b", Value: []any{int64(1), int64(2)}}, {Key: "a", Value: []any{"x", "y"}},
	}}, Proposer: repo.Proposer{Strategy: "grid"}}
	p, _ := NewProposer(e)
	var got []string
	for {
		prop, ok := p.Next(nil)
		if !ok {
			break
		}
		got = append(got, prop.Hypothesis)
	}
	want := `grid[0]: b=1, a="x"|grid[1]: b=1, a="y"|grid[2]: b=2, a="x"|grid[3]: b=2, a="y"`
	if strings.Join(got, "|") != want {
		t.Errorf("got %s", strings.Join(got, "|"))
	}
	if p.Exhausted() != "grid exhausted after 4 combinations" {
		t.Error(p.Exhausted())
	}
}

// latency_ms_p95 <= 2000 treats lower latency as better.
func TestDecideLatencyLowerIsBetter(t *testing.T) {
	e := &repo.Experiment{Target: repo.Target{Primary: repo.MetricTarget{Name: "latency_ms_p95", Operator: "<=", Value: 2000}},
		Decision: repo.DecisionPolicy{IfRegressionFails: "reject", Significance: "report", Confidence: 0.95}}
	it := func(index int, p95 float64) *repo.IterationSummary {
		return &repo.IterationSummary{Index: index, Primary: p95, Metrics: map[string]repo.Metric{"latency_ms_p95": {Value: p95, Observed: true}},
			Pairs: repo.CasePairs{IDs: []string{"a"}, List: []repo.CasePair{{}}}}
	}
	slow, fast, slower := it(0, 2500), it(1, 1500), it(2, 1800)
	if d := Decide(e, slow, nil); d.Outcome != repo.Investigate {
		t.Errorf("2500 ms vs <= 2000: %s", d.Outcome)
	}
	if d := Decide(e, fast, slow); d.Outcome != repo.KeepCandidate || !strings.HasPrefix(d.Rationale, "improvement: latency_ms_p95 1500 (-1000)") {
		t.Errorf("faster: %s %q", d.Outcome, d.Rationale)
	}
	if d := Decide(e, slower, fast); d.Outcome != repo.Reject || !strings.HasPrefix(d.Rationale, "no improvement over iteration 1") {
		t.Errorf("slower than the best: %s %q", d.Outcome, d.Rationale)
	}
	if !e.Target.Primary.Better(1500, 2500) || e.Target.Primary.Better(2500, 1500) {
		t.Error("Better does not follow the operator")
	}
}

func TestSignificanceRequire(t *testing.T) {
	e := &repo.Experiment{Target: repo.Target{Primary: repo.MetricTarget{Name: "pass@1", Operator: ">=", Value: 0.1}},
		Decision: repo.DecisionPolicy{IfRegressionFails: "reject", Significance: "require", Confidence: 0.95}}
	mk := func(index int, pass ...bool) *repo.IterationSummary {
		s := &repo.IterationSummary{Index: index}
		n := 0
		for i, p := range pass {
			s.Pairs.Add(fmt.Sprintf("%04d", i), repo.CasePair{Pass: p})
			if p {
				n++
			}
		}
		s.Primary = float64(n) / float64(len(pass))
		s.Metrics = map[string]repo.Metric{"pass@1": {Value: s.Primary, Observed: true}}
		return s
	}
	// Seven cases (six is the fewest that can show anything at 95 %).
	a, b := mk(0, true, false, false, false, false, false, false), mk(1, true, true, false, false, false, false, false)
	d := Decide(e, b, a)
	if d.Outcome != repo.Investigate || !strings.Contains(d.Rationale, "not significant") || !strings.Contains(d.Rationale, "p=1") {
		t.Errorf("%s %q", d.Outcome, d.Rationale)
	}
	e.Decision.Significance = "report"
	if d := Decide(e, b, a); d.Outcome != repo.KeepCandidate {
		t.Errorf("report: %s", d.Outcome)
	}
}
