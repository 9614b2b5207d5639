package repo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Writing metrics into an existing card keeps its comments and other keys;
// a missing card is created; both load.
func TestWriteCardMetrics(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "graders", "j.yaml")
	os.MkdirAll(filepath.Dir(path), 0o755)
	os.WriteFile(path, []byte(`# The judge's card.
name: j
purpose: politeness # what it decides
thresholds:
  min_precision: 0.9
metrics:
  # measured on the March sample
  precision: 0.1
state: calibrating
`), 0o644)
	// What calibrating on three labels (pass/pass, fail/pass, fail/fail) measures.
	m := CardMetrics{Precision: ptr(0.5), Recall: ptr(1.0), F1: ptr(2.0 / 3), MacroF1: ptr(2.0 / 3),
		CohensKappa: ptr(0.4), Accuracy: ptr(2.0 / 3), HighRiskFalseNegatives: ptr(0)}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := WriteCardMetrics(path, "j", m, 3, at); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	s := string(b)
	for _, want := range []string{"# The judge's card.", "purpose: politeness # what it decides", "  # measured on the March sample\n", "precision: 0.5\n", "recall: 1\n", "f1: 0.6667\n", "state: calibrated", `calibrated_at: "2026-01-02T03:04:05Z"`, "calibration_size: 3", "min_precision: 0.9"} {
		if !strings.Contains(s, want) {
			t.Errorf("card lacks %q:\n%s", want, s)
		}
	}
	card, err := LoadGraderCard(path)
	if err != nil || *card.Metrics.Precision != 0.5 || card.CalibrationSize != 3 {
		t.Fatalf("%v %+v", err, card)
	}
	formatted, err := FormatYAML(path)
	if err != nil || string(formatted) != s {
		t.Errorf("the written card is not in fmt's form:\n%s", formatted)
	}

	fresh := filepath.Join(dir, "graders", "new.yaml")
	if err := WriteCardMetrics(fresh, "new", m, 3, at); err != nil {
		t.Fatal(err)
	}
	if card, err := LoadGraderCard(fresh); err != nil || card.Name != "new" || card.State != "calibrated" || card.Blocking {
		t.Fatalf("%v %+v", err, card)
	}
}
