package reports

import (
	"fmt"
	"strings"
	"testing"

	"github.com/selfevals/selfevals/graders"
	"github.com/selfevals/selfevals/repo"
)

func TestCalibrationMarkdown(t *testing.T) {
	half, zero := 0.5, 0.0
	c := &Calibration{Grader: "judge", Labels: "labels.jsonl", Spec: "evals/experiments/judged.yaml",
		Metrics: graders.CalibrationMetrics{N: 4, Accuracy: 0.5, Precision: &half, Recall: &half, Kappa: &zero, HighRiskFalseNegatives: 1,
			Labels:    []graders.LabelStats{{Label: repo.Pass}, {Label: repo.Fail}},
			Confusion: map[repo.Label]map[repo.Label]int{repo.Pass: {repo.Pass: 1, repo.Fail: 1}, repo.Fail: {repo.Pass: 1, repo.Fail: 1}}},
	}
	for i, l := range []repo.Label{repo.Pass, repo.Pass, repo.Fail, repo.Fail} {
		judged := []repo.Label{repo.Pass, repo.Fail, repo.Pass, repo.Fail}[i]
		c.Items = append(c.Items, graders.CalibrationItem{
			Example: graders.LabelExample{Line: i + 1, Label: l, HighRisk: i == 1},
			Grade:   repo.Grade{Label: judged, Reason: fmt.Sprintf("reason\n%d", i)},
		})
	}
	want := "# Calibration of judge\n\n" +
		"4 labelled outputs from labels.jsonl, judged by judge as evals/experiments/judged.yaml declares it.\n\n" +
		"| metric | value |\n|---|---:|\n" +
		"| precision (pass) | 0.5 |\n| recall (pass) | 0.5 |\n| F1 (pass) | — |\n| macro-F1 | — |\n| Cohen's kappa | 0 |\n| accuracy | 0.5 |\n" +
		"| high-risk false negatives | 1 |\n| judge errors | 0 |\n\n" +
		"## Confusion (rows: people, columns: judge)\n\n" +
		"| people \\ judge | pass | fail |\n|---|---:|---:|\n| pass | 1 | 1 |\n| fail | 1 | 1 |\n\n" +
		"## Disagreements (2)\n\n" +
		"- labels.jsonl:2 (high risk): people pass, judge fail — reason 1\n" +
		"- labels.jsonl:3: people fail, judge pass — reason 2\n"
	if got := CalibrationMarkdown(c); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}

	// Past 20 disagreements the rest are counted.
	c.Items = nil
	for i := range 23 {
		c.Items = append(c.Items, graders.CalibrationItem{Example: graders.LabelExample{Line: i + 1, Label: repo.Pass}, Grade: repo.Grade{Label: repo.Fail}})
	}
	if got := CalibrationMarkdown(c); !strings.HasSuffix(got, "- labels.jsonl:20: people pass, judge fail — \n- … and 3 more\n") {
		t.Errorf("many disagreements:\n%s", got)
	}
}

func TestCalibratedCardMarkdown(t *testing.T) {
	for _, c := range []struct {
		card CalibratedCard
		want string
	}{
		{CalibratedCard{Path: "evals/graders/judge.yaml", ByName: true, Rel: "../graders/judge.yaml"},
			"\nWrote the metrics into evals/graders/judge.yaml (state: calibrated).\nThe run reads it as the grader's card by its name; card: ../graders/judge.yaml in the spec says so explicitly.\nIt meets its thresholds.\n"},
		{CalibratedCard{Path: "c.yaml", Blocking: true, Problems: []string{"recall 0 < 0.95", "precision missing"}},
			"\nWrote the metrics into c.yaml (state: calibrated).\nBelow its thresholds (recall 0 < 0.95; precision missing): as a blocking grader it runs as advisory (skipped) until it meets them.\n"},
		{CalibratedCard{Path: "c.yaml", Problems: []string{"recall 0 < 0.95"}},
			"\nWrote the metrics into c.yaml (state: calibrated).\nBelow the blocking thresholds (recall 0 < 0.95); it is not blocking, so it grades normally.\n"},
	} {
		if got := CalibratedCardMarkdown(&c.card); got != c.want {
			t.Errorf("got\n%s\nwant\n%s", got, c.want)
		}
	}
}
