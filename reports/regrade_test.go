package reports

import (
	"strings"
	"testing"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/runner"
)

func TestRegradeMarkdown(t *testing.T) {
	r := &runner.RegradeReport{RunID: "run_1", Experiment: "judged", Graders: []string{"judge"}, Results: 3, Regraded: 2, Missing: 1,
		Written: "evals/runs/judged/run_1/regrade.jsonl",
		Iterations: []runner.RegradeIteration{{Index: 0, Metrics: []runner.MetricMove{
			{Name: "pass@1", Old: &repo.Metric{Value: 1}, New: &repo.Metric{Value: 1.0 / 3}},
			{Name: "pass@1[judge]", Old: &repo.Metric{Value: 0.5}, New: &repo.Metric{Value: 0.5}},
			{Name: "mean_score", New: &repo.Metric{Value: 0.25}},
		}}},
		FlipCount: 1,
		Flips: []runner.Flip{{Case: "first|one", Iteration: 0, Repetition: 1, Grader: "judge", Old: repo.Pass, New: repo.Partial,
			OldOverall: repo.Pass, Reason: "the response\nlacks " + strings.Repeat("é", 150)}},
	}
	got := RegradeMarkdown(r)
	want := "# Regrade: judged (run_1)\n\n" +
		"Re-graded 2 of 3 stored results with the current grader: judge. No agent was called.\n" +
		"1 results kept their stored grades: their cases are no longer in the dataset.\n" +
		"The re-graded results are in evals/runs/judged/run_1/regrade.jsonl.\n\n" +
		"## Metrics\n\n" +
		"| iteration | metric | before | after | Δ |\n|---:|---|---:|---:|---:|\n" +
		"| 0 | pass@1 | 1 | 0.3333 | -0.6667 |\n" +
		"| 0 | pass@1[judge] | 0.5 | 0.5 | 0 |\n" +
		"| 0 | mean_score | — | 0.25 | — |\n\n" +
		"## Flipped verdicts (1)\n\n" +
		"| case | iteration | rep | grader | before → after | overall | reason |\n|---|---:|---:|---|---|---|---|\n" +
		// The reason is cut at 200 bytes, never inside a character.
		"| first\\|one | 0 | 1 | judge | pass → partial | pass → — | the response lacks " + strings.Repeat("é", 90) + "… |\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	r.FlipCount = 5 // four more than listed
	if got := RegradeMarkdown(r); !strings.Contains(got, "## Flipped verdicts (5)\n\nThe first 1 by iteration, case and repetition; 4 more are not listed") {
		t.Errorf("a capped list does not say what it left out:\n%s", got)
	}

	r.Flips, r.FlipCount, r.Missing, r.Written, r.Graders = nil, 0, 0, "", []string{"rules", "judge"}
	if got := RegradeMarkdown(r); !strings.Contains(got, "current graders: rules, judge.") || !strings.HasSuffix(got, "\nNo verdict flipped.\n") {
		t.Errorf("no flips:\n%s", got)
	}
}
