package reports

import (
	"fmt"
	"strings"

	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/runner"
)

// RegradeMarkdown renders what a regrade found: how each iteration's
// metrics moved, then the verdicts that flipped (all counted, the first
// listed).
func RegradeMarkdown(r *runner.RegradeReport) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Regrade: %s (%s)\n\n", r.Experiment, r.RunID)
	fmt.Fprintf(&b, "Re-graded %d of %d stored results with the current %s: %s. No agent was called.\n",
		r.Regraded, r.Results, pluralWord(len(r.Graders), "grader", "graders"), strings.Join(r.Graders, ", "))
	if r.Missing > 0 {
		fmt.Fprintf(&b, "%d results kept their stored grades: their cases are no longer in the dataset.\n", r.Missing)
	}
	if r.Written != "" {
		fmt.Fprintf(&b, "The re-graded results are in %s.\n", r.Written)
	}
	b.WriteString("\n## Metrics\n\n")
	t := newTable(&b, "rlrrr", "iteration", "metric", "before", "after", "Δ")
	for _, it := range r.Iterations {
		for _, m := range it.Metrics {
			delta := dash
			if m.Old != nil && m.New != nil {
				delta = signedWith(m.New.Value-m.Old.Value, repo.FormatNumber, "0")
			}
			t.row(it.Index, escapeCell(m.Name), regradeMetric(m.Old), regradeMetric(m.New), delta)
		}
	}
	if r.FlipCount == 0 {
		b.WriteString("\nNo verdict flipped.\n")
		return b.String()
	}
	fmt.Fprintf(&b, "\n## Flipped verdicts (%d)\n\n", r.FlipCount)
	if left := r.FlipCount - len(r.Flips); left > 0 {
		fmt.Fprintf(&b, "The first %d by iteration, case and repetition; %d more are not listed "+
			"(--limit N lists more, --limit 0 all; --write keeps every re-graded result in regrade.jsonl).\n\n", len(r.Flips), left)
	}
	t = newTable(&b, "lrrl", "case", "iteration", "rep", "grader", "before → after", "overall", "reason")
	for _, f := range r.Flips {
		t.row(escapeCell(f.Case), f.Iteration, f.Repetition, escapeCell(f.Grader),
			labelMove(f.Old, f.New), labelMove(f.OldOverall, f.NewOverall), escapeCell(clipBytes(oneLine(f.Reason), 200)))
	}
	return b.String()
}

// RegradeJSON renders what a regrade found as indented JSON.
func RegradeJSON(r *runner.RegradeReport) ([]byte, error) { return indentedJSON(r) }

// regradeMetric is a metric as the regrade shows it: not rounded, a dash
// when it was not observed.
func regradeMetric(m *repo.Metric) string {
	return optional(m, func(m repo.Metric) string { return repo.FormatNumber(m.Value) })
}

// labelMove is a label before and after; a dash where there was none.
func labelMove(before, after repo.Label) string {
	return orDash(string(before)) + " → " + orDash(string(after))
}
