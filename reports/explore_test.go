package reports

import (
	"strings"
	"testing"
	"time"

	"github.com/selfevals/selfevals/repo"
)

// Fixed views, so the golden files pin the layout of every text view.
var (
	started = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ended   = started.Add(time.Hour + 90*time.Second)
	one     = 1.0
	zero    = 0.0
	lo, hi  = 0.6756, 1.0
	runRows = []RunRow{
		{ID: "run_00000000000000b2", Slug: "pingpong", State: repo.RunCompleted, Iterations: 2, Calls: 0, CacheHits: 16,
			Best: &BestIteration{Index: 1, ID: "itr_1111111111111111", Metric: "pass@1", Value: 1}, StartedAt: started.Add(time.Hour), EndedAt: &ended},
		{ID: "run_00000000000000a1", Slug: "pingpong", State: repo.RunInterrupted, Iterations: 1, Calls: 1234, StartedAt: started},
	}
)

func TestExploreListsGolden(t *testing.T) {
	rows := []ExperimentRow{
		{Slug: "broken", File: "evals/experiments/broken.yaml", Problem: "evals/experiments/broken.yaml:3:5: experiment.target: required", Problems: 2},
		{Slug: "gone", Runs: 1, Problem: "no spec", Problems: 1, Target: "pass@1 >= 0.9", LastRun: &runRows[1]},
		{Slug: "pingpong", File: "evals/experiments/pingpong.yaml", ID: "exp_fca311acb8c3ef73", Target: "pass@1 >= 0.5", Runs: 2, LastRun: &runRows[0]},
	}
	golden(t, "explore/experiments.txt", []byte(ExperimentList(rows)))
	golden(t, "explore/runs.txt", []byte(RunList(runRows)))
}

func TestShowTextGolden(t *testing.T) {
	iterations := []IterationRef{
		{ID: "itr_0000000000000000", Run: "run_00000000000000b2", Experiment: "pingpong", Index: 0, Metric: "pass@1", Value: &zero, Outcome: "investigate"},
		{ID: "itr_1111111111111111", Run: "run_00000000000000b2", Experiment: "pingpong", Index: 1, Metric: "pass@1", Value: &one, Outcome: "keep_candidate"},
	}
	views := map[string]any{
		"experiment": &ExperimentView{Kind: KindExperiment, ID: "exp_fca311acb8c3ef73", Slug: "pingpong", Name: "pingpong baseline", Goal: "warm up",
			File: "evals/experiments/pingpong.yaml", Current: true, Target: "pass@1 >= 0.5", Guardrails: []string{"cost_usd_per_case <= 0.01"},
			DatasetID: "ds_0dfc451f711228c0", DatasetFile: "evals/datasets/pingpong.jsonl", Cases: 8, Agent: "builtin pingpong",
			Graders: []string{"rules"}, Proposer: "grid", ParamsID: "par_6d09858404a9d7cc", Parameters: repo.Parameters{"model_params": map[string]any{"level": 0}}, Runs: runRows},
		"experiment-old": &ExperimentView{Kind: KindExperiment, ID: "exp_0000000000000000", Slug: "pingpong", Target: "pass@1 >= 0.5", Guardrails: []string{}, Graders: []string{}, Runs: []RunRow{}},
		"dataset": &DatasetView{Kind: KindDataset, ID: "ds_0dfc451f711228c0", File: "evals/datasets/pingpong.jsonl", Cases: 2,
			CaseList: []DatasetCase{{ID: "case_0064f18cd1f5d9dd", Name: "ping", Line: 1}, {ID: "ticket-42", Line: 2}}, Experiments: []string{"pingpong"}, Runs: []string{"run_00000000000000b2"}},
		"case": &CaseView{Kind: KindCase, ID: "case_0064f18cd1f5d9dd", Name: "ping", File: "evals/datasets/pingpong.jsonl", Line: 1, Definition: "def_0064f18cd1f5d9dd",
			Case: []byte(`{"input":{"text":"ping"},"expected":{"must_include":["pong"]}}`), Datasets: []string{"ds_0dfc451f711228c0"},
			Verdicts: []CaseVerdict{{Experiment: "pingpong", Label: "fail", Score: 0, PassRate: 0, Reason: "missing \"pong\"\nin output"}}},
		"parameters": &ParametersView{Kind: KindParameters, ID: "par_e40aa5c612cc5bae", Parameters: repo.Parameters{"model_params": map[string]any{"level": 1}},
			AdoptedBy: []string{}, Iterations: iterations[1:]},
		"iteration": &IterationView{Kind: KindIteration, ID: "itr_1111111111111111", Experiment: "pingpong", Run: "run_00000000000000b2", Index: 1,
			ParamsID: "par_e40aa5c612cc5bae", Parameters: repo.Parameters{"model_params": map[string]any{"level": 1}}, Hypothesis: "grid[1]: level=1",
			Target: "pass@1 >= 0.5", Outcome: "keep_candidate", Rationale: "proven against the baseline",
			Metrics:      []MetricRow{{Name: "cost_usd_per_case", N: 8}, {Name: "pass@1", Value: &one, Lo: &lo, Hi: &hi, N: 8}},
			FailureModes: []ModeCount{{Mode: "missing_required_substring", Count: 3}}, Calls: 8, CacheHits: 0, Errors: 1, DurationMS: 1500,
			OtherRuns: []IterationRef{{ID: "itr_1111111111111111", Run: "run_00000000000000a1", Experiment: "pingpong", Index: 1, Metric: "pass@1", Outcome: "investigate"}}},
		"run": &RunView{Kind: KindRun, ID: "run_00000000000000b2", Experiment: "pingpong", ExperimentID: "exp_fca311acb8c3ef73", Spec: "evals/experiments/pingpong.yaml",
			DatasetID: "ds_0dfc451f711228c0", Cases: 8, Agent: "agt_04b76b6b2b1d25df", Target: "pass@1 >= 0.5", Proposer: "grid",
			GitCommit: "14a044507d418dc55ddc58b1662287c83a0c08ed", GitDirty: true, ToolVersion: "dev", Row: runRows[0], Iterations: iterations},
		"failure-mode": &FailureModeView{Kind: KindFailureMode, ID: "fm_says_miss", Slug: "says_miss", Title: "Says miss", Status: "candidate",
			Definition: "The agent answers miss.", ProposedBy: "agent:claude", Examples: []ModeExample{{TraceID: "tr_0000000000000001", Quote: "miss"}},
			History: []ModeEvent{{Action: "proposed", At: "2026-01-02T03:04:05Z", By: "agent:claude"}}},
		"trace": &TraceView{Kind: KindTrace, ID: "tr_0000000000000001", Experiment: "pingpong", Run: "run_00000000000000b2", Iteration: 1,
			CaseID: "case_0064f18cd1f5d9dd", ParamsID: "par_e40aa5c612cc5bae", StartedAt: "2026-01-02T03:04:05.000Z", LatencyMS: 830.25, Attempts: 2,
			Model: "small", InputTokens: 812, OutputTokens: 95, CostUSD: &zero, Label: "fail", Score: 0.5,
			Grades: []GradeRow{{Grader: "rules", Label: "pass", FailureModes: []string{}}, {Grader: "judge", Label: "fail", Reason: "no refund\noffered", FailureModes: []string{"says_miss"}}},
			Output: "line one\nline two", StructuredOutput: []byte(`{"a":1}`), ToolCalls: []string{"lookup", "search"},
			Error: "", Stderr: "warning: slow\n"},
		"agent":      &AgentView{Kind: KindAgent, ID: "agt_04b76b6b2b1d25df", Agents: []string{"builtin pingpong"}, Experiments: []string{"pingpong"}, Runs: runRows[:1]},
		"agent-gone": &AgentView{Kind: KindAgent, ID: "agt_0000000000000000", Agents: []string{}, Experiments: []string{}, Runs: runRows[1:]},
		"definition": &DefinitionView{Kind: KindDefinition, ID: "def_8153eaddc219b477", Cases: []DefinedCase{
			{ID: "case_0bc259388a8e34b4", Name: "ping", File: "evals/datasets/pingpong.jsonl", Line: 1}, {ID: "ticket-42", File: "evals/datasets/other.jsonl", Line: 7}}},
	}
	for name, v := range views {
		golden(t, "explore/show-"+name+".txt", []byte(ShowText(v)))
	}
}

// Lists and views with nothing in them are [] in JSON, never null.
func TestExploreJSONEmptyLists(t *testing.T) {
	for _, v := range []any{[]ExperimentRow{}, []RunRow{}, failureModeView(&repo.FailureMode{Slug: "x"})} {
		b, err := ExploreJSON(v)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "null") {
			t.Errorf("null in %s", b)
		}
	}
}
