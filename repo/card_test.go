package repo

import (
	"errors"
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

// A grader card's problems of shape (keys, types) and of value come in one
// report, in line order.
func TestGraderCardEveryProblemAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "judge.yaml")
	card := "name: judge\npurpos: typo\nstate: shiny\nmetrics:\n  precision: 1.5\n  recall: high\nblocking: true\nthresholds: {min_precision: 0.95, min_recall: 0.99, max_high_risk_false_negatives: 0}\n"
	os.WriteFile(path, []byte(card), 0o644)
	_, err := LoadGraderCard(path)
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("want problems, got %v", err)
	}
	want := []string{
		path + `:2:1: purpos: unknown key (did you mean "purpose"?)`,
		path + `:3:1: state: unknown state "shiny"`,
		path + `:5:3: metrics.precision: must be between 0 and 1`,
		path + `:6:11: metrics.recall: expected a number, got string "high"`,
	}
	if len(probs) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(probs), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(probs[i].Error(), w) {
			t.Errorf("problem %d:\n got %s\nwant %s…", i+1, probs[i].Error(), w)
		}
	}
}

// The taxonomy and the settings report their problems of shape and of
// value in one pass too.
func TestTaxonomyAndSettingsEveryProblemAtOnce(t *testing.T) {
	dir := t.TempDir()
	tax := writeFile(t, filepath.Join(dir, "taxonomy.yaml"), `modes:
  - slug: Bad-Slug
    title: x
    definition: y
  - slug: ok_mode
    titel: typo
    definition: y
    status: shiny
  - slug: child
    title: c
    definition: d
    parent: nowhere
    examples: oops
`)
	_, err := LoadTaxonomy(tax)
	want := []string{
		tax + `:2:5: modes[0].slug: "Bad-Slug" is not a valid slug`,
		tax + `:6:5: modes[1].titel: unknown key (did you mean "title"?)`,
		tax + `:8:5: modes[1].status: unknown status "shiny"`,
		tax + `:12:5: modes[2].parent: unknown mode "nowhere"`,
		tax + `:13:15: modes[2].examples: expected a list, got a string`,
	}
	checkProblems(t, err, want)

	writeFile(t, filepath.Join(dir, "selfevals.yaml"), "defaults:\n  parallelism: -1\n  timout: 5s\nresults:\n  persist_traces: some\n")
	_, err = LoadSettings(dir)
	set := filepath.Join(dir, "selfevals.yaml")
	checkProblems(t, err, []string{
		set + `:2:3: defaults.parallelism: must be >= 1`,
		set + `:3:3: defaults.timout: unknown key (did you mean "timeout"?)`,
		set + `:5:3: results.persist_traces: unknown value "some"`,
	})
}

func checkProblems(t *testing.T, err error, want []string) {
	t.Helper()
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != len(want) {
		t.Fatalf("want %d problems, got:\n%v", len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(probs[i].Error(), w) {
			t.Errorf("problem %d:\n got %s\nwant %s…", i+1, probs[i].Error(), w)
		}
	}
}
