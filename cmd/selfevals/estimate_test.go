package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/selfevals/selfevals/repo"
)

// estimate counts the LLM judge's calls (one per trace it grades: two of
// the three cases run it) and prices them: by --judge-cost-per-call, else
// by the judge's mean cost in the newest run.
func TestEstimateCountsJudgeCalls(t *testing.T) {
	t.Parallel()
	dir, _ := judgedRepo(t, "PASS IF CONTAINS: pong")
	spec := "evals/experiments/judged.yaml"
	out, errOut, code := runCLI(t, dir, "estimate", spec, "--cost-per-call", "0.5", "--judge-cost-per-call", "0.25")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"calls:       3 = 3 cases × 1 repetitions × 1 iterations",
		"judge calls: 2 = judge: 2 traces × 1 repetitions × 1 iterations",
		"judge cost:  judge $0.50 at $0.25 per call",
		"total cost:  $2.00",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("estimate lacks %q:\n%s", want, out)
		}
	}

	// A judge served over HTTP that reports what each verdict cost.
	judge := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"output": `{"label": "pass", "reason": "answered"}`, "cost_usd": 0.004})
	}))
	defer judge.Close()
	path := filepath.Join(dir, spec)
	b, _ := os.ReadFile(path)
	os.WriteFile(path, []byte(strings.Replace(string(b), "judge: {builtin: fake_judge}", "judge: {http: {url: "+judge.URL+"}}", 1)), 0o644)
	if out, errOut, code := runCLI(t, dir, "run", spec, "--no-commit"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = runCLI(t, dir, "estimate", spec, "--cost-per-call", "0.5")
	if !strings.Contains(out, "judge cost:  judge $0.01 at $0.004000 per call (mean of ") {
		t.Errorf("the judge's cost is not the last run's mean:\n%s", out)
	}
}

// estimate --shard n splits the cases as run --shard i/n does (repo.ShardOf
// on the dataset's cases), and times each shard at the mean latency of the
// newest run's calls: a real agent process that sleeps 15 ms a call.
func TestEstimateShards(t *testing.T) {
	t.Parallel()
	dir, _ := countingRepo(t, 20, 4)
	spec := "evals/experiments/counting.yaml"
	out, errOut, code := runCLI(t, dir, "estimate", spec, "--shard", "3")
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	ls, err := repo.LoadExperiment(filepath.Join(dir, spec), repo.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cases, _ := ls.Dataset.Cases()
	per := make([]int, 3)
	for i := range cases {
		per[repo.ShardOf(&cases[i], 3)-1]++
	}
	iterations := regexp.MustCompile(`iterations:  (\d+)`).FindStringSubmatch(out)
	if iterations == nil {
		t.Fatalf("no iteration count:\n%s", out)
	}
	for i, n := range per {
		want := fmt.Sprintf("shard %d/3:   %d calls = %d cases × 1 repetitions × %s iterations", i+1, n*atoi(t, iterations[1]), n, iterations[1])
		if !strings.Contains(out, want) {
			t.Errorf("estimate lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "wall time:   unknown: no earlier run recorded a latency; pass --latency") {
		t.Errorf("a latency before any run:\n%s", out)
	}

	if out, errOut, code := runCLI(t, dir, "run", spec, "--no-commit"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = runCLI(t, dir, "estimate", spec, "--shard", "3")
	m := regexp.MustCompile(`at (\S+) per call \(mean of \S*evals/runs/counting/run_[0-9a-f]+\), 4 in parallel per shard`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the wall time is not timed by the last run:\n%s", out)
	}
	if d, err := time.ParseDuration(m[1]); err != nil || d < 15*time.Millisecond {
		t.Errorf("mean latency %s (%v): the agent sleeps 15 ms a call", m[1], err)
	}

	// --latency and --parallel replace the last run's latency and the spec's
	// parallelism: the largest shard's calls, one at a time, a minute each.
	out, _, _ = runCLI(t, dir, "estimate", spec, "--shard", "3", "--latency", "1m", "--parallel", "1")
	largest := slices.Max(per) * atoi(t, iterations[1])
	unsplit := 20 * atoi(t, iterations[1])
	if want := fmt.Sprintf("wall time:   about %s, the largest shard's (", time.Duration(largest)*time.Minute); !strings.Contains(out, want) ||
		!strings.Contains(out, fmt.Sprintf("; unsplit about %s; at 1m0s per call, 1 in parallel per shard\n", time.Duration(unsplit)*time.Minute)) {
		t.Errorf("estimate lacks %q:\n%s", want, out)
	}

	for _, c := range []struct{ flag, value, msg string }{
		{"--shard", "10001", "--shard 10001: n must be at most 10000"},
		{"--latency", "-2s", "--latency must not be negative"},
		{"--latency", "soon", `invalid argument "soon" for "--latency" flag`},
	} {
		_, errOut, code := runCLI(t, dir, "estimate", spec, c.flag, c.value)
		if code != 2 || !strings.Contains(errOut, c.msg) {
			t.Errorf("%s %s: exit %d, want 2 and %q:\n%s", c.flag, c.value, code, c.msg, errOut)
		}
	}
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// The README's estimate --shard output is what estimate prints for the
// suite it describes: 2,400 cases, 3 repetitions, a 3-value grid, 16 calls
// at once.
func TestReadmeEstimateShards(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := readmeBlock(t, string(b), "", "$ selfevals estimate evals/experiments/support.yaml --shard 8")
	var cases strings.Builder
	for i := range 2400 {
		fmt.Fprintf(&cases, `{"name": "ticket %d", "input": {"text": "ticket %d"}, "expected": {"must_include": ["pong"]}}`+"\n", i, i)
	}
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"evals/experiments/support.yaml": `experiment:
  name: support
  goal: answer tickets
  target:
    primary: {name: pass@1, operator: ">=", value: 0.8}
  search_space:
    model_params:
      level: [0.0, 0.5, 1.0]
  run: {repetitions_per_case: 3, parallelism: 16}
dataset:
  cases_path: ../datasets/support.jsonl
agent:
  builtin: pingpong
graders:
  - {type: deterministic, name: rules}
`,
		"evals/datasets/support.jsonl": cases.String(),
	})
	command, shown, _ := strings.Cut(block, "\n")
	out, errOut, code := runCLI(t, dir, strings.Fields(strings.TrimPrefix(command, "$ selfevals "))...)
	if code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, line := range strings.Split(strings.TrimSpace(shown), "\n") {
		if line != "…" && !strings.Contains(out, line+"\n") {
			t.Errorf("the README shows %q; estimate prints:\n%s", line, out)
		}
	}
}
