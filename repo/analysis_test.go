package repo

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadResultText(t *testing.T, text string) (*AnalysisResult, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "result.json")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return LoadAnalysisResult(path)
}

// Every shape problem of a result is reported at once, each with its
// line, column and JSON path.
func TestLoadAnalysisResultStrict(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"unknown keys suggest the nearest", `{
  "assignments": [
    {"trace_id": "tr_1", "mode_id": "fm_a", "open_notes": "x"}
  ],
  "proposed_mode": []
}`, []string{
			`result.json:3:45: assignments[0].open_notes: unknown key (did you mean "open_note"?)`,
			`result.json:5:3: proposed_mode: unknown key (did you mean "proposed_modes"?)`,
		}},
		{"semantic problems together", `{"assignments": [
 {"trace_id": "tr_1", "mode_id": "fm_a", "new_mode_slug": "b"},
 {"trace_id": "tr_2"},
 {"mode_id": "fm_a", "confidence": 1.5},
 {"trace_id": "tr_3", "new_mode_slug": "Bad-Slug"}
],
"proposed_modes": [{"slug": "x", "title": "", "definition": "d"}, {"slug": "x", "title": "X", "definition": "d"}],
"hypotheses": [{"targets_mode_slug": "x", "statement": " "}]}`, []string{
			"result.json:2:2: assignments[0]: sets both mode_id and new_mode_slug",
			"result.json:3:2: assignments[1]: sets neither mode_id nor new_mode_slug",
			"assignments[2].trace_id: required",
			"result.json:4:22: assignments[2].confidence: 1.5 is outside 0..1",
			`assignments[3].new_mode_slug: "Bad-Slug" is not a valid slug`,
			"proposed_modes[0].title: required",
			`proposed_modes[1].slug: slug "x" is proposed twice (also proposed_modes[0])`,
			"hypotheses[0].statement: required",
		}},
		{"wrong types", `{"assignments": {"trace_id": "tr_1"}, "hypotheses": [{"targets_mode_slug": 3, "statement": "s"}]}`, []string{
			"assignments: expected a list, got a mapping",
			`hypotheses[0].targets_mode_slug: expected a string, got number "3"`,
		}},
		{"JSON syntax", "{\n  \"assignments\": [\n    {\"trace_id\": \"tr_1\",}\n  ]\n}", []string{
			"result.json:3:", "invalid JSON",
		}},
		{"unsupported version", `{"schema_version": "2"}`, []string{`schema_version: unsupported schema_version "2"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadResultText(t, tt.text)
			if err == nil {
				t.Fatal("no error")
			}
			if !IsUserError(err) {
				t.Errorf("not a user error: %T %v", err, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("missing %q in:\n%v", w, err)
				}
			}
		})
	}
}

func TestLoadAnalysisResultValid(t *testing.T) {
	// Tabs are fine in JSON (not in YAML indentation); unicode escapes too.
	r, err := loadResultText(t, "{\n\t\"schema_version\": \"1\",\n\t\"assignments\": [{\"trace_id\": \"tr_1\", \"mode_id\": \"fm_a\", \"quote\": \"caf\\u00e9 \\/ x \\ud83d\\ude00\", \"confidence\": 0}],\n\t\"hypotheses\": [{\"targets_mode_slug\": \"a\", \"statement\": \"s\", \"suggested_parameters\": {\"model_params\": {\"t\": 0.2}}}]\n}")
	if err != nil {
		t.Fatal(err)
	}
	if r.Assignments[0].Quote != "café / x 😀" || r.Assignments[0].Confidence == nil || *r.Assignments[0].Confidence != 0 {
		t.Errorf("decoded %+v", r.Assignments[0])
	}
	if ids := r.TraceIDs(); len(ids) != 1 || ids[0] != "tr_1" {
		t.Errorf("TraceIDs = %v", ids)
	}
}

// Check looks the result up against the taxonomy and the recorded traces.
func TestAnalysisResultCheck(t *testing.T) {
	tax := &Taxonomy{Modes: []FailureMode{
		{Slug: "hallucinated", Title: "H", Definition: "d", Status: "official"},
		{Slug: "old", Title: "O", Definition: "d", Status: "retired"},
		{Slug: "dup", Title: "D", Definition: "d", Status: "retired", MergedInto: "hallucinated"},
	}}
	r, err := loadResultText(t, `{"assignments": [
  {"trace_id": "tr_1", "mode_id": "fm_halucinated"},
  {"trace_id": "tr_2", "mode_id": "fm_old"},
  {"trace_id": "tr_1", "mode_id": "fm_dup"},
  {"trace_id": "tr_1", "new_mode_slug": "nowhere"},
  {"trace_id": "tr_9", "new_mode_slug": "fresh"},
  {"trace_id": "tr_1", "mode_id": "fm_fresh"}
],
"proposed_modes": [{"slug": "fresh", "title": "F", "definition": "d", "parent_slug": "nope"}],
"hypotheses": [{"targets_mode_slug": "ghost", "statement": "s"}]}`)
	if err != nil {
		t.Fatal(err)
	}
	probs := r.Check(tax, map[string]TraceRef{"tr_1": {}, "tr_2": {}})
	want := []string{
		`assignments[0].mode_id: unknown mode_id "fm_halucinated" (did you mean fm_hallucinated?)`,
		"assignments[1].mode_id: fm_old is retired",
		`assignments[3].new_mode_slug: new_mode_slug "nowhere" is neither in proposed_modes nor in the taxonomy`,
		"assignments[4].trace_id: unknown trace tr_9",
		"assignments[5].mode_id: unknown mode_id \"fm_fresh\": fresh is proposed by this result",
		`proposed_modes[0].parent_slug: unknown parent "nope"`,
		`hypotheses[0].targets_mode_slug: unknown mode "ghost"`,
	}
	if len(probs) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(probs), len(want), probs)
	}
	for _, w := range want {
		if !strings.Contains(probs.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, probs)
		}
	}
}

func FuzzLoadAnalysisResult(f *testing.F) {
	f.Add([]byte(`{"assignments":[{"trace_id":"tr_1","mode_id":"fm_a"}],"proposed_modes":[],"hypotheses":[]}`))
	f.Add([]byte(`{"assignments":[{"trace_id":"t","mode_id":"fm_x","new_mode_slug":"y"}]}`))
	f.Add([]byte("{\n\t\"assignments\": [}"))
	f.Add([]byte(`assignments: [{trace_id: x, confidence: .nan}]`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "r.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Skip()
		}
		r, err := LoadAnalysisResult(path)
		if err != nil {
			if !IsUserError(err) {
				t.Fatalf("not a user error: %T %v", err, err)
			}
			return
		}
		r.Check(&Taxonomy{}, nil)
	})
}

// pushFixture is an evals directory with a one-mode taxonomy, a recorded
// experiment "exp" and a result file; FindTraces knows tr_1 only.
func pushFixture(t *testing.T, result string) (PushRequest, string) {
	t.Helper()
	evals := t.TempDir()
	tax := filepath.Join(evals, "taxonomy.yaml")
	if err := os.WriteFile(tax, []byte("modes:\n  - {slug: hallucinated, title: H, definition: d, status: official}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(Dir(evals).Runs("exp"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(evals, "result.json")
	if err := os.WriteFile(path, []byte(result), 0o644); err != nil {
		t.Fatal(err)
	}
	return PushRequest{EvalsDir: evals, ResultPath: path, By: "agent:test",
		FindTraces: func(slug string, ids []string) (map[string]TraceRef, error) {
			out := map[string]TraceRef{}
			for _, id := range ids {
				if id == "tr_1" {
					out[id] = TraceRef{Experiment: "exp", RunID: "run_1"}
				}
			}
			return out, nil
		}}, tax
}

// Planning writes nothing; Apply writes every file, and when a write
// fails it puts back the files already written. Planned again after
// Apply, the same result changes nothing.
func TestPushPlanApply(t *testing.T) {
	req, tax := pushFixture(t, `{"assignments": [{"trace_id": "tr_1", "new_mode_slug": "fresh"}],
"proposed_modes": [{"slug": "fresh", "title": "F", "definition": "d"}],
"hypotheses": [{"targets_mode_slug": "fresh", "statement": "s"}]}`)
	taxBefore, _ := os.ReadFile(tax)
	analysis := Dir(req.EvalsDir).Analysis("exp")
	plan, err := PlanPush(req)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(tax); string(got) != string(taxBefore) {
		t.Error("planning changed the taxonomy")
	}
	if _, err := os.Stat(analysis); !os.IsNotExist(err) {
		t.Errorf("planning created %s", analysis)
	}
	want := []string{tax, Dir(req.EvalsDir).Assignments("exp"), Dir(req.EvalsDir).Hypotheses("exp")}
	if strings.Join(plan.Changed, " ") != strings.Join(want, " ") || len(plan.Created) != 1 || plan.NewAssignments != 1 || plan.NewHypotheses != 1 {
		t.Fatalf("plan: %+v", plan.PushSummary)
	}

	// hypotheses.jsonl cannot be replaced: the push is undone.
	if err := os.MkdirAll(want[2], 0o755); err != nil {
		t.Fatal(err)
	}
	if err := plan.Apply(); err == nil {
		t.Fatal("Apply over a directory succeeded")
	}
	if got, _ := os.ReadFile(tax); string(got) != string(taxBefore) {
		t.Error("a failed Apply left the taxonomy changed")
	}
	if _, err := os.Stat(want[1]); !os.IsNotExist(err) {
		t.Error("a failed Apply left assignments.jsonl behind")
	}

	os.Remove(want[2])
	plan, err = PlanPush(req)
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.Apply(); err != nil {
		t.Fatal(err)
	}
	for _, p := range want {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("not written: %v", err)
		}
	}
	if again, err := PlanPush(req); err != nil || len(again.Changed) != 0 {
		t.Errorf("planned again: %v %+v", err, again)
	}
}

// Problems of the result's shape, its experiment, its traces and its mode
// references, and of the taxonomy file, come back together in one error.
func TestPlanPushCollectsEveryProblem(t *testing.T) {
	req, tax := pushFixture(t, `{"experiment": "exp",
"assignments": [
  {"trace_id": "tr_1", "mode_id": "fm_hallucinated", "quote": 5},
  {"trace_id": "tr_2", "new_mode_slug": "fresh"}
],
"hypotheses": [{"targets_mode_slug": "ghost", "statement": "s"}]}`)
	os.WriteFile(tax, []byte("modes:\n  - {slug: hallucinated, title: H, definition: d, status: official}\n  - {slug: Bad, title: B, definition: d}\n"), 0o644)
	_, err := PlanPush(req)
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("want Problems, got %T %v", err, err)
	}
	want := []string{
		`result.json:3:63: assignments[0].quote: expected a string, got number "5"`,
		`result.json:4:4: assignments[1].trace_id: unknown trace tr_2`,
		`taxonomy.yaml:3:`,
	}
	if len(probs) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(probs), len(want), err)
	}
	for i, w := range want {
		if !strings.Contains(probs[i].Error(), w) {
			t.Errorf("problem %d = %q, want %q", i, probs[i].Error(), w)
		}
	}
	// With the taxonomy fixed its own checks run: the mode references.
	os.WriteFile(tax, []byte("modes:\n  - {slug: hallucinated, title: H, definition: d, status: official}\n"), 0o644)
	_, err = PlanPush(req)
	for _, w := range []string{"assignments[0].quote", "unknown trace tr_2", `assignments[1].new_mode_slug: new_mode_slug "fresh" is neither`, `hypotheses[0].targets_mode_slug: unknown mode "ghost"`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in:\n%v", w, err)
		}
	}
}
