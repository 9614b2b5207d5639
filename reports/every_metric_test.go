package reports

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/runner"
	"github.com/selfevals/selfevals/runner/adapters"
)

// Every metric name the loader accepts works as the primary target and as a
// guardrail, with every operator: the run completes, every iteration is
// decided, and the JSON report matches its schema (no NaN anywhere).
func TestEveryMetricAsPrimaryAndGuardrail(t *testing.T) {
	names := []string{
		"pass@1", "consistency_rate", "stability_score", "recovery_rate", "mean_score",
		"error_rate", "fail_rate", "cost_usd_total", "cost_usd_per_case",
		"latency_ms_p50", "latency_ms_p95", "latency_ms_per_case_avg",
		"tokens_input_total", "tokens_output_total", "tokens_total",
		"pass@2", "pass^2", "pass@1[rules]",
	}
	schema := reportSchema(t)
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "evals/datasets/d.jsonl"),
		`{"name":"a","input":{"text":"ping"},"expected":{"must_include":["pong"]}}`+"\n"+
			`{"name":"b","input":{"text":"PING"},"expected":{"must_include":["pong"]}}`+"\n"+
			`{"name":"c","input":{"text":"Ping"},"expected":{"must_include":["pong"]}}`+"\n")
	for _, name := range names {
		if !repo.KnownMetric(name, []string{"rules"}) {
			t.Fatalf("the loader does not know %s", name)
		}
		for _, op := range []string{">", ">=", "<", "<=", "=="} {
			for _, role := range []string{"primary", "guardrail"} {
				t.Run(fmt.Sprintf("%s %s %s", role, name, op), func(t *testing.T) {
					target := fmt.Sprintf("{name: %q, operator: %q, value: 0.5}", name, op)
					primary, guardrails := target, "[]"
					if role == "guardrail" {
						primary, guardrails = `{name: pass@1, operator: ">=", value: 0.5}`, "["+target+"]"
					}
					rs := runSpec(t, root, fmt.Sprintf(`experiment:
  name: every metric
  goal: g
  target: {primary: %s, guardrails: %s}
  editable: {model_params: true}
  search_space: {model_params: {level: [0.0, 1.0]}}
  proposer: {strategy: grid}
  run: {max_iterations: 3, repetitions_per_case: 2, timeout: 10s}
dataset: {cases_path: ../datasets/d.jsonl}
agent: {builtin: pingpong}
graders: [{type: deterministic, name: rules}]
`, primary, guardrails))
					if rs.State != repo.RunCompleted || len(rs.Iterations) != 2 {
						t.Fatalf("state %s, %d iterations, terminated %q", rs.State, len(rs.Iterations), rs.Terminated)
					}
					for _, it := range rs.Iterations {
						if it.Decision.Outcome == "" || it.Decision.Rationale == "" {
							t.Errorf("iteration %d undecided: %+v", it.Index, it.Decision)
						}
					}
					out, err := JSON(rs)
					if err != nil {
						t.Fatal(err)
					}
					doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(out))
					if err != nil {
						t.Fatal(err)
					}
					if err := schema.Validate(doc); err != nil {
						t.Errorf("the JSON report does not match its schema: %v", err)
					}
				})
			}
		}
	}
}

// runSpec writes spec as the experiment x under root's evals/ and runs it
// with the built-in agent, recorded as `selfevals run --no-commit` would.
func runSpec(t *testing.T, root, spec string) *repo.RunSummary {
	t.Helper()
	path := filepath.Join(root, "evals/experiments/x.yaml")
	writeFile(t, path, spec)
	ls, err := repo.LoadExperiment(path, repo.LoadOptions{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := adapters.NewBuiltin(ls.Spec.Agent.Builtin)
	if err != nil {
		t.Fatal(err)
	}
	session, err := runner.Open(ls, runner.OpenOptions{EvalsDir: filepath.Join(root, "evals"), Adapter: agent,
		Fingerprint: "agt_test", NoCache: true, NoCommit: "test", ToolVersion: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer session.Close()
	rs, err := session.Run(context.Background())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return rs
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func reportSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(ReportSchema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("report.schema.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	return schema
}

// The markdown report names its intervals at the run's confidence.
func TestMarkdownIntervalsAtTheRunsConfidence(t *testing.T) {
	rs := pingpongRun(t)
	rs.Confidence = 0.9
	if md := Markdown(rs); !strings.Contains(md, "| 90% CI |") || strings.Contains(md, "95% CI |") {
		t.Errorf("the metrics table does not say 90%% CI:\n%s", md)
	}
}

// A run served partly from the cache says that those calls' latency and
// cost are the original calls'.
func TestMarkdownSaysCachedCallsReplayLatencyAndCost(t *testing.T) {
	rs := pingpongRun(t)
	if strings.Contains(Markdown(rs), "from the agent-call cache") {
		t.Error("a run without cache hits mentions the cache")
	}
	rs.Calls, rs.CacheHits = 4, 12
	if md := Markdown(rs); !strings.Contains(md, "12 of 16 calls came from the agent-call cache: their latency and cost are those of the original calls") {
		t.Errorf("no cache note:\n%s", md)
	}
}
