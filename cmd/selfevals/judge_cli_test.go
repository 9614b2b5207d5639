package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// judgedRepo is an evals/ tree whose agent is the counting agent (it
// answers "pong" and logs every call) and whose judge is the built-in
// fake judge with the given rubric rule.
func judgedRepo(t *testing.T, rule string) (dir, countFile string) {
	t.Helper()
	dir = t.TempDir()
	countFile = filepath.Join(dir, "calls.txt")
	writeTree(t, dir, map[string]string{
		"evals/experiments/judged.yaml": judgedSpec(rule, countFile),
		"evals/datasets/d.jsonl": `{"name": "first", "input": {"text": "ping 1"}, "expected": {"must_include": ["pong"]}}
{"name": "second", "input": {"text": "ping 2"}, "expected": {"must_include": ["pong"]}}
{"name": "rules only", "input": {"text": "ping 3"}, "expected": {"must_include": ["pong"]}, "graders": ["rules"]}
`,
	})
	return dir, countFile
}

func judgedSpec(rule, countFile string) string {
	return fmt.Sprintf(`experiment:
  name: judged
  goal: regrade without the agent
  target:
    primary: {name: pass@1, operator: ">=", value: 0.5}
  editable: {model_params: true}
  parameters: {model_params: {level: 1.0}}
  run: {max_iterations: 1, cache: false}
dataset:
  cases_path: ../datasets/d.jsonl
agent:
  command: [%s]
  env: {COUNT_FILE: %s}
graders:
  - {type: deterministic, name: rules}
  - type: llm_judge
    name: judge
    judge: {builtin: fake_judge}
    rubric: |
      The agent must answer the ping.
      %s
`, countAgentBin, countFile, rule)
}

// A rubric edit, then regrade: the flipped verdicts and the metric move are
// reported, and the agent is never called again.
func TestRegradeAfterRubricEdit(t *testing.T) {
	t.Parallel()
	dir, countFile := judgedRepo(t, "PASS IF CONTAINS: pong")
	out, errOut, code := runCLI(t, dir, "run", "evals/experiments/judged.yaml", "--no-commit")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	if n := countLines(t, countFile); n != 3 {
		t.Fatalf("agent called %d times, want 3", n)
	}
	if !strings.Contains(out, "`pass@1[judge]` | 1") {
		t.Errorf("run report:\n%s", out)
	}

	// Nothing changed: nothing flips.
	out, errOut, code = runCLI(t, dir, "regrade", "judged")
	if code != 0 || !strings.Contains(out, "No verdict flipped.") || !strings.Contains(out, "Re-graded 3 of 3 stored results") {
		t.Fatalf("regrade: exit %d\n%s%s", code, out, errOut)
	}

	spec := filepath.Join(dir, "evals/experiments/judged.yaml")
	os.WriteFile(spec, []byte(judgedSpec("PASS IF CONTAINS: pong, sorry", countFile)), 0o644)
	out, errOut, code = runCLI(t, dir, "regrade", "judged")
	if code != 0 {
		t.Fatalf("regrade after the edit: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"## Flipped verdicts (2)",
		`| first | 0 | 0 | judge | pass → partial | pass → partial | the response lacks "sorry" |`,
		`| second | 0 | 0 | judge | pass → partial | pass → partial | the response lacks "sorry" |`,
		"| 0 | pass@1 | 1 | 0.3333 | -0.6667 |",
		"| 0 | pass@1[judge] | 1 | 0 | -1 |",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("regrade report lacks %q:\n%s", want, out)
		}
	}

	// A capped list counts every flip and says how to see the rest.
	out, _, code = runCLI(t, dir, "regrade", "judged", "--limit", "1")
	if code != 0 || !strings.Contains(out, "## Flipped verdicts (2)") || !strings.Contains(out, "1 more are not listed") || strings.Contains(out, "| second |") {
		t.Errorf("regrade --limit 1: exit %d\n%s", code, out)
	}

	out, _, code = runCLI(t, dir, "regrade", "judged", "--format", "json", "--write")
	var rep struct {
		RunID      string `json:"run_id"`
		Flips      []struct{ Case, Old, New string }
		AgentCalls int    `json:"agent_calls"`
		Written    string `json:"written"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Flips) != 2 || rep.Flips[0].Old != "pass" || rep.Flips[0].New != "partial" || rep.AgentCalls != 0 {
		t.Fatalf("json: exit %d\n%s", code, out)
	}
	if n := countLines(t, rep.Written); n != 3 || !strings.HasSuffix(rep.Written, filepath.Join(rep.RunID, "regrade.jsonl")) {
		t.Errorf("regrade.jsonl %s has %d lines", rep.Written, n)
	}

	// Only the rules: the judge's stored verdicts are kept, nothing flips.
	out, _, code = runCLI(t, dir, "regrade", rep.RunID, "--grader", "rules")
	if code != 0 || !strings.Contains(out, "No verdict flipped.") || !strings.Contains(out, "current grader: rules") {
		t.Errorf("--grader rules: exit %d\n%s", code, out)
	}
	_, errOut, code = runCLI(t, dir, "regrade", rep.RunID, "--grader", "judgee")
	if code != 2 || !strings.Contains(errOut, `grader "judgee" is not declared`) {
		t.Errorf("unknown grader: exit %d\n%s", code, errOut)
	}
	_, _, code = runCLI(t, dir, "regrade", "run_0000000000000000")
	if code != 2 {
		t.Errorf("unknown run: exit %d", code)
	}

	if n := countLines(t, countFile); n != 3 {
		t.Errorf("regrade called the agent: %d calls, want 3", n)
	}
}

func TestGraderCalibrate(t *testing.T) {
	t.Parallel()
	dir, _ := judgedRepo(t, "PASS IF CONTAINS: pong")
	labels := filepath.Join(dir, "labels.jsonl")
	os.WriteFile(labels, []byte(`{"input": {"text": "ping"}, "output": "pong", "label": "pass", "high_risk": true}
{"input": {"text": "ping"}, "output": "pong!", "label": "verdict"}
`), 0o644)
	_, errOut, code := runCLI(t, dir, "grader", "calibrate", "judge", "--labels", labels)
	if code != 2 || !strings.Contains(errOut, labels+`:2: label: unknown label "verdict"`) {
		t.Fatalf("bad labels: exit %d\n%s", code, errOut)
	}
	_, errOut, code = runCLI(t, dir, "grader", "calibrate", "rules", "--labels", labels)
	if code != 2 || !strings.Contains(errOut, "only llm_judge graders are calibrated") {
		t.Errorf("deterministic grader: exit %d\n%s", code, errOut)
	}

	os.WriteFile(labels, []byte(`{"input": {"text": "ping"}, "output": "pong", "label": "pass", "high_risk": true}
{"input": {"text": "ping"}, "output": "ping", "label": "pass", "high_risk": true}
{"input": {"text": "ping"}, "output": "nothing", "label": "fail"}
{"input": {"text": "ping"}, "output": "PONG", "label": "fail"}
`), 0o644)
	out, errOut, code := runCLI(t, dir, "grader", "calibrate", "judge", "--labels", labels)
	if code != 0 {
		t.Fatalf("calibrate: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"| precision (pass) | 0.5 |", "| recall (pass) | 0.5 |", "| high-risk false negatives | 1 |", "| Cohen's kappa | 0 |",
		"labels.jsonl:2 (high risk): people pass, judge fail", "Wrote the metrics into evals/graders/judge.yaml"} {
		if !strings.Contains(out, want) {
			t.Errorf("calibrate output lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "evals/graders/judge.yaml"))
	if err != nil || !strings.Contains(string(b), "state: calibrated") || !strings.Contains(string(b), "calibration_size: 4") {
		t.Fatalf("card: %v\n%s", err, b)
	}
	// The card is valid, canonical, and read by the next run.
	if out, errOut, code := runCLI(t, dir, "validate"); code != 0 {
		t.Errorf("validate: exit %d\n%s%s", code, out, errOut)
	}
	if out, errOut, code := runCLI(t, dir, "fmt", "--check", "evals/graders/judge.yaml"); code != 0 {
		t.Errorf("fmt --check: exit %d\n%s%s", code, out, errOut)
	}
}

// The loader checks judge templates, parallelism and retries.
func TestValidateJudgeSpec(t *testing.T) {
	t.Parallel()
	dir, countFile := judgedRepo(t, "PASS IF CONTAINS: pong")
	spec := strings.Replace(judgedSpec("PASS IF CONTAINS: pong", countFile), "    judge: {builtin: fake_judge}\n",
		"    judge: {builtin: fake_judge}\n    template: \"{{rubric}} {{answer}}\"\n    retries: 11\n", 1)
	os.WriteFile(filepath.Join(dir, "evals/experiments/judged.yaml"), []byte(spec), 0o644)
	_, errOut, code := runCLI(t, dir, "validate", "evals/experiments/judged.yaml")
	for _, want := range []string{"judged.yaml:19:", "graders[1].template: unknown placeholder {{answer}}", "graders[1].template: has no {{output}} placeholder", "graders[1].retries: must be between 0 and 10"} {
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("validate: exit %d, lacks %q:\n%s", code, want, errOut)
		}
	}
}
