package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
