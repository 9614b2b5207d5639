package reports

import (
	"fmt"
	"strings"

	"github.com/selfevals/selfevals/graders"
	"github.com/selfevals/selfevals/repo"
)

// Calibration is an LLM judge measured against human labels.
type Calibration struct {
	Grader string
	// Labels is the labels file as it was given; Spec the spec that
	// declares the grader.
	Labels, Spec string
	Items        []graders.CalibrationItem
	Metrics      graders.CalibrationMetrics
}

// Disagreements are the examples the judge labelled otherwise than people,
// in the labels file's order.
func (c *Calibration) Disagreements() []graders.CalibrationItem {
	var out []graders.CalibrationItem
	for _, it := range c.Items {
		if it.Grade.Label != it.Example.Label {
			out = append(out, it)
		}
	}
	return out
}

// maxDisagreements caps the disagreements listed; the rest are counted.
const maxDisagreements = 20

// CalibrationMarkdown renders the agreement metrics, the confusion matrix
// and the disagreements.
func CalibrationMarkdown(c *Calibration) string {
	var b strings.Builder
	m := c.Metrics
	fmt.Fprintf(&b, "# Calibration of %s\n\n", c.Grader)
	fmt.Fprintf(&b, "%d labelled outputs from %s, judged by %s as %s declares it.\n\n", m.N, c.Labels, c.Grader, c.Spec)
	t := newTable(&b, "lr", "metric", "value")
	value := func(v *float64) string { return optional(v, repo.FormatNumber) }
	t.row("precision (pass)", value(m.Precision))
	t.row("recall (pass)", value(m.Recall))
	t.row("F1 (pass)", value(m.F1))
	t.row("macro-F1", value(m.MacroF1))
	t.row("Cohen's kappa", value(m.Kappa))
	t.row("accuracy", value(&m.Accuracy))
	t.row("high-risk false negatives", m.HighRiskFalseNegatives)
	t.row("judge errors", m.JudgeErrors)

	b.WriteString("\n## Confusion (rows: people, columns: judge)\n\n")
	cols := []string{`people \ judge`}
	for _, s := range m.Labels {
		cols = append(cols, string(s.Label))
	}
	t = newTable(&b, "l"+strings.Repeat("r", len(m.Labels)), cols...)
	for _, s := range m.Labels {
		people := s.Label
		if m.Confusion[people] == nil {
			continue
		}
		row := []any{people}
		for _, judge := range m.Labels {
			row = append(row, m.Confusion[people][judge.Label])
		}
		t.row(row...)
	}

	if disagree := c.Disagreements(); len(disagree) > 0 {
		fmt.Fprintf(&b, "\n## Disagreements (%d)\n\n", len(disagree))
		for i, it := range disagree {
			if i == maxDisagreements {
				fmt.Fprintf(&b, "- … and %d more\n", len(disagree)-maxDisagreements)
				break
			}
			hr := ""
			if it.Example.HighRisk {
				hr = " (high risk)"
			}
			fmt.Fprintf(&b, "- %s:%d%s: people %s, judge %s — %s\n", c.Labels, it.Example.Line, hr, it.Example.Label, it.Grade.Label, clipBytes(oneLine(it.Grade.Reason), 160))
		}
	}
	return b.String()
}

// CalibrationNotWritten is printed after the metrics when the card was
// left alone.
const CalibrationNotWritten = "\nThe card was not written (--no-write).\n"

// CalibratedCard is a grader card the calibration's metrics were written
// into, as read back.
type CalibratedCard struct {
	Path string
	// ByName is set when the spec does not name the card and the run finds
	// it by the grader's name; Rel is then its path relative to the spec,
	// for the card: key that would name it.
	ByName bool
	Rel    string
	// Blocking is whether the grader blocks (the spec's say, else the
	// card's); Problems the thresholds the card misses.
	Blocking bool
	Problems []string
}

// CalibratedCardMarkdown says where the metrics went and whether the judge
// now meets its thresholds.
func CalibratedCardMarkdown(c *CalibratedCard) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nWrote the metrics into %s (state: calibrated).\n", c.Path)
	if c.ByName {
		fmt.Fprintf(&b, "The run reads it as the grader's card by its name; card: %s in the spec says so explicitly.\n", c.Rel)
	}
	switch {
	case len(c.Problems) == 0:
		b.WriteString("It meets its thresholds.\n")
	case c.Blocking:
		fmt.Fprintf(&b, "Below its thresholds (%s): as a blocking grader it runs as advisory (skipped) until it meets them.\n", strings.Join(c.Problems, "; "))
	default:
		fmt.Fprintf(&b, "Below the blocking thresholds (%s); it is not blocking, so it grades normally.\n", strings.Join(c.Problems, "; "))
	}
	return b.String()
}
