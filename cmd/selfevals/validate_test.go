package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// manyProblems is a spec with one independent problem of each kind: a
// misspelt key, a wrong type, an unknown metric, operator and strategy, a
// search space that cannot be searched, a missing dataset, a metric naming
// an undeclared grader, a missing card and a bad judge template.
const manyProblems = `experiment:
  name: many problems
  goal: every one reported in one run
  modee: handoff
  target:
    primary: {name: pass@l, operator: "=>", value: 0.8}
    guardrails:
      - {name: "pass@1[jugde]", operator: ">=", value: 0.5}
  editable:
    model_params: true
  search_space:
    model_params:
      level: {min: 2, max: 1}
  proposer:
    strategy: gridd
  run:
    max_iterations: lots
dataset:
  cases_path: ../datasets/nope.jsonl
agent:
  builtin: echo
graders:
  - {type: deterministic, name: rules}
  - type: llm_judge
    name: judge
    rubric: be kind
    judge: {builtin: fake_judge}
    card: ../graders/missing.yaml
    template: "{{inputs}} {{output}}"
`

// One validate reports every independent problem of a spec, each at its
// file:line:col, in line order, and exits 2.
func TestValidateReportsEveryProblemInOnePass(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runCLI(t, dir, "init")
	spec := filepath.Join("evals", "experiments", "bad.yaml")
	if err := os.WriteFile(filepath.Join(dir, spec), []byte(manyProblems), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, dir, "validate", spec)
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s%s", code, out, errOut)
	}
	want := []string{
		`:4:3: experiment.modee: unknown key (did you mean "mode"?)`,
		`:6:15: experiment.target.primary.name: unknown metric "pass@l" (did you mean "pass@1"?`,
		`:6:29: experiment.target.primary.operator: unknown operator "=>"`,
		`:8:10: experiment.target.guardrails[0].name: metric "pass@1[jugde]" names grader "jugde", which the spec does not declare (did you mean pass@1[judge]?`,
		`:13:7: experiment.search_space.model_params.level: min 2 is above max 1`,
		`:15:5: experiment.proposer.strategy: unknown value "gridd" (did you mean "grid"?)`,
		`:17:21: experiment.run.max_iterations: expected a whole number, got string "lots"`,
		`:19:3: dataset.cases_path: dataset `, // and its path, then "not found"
		`:28:5: graders[1].card: grader card ../graders/missing.yaml not found`,
		`:29:5: graders[1].template: unknown placeholder {{inputs}}`,
	}
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(errOut), "\n") {
		if _, p, ok := strings.Cut(l, spec+":"); ok {
			got = append(got, ":"+p)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), errOut)
	}
	for i, w := range want {
		if !strings.HasPrefix(got[i], w) {
			t.Errorf("problem %d:\n got %s\nwant %s…", i+1, got[i], w)
		}
	}
	if !strings.Contains(got[7], "nope.jsonl not found") {
		t.Errorf("missing dataset: got %s", got[7])
	}
}

// A YAML syntax error is placed at the line and column of the mistake.
func TestValidateYAMLSyntaxPosition(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runCLI(t, dir, "init")
	spec := filepath.Join("evals", "experiments", "syntax.yaml")
	doc := "experiment:\n  name: x\n  goal: y\n  mode: handoff\n  target:\n    primary: {name: pass@1}\n\tbad: 1\n"
	os.WriteFile(filepath.Join(dir, spec), []byte(doc), 0o644)
	_, errOut, code := runCLI(t, dir, "validate", spec)
	if code != 2 || !strings.Contains(errOut, spec+":7:1: invalid YAML: ") {
		t.Errorf("exit %d\n%s", code, errOut)
	}
}

// Bytes that are not UTF-8 are refused wherever selfevals reads text, at
// their line and column, and fmt leaves the file alone rather than turn
// them into U+FFFD.
func TestNotUTF8IsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runCLI(t, dir, "init")
	ds := filepath.Join("evals", "datasets", "pingpong.jsonl")
	orig, _ := os.ReadFile(filepath.Join(dir, ds))
	bad := append(append([]byte{}, orig...), []byte("{\"input\":{\"text\":\"caf\xe9\"},\"name\":\"latin-1\"}\n")...)
	os.WriteFile(filepath.Join(dir, ds), bad, 0o644)
	line := strings.Count(string(orig), "\n") + 1
	want := regexp.MustCompile(regexp.QuoteMeta(ds) + `:` + strconv.Itoa(line) + `:22: not valid UTF-8: byte 0xE9`)
	_, errOut, code := runCLI(t, dir, "validate", ds)
	if code != 2 || !want.MatchString(errOut) {
		t.Errorf("validate: exit %d\n%s", code, errOut)
	}
	_, errOut, code = runCLI(t, dir, "fmt")
	if code != 2 || !want.MatchString(errOut) {
		t.Errorf("fmt: exit %d\n%s", code, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, ds)); string(b) != string(bad) {
		t.Error("fmt rewrote a file that is not UTF-8")
	}

	tax := filepath.Join("evals", "taxonomy.yaml")
	data, _ := os.ReadFile(filepath.Join(dir, tax))
	os.WriteFile(filepath.Join(dir, tax), append([]byte("# r\xe9sum\xe9\n"), data...), 0o644)
	_, errOut, code = runCLI(t, dir, "validate", tax)
	if code != 2 || !strings.Contains(errOut, tax+":1:4: not valid UTF-8: byte 0xE9") {
		t.Errorf("taxonomy: exit %d\n%s", code, errOut)
	}
}

// A spec reports the problems of the grader card it names, and names a
// card of another grader; validating the whole tree shows each problem
// once.
func TestValidateSpecWithBadCard(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runCLI(t, dir, "init")
	writeTree(t, dir, map[string]string{
		"evals/graders/judge.yaml": "name: judge\nstate: shiny\n",
		"evals/graders/other.yaml": "name: other\n",
		"evals/experiments/judged.yaml": `experiment:
  name: judged
  goal: a card's problems with the spec's
  target:
    primary: {name: pass@1, operator: ">=", value: 0.5}
dataset:
  cases_path: ../datasets/pingpong.jsonl
agent:
  builtin: pingpong
graders:
  - {type: llm_judge, name: judge, rubric: r, judge: {builtin: fake_judge}, card: ../graders/judge.yaml}
  - {type: llm_judge, name: second, rubric: r, judge: {builtin: fake_judge}, card: ../graders/other.yaml}
`,
	})
	_, errOut, code := runCLI(t, dir, "validate", "evals/experiments/judged.yaml")
	last := -1
	for _, want := range []string{
		`judged.yaml:12:78: graders[1].card: ../graders/other.yaml is the card of grader "other", not of second`,
		filepath.Join("evals", "graders", "judge.yaml") + `:2:1: state: unknown state "shiny"`,
	} {
		i := strings.Index(errOut, want)
		if code != 2 || i < 0 || i < last {
			t.Errorf("exit %d, stderr lacks %q or has it out of order (the spec's problems first):\n%s", code, want, errOut)
		}
		last = i
	}
	_, errOut, code = runCLI(t, dir, "validate")
	if n := strings.Count(errOut, `unknown state "shiny"`); code != 2 || n != 1 {
		t.Errorf("whole tree: exit %d, the card's problem shown %d times:\n%s", code, n, errOut)
	}
}
