package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// analysisState is every file error analysis may touch: the taxonomy and
// evals/analysis/, with contents and modification times.
func analysisState(t *testing.T, dir string) string {
	t.Helper()
	tax, _ := os.ReadFile(filepath.Join(dir, "evals", "taxonomy.yaml"))
	info, _ := os.Stat(filepath.Join(dir, "evals", "taxonomy.yaml"))
	return string(tax) + info.ModTime().String() + "\n" + snapshot(t, filepath.Join(dir, "evals", "analysis"))
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The error-analysis loop end to end, offline with the pingpong agent:
// run → pull → a result with one invalid assignment is rejected whole →
// fixed, it is accepted → the new mode is a candidate → promote → merge,
// with history in list → re-push changes nothing → the report names the
// taxonomy mode.
func TestErrorAnalysisRoundTrip(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, errOut, code := runCLI(t, dir, "init"); code != 0 {
		t.Fatalf("init: %s", errOut)
	}
	if out, errOut, code := runCLI(t, dir, "run", "evals/experiments/pingpong.yaml", "--no-commit"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := runCLI(t, dir, "report", "pingpong")
	if code != 0 || !strings.Contains(out, "`selfevals analyze pull pingpong --iteration 0`") {
		t.Fatalf("report does not give the pull command: exit %d\n%s%s", code, out, errOut)
	}

	out, errOut, code = runCLI(t, dir, "analyze", "pull", "pingpong", "--iteration", "0")
	if code != 0 {
		t.Fatalf("pull: exit %d\n%s%s", code, out, errOut)
	}
	bundlePath := strings.TrimSpace(out)
	if !strings.HasPrefix(bundlePath, filepath.Join("evals", "analysis", "pingpong", "run_")) || !strings.HasSuffix(bundlePath, "-i0/bundle.json") {
		t.Fatalf("pull printed %q", out)
	}
	var bundle struct {
		SchemaVersion string `json:"schema_version"`
		Experiment    string `json:"experiment"`
		RunID         string `json:"run_id"`
		Iteration     *int   `json:"iteration"`
		Taxonomy      []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"taxonomy"`
		Traces []struct {
			TraceID  string          `json:"trace_id"`
			CaseName string          `json:"case_name"`
			Input    json.RawMessage `json:"input"`
			Output   string          `json:"output"`
			Grade    struct {
				Label        string   `json:"label"`
				FailureModes []string `json:"failure_modes"`
			} `json:"grade"`
		} `json:"traces"`
		Instructions string `json:"instructions"`
	}
	data, err := os.ReadFile(filepath.Join(dir, bundlePath))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &bundle); err != nil {
		t.Fatal(err)
	}
	if bundle.SchemaVersion != "1" || bundle.Experiment != "pingpong" || bundle.Iteration == nil || *bundle.Iteration != 0 || len(bundle.Taxonomy) != 9 || len(bundle.Traces) != 8 {
		t.Fatalf("bundle: %s", data)
	}
	for _, tr := range bundle.Traces {
		if tr.CaseName == "" || !strings.Contains(strings.ToLower(string(tr.Input)), "ping") || tr.Output != "miss" || tr.Grade.Label != "fail" || len(tr.Grade.FailureModes) == 0 {
			t.Errorf("bundle trace: %+v", tr)
		}
	}
	if !strings.Contains(bundle.Instructions, "selfevals skills show error-analysis") {
		t.Errorf("instructions: %s", bundle.Instructions)
	}
	md, _ := os.ReadFile(filepath.Join(dir, filepath.Dir(bundlePath), "bundle.md"))
	if !strings.Contains(string(md), bundle.Traces[0].TraceID) || !strings.Contains(string(md), "fm_groundedness_miss") {
		t.Errorf("bundle.md:\n%s", md)
	}
	// Pulling again writes the same bytes.
	runCLI(t, dir, "analyze", "pull", "pingpong", "--iteration", "0")
	if again, _ := os.ReadFile(filepath.Join(dir, bundlePath)); string(again) != string(data) {
		t.Error("a second pull wrote different bytes")
	}

	t0, t1 := bundle.Traces[0].TraceID, bundle.Traces[1].TraceID
	proposed := []map[string]any{{"slug": "says_miss", "title": "Says miss", "definition": "Answers miss when pong was expected."}}
	hypotheses := []map[string]any{{"targets_mode_slug": "says_miss", "statement": "raise level", "suggested_parameters": map[string]any{"model_params": map[string]any{"level": 1.0}}}}
	bad := map[string]any{
		"schema_version": "1",
		"assignments": []map[string]any{
			{"trace_id": t0, "mode_id": "fm_hallucinated", "open_note": "says miss", "quote": "miss", "confidence": 0.6},
			{"trace_id": t1, "new_mode_slug": "says_miss", "open_note": "answered miss", "quote": "miss"},
			{"trace_id": "tr_0000000000000000", "mode_id": "fm_halucinated"},
		},
		"proposed_modes": proposed,
		"hypotheses":     hypotheses,
	}
	resultPath := filepath.Join(dir, filepath.Dir(bundlePath), "result.json")
	writeJSON(t, resultPath, bad)
	before := analysisState(t, dir)
	out, errOut, code = runCLI(t, dir, "analyze", "push", resultPath, "--by", "agent:claude")
	if code != 2 {
		t.Fatalf("push of an invalid result: exit %d, want 2\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"assignments[2].trace_id: unknown trace tr_0000000000000000", `assignments[2].mode_id: unknown mode_id "fm_halucinated" (did you mean fm_hallucinated?)`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("push errors lack %q:\n%s", want, errOut)
		}
	}
	if after := analysisState(t, dir); after != before {
		t.Error("a rejected push changed the taxonomy or evals/analysis/")
	}

	// Fixed: the invalid assignment is dropped.
	good := bad
	good["assignments"] = bad["assignments"].([]map[string]any)[:2]
	writeJSON(t, resultPath, good)
	out, errOut, code = runCLI(t, dir, "analyze", "push", resultPath, "--by", "agent:claude")
	if code != 0 {
		t.Fatalf("push: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"assignments applied : 2 (2 new)", "candidates created  : 1", "hypotheses recorded : 1 (1 new)", "selfevals failuremode promote", "  fm_says_miss"} {
		if !strings.Contains(out, want) {
			t.Errorf("push output lacks %q:\n%s", want, out)
		}
	}
	assignments, _ := os.ReadFile(filepath.Join(dir, "evals", "analysis", "pingpong", "assignments.jsonl"))
	if strings.Count(string(assignments), "\n") != 2 || !strings.Contains(string(assignments), `"by":"agent:claude"`) || !strings.Contains(string(assignments), `"run_id":"`+bundle.RunID+`"`) {
		t.Errorf("assignments.jsonl:\n%s", assignments)
	}
	if h, _ := os.ReadFile(filepath.Join(dir, "evals", "analysis", "pingpong", "hypotheses.jsonl")); !strings.Contains(string(h), `"statement":"raise level"`) {
		t.Errorf("hypotheses.jsonl:\n%s", h)
	}
	out, _, _ = runCLI(t, dir, "failuremode", "list", "--status", "candidate")
	if !strings.Contains(out, "fm_says_miss") || !strings.Contains(out, "[candidate]") || !strings.Contains(out, "1 ex") || strings.Contains(out, "fm_hallucinated") {
		t.Errorf("candidates:\n%s", out)
	}
	if out, _, _ := runCLI(t, dir, "validate"); !strings.Contains(out, "10 failure modes (9 official, 1 candidate") {
		t.Errorf("validate after push:\n%s", out)
	}

	// Re-pushing the same result changes nothing.
	before = analysisState(t, dir)
	out, _, code = runCLI(t, dir, "analyze", "push", resultPath, "--by", "agent:claude")
	if code != 0 || !strings.Contains(out, "candidates re-seen  : 1") || !strings.Contains(out, "nothing changed") {
		t.Errorf("re-push: exit %d\n%s", code, out)
	}
	if analysisState(t, dir) != before {
		t.Error("re-push changed files")
	}

	// Lifecycle.
	out, errOut, code = runCLI(t, dir, "failuremode", "promote", "fm_says_miss", "--by", "human:ann")
	if code != 0 || !strings.Contains(out, "promoted fm_says_miss") {
		t.Fatalf("promote: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, _ := runCLI(t, dir, "failuremode", "promote", "says_miss"); !strings.Contains(out, "fm_says_miss is already official") {
		t.Errorf("second promote: %s", out)
	}
	if _, errOut, code := runCLI(t, dir, "failuremode", "edit", "fm_says_miss"); code != 2 || !strings.Contains(errOut, "nothing to edit") {
		t.Errorf("edit without flags: exit %d %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, dir, "failuremode", "promote", "fm_says_mis"); code != 2 || !strings.Contains(errOut, "did you mean fm_says_miss?") {
		t.Errorf("promote of an unknown mode: exit %d %s", code, errOut)
	}
	out, errOut, code = runCLI(t, dir, "failuremode", "merge", "fm_says_miss", "--into", "fm_hallucinated", "--by", "human:ann")
	if code != 0 || !strings.Contains(out, "merged fm_says_miss (Says miss) → fm_hallucinated (Hallucinated); source retired") {
		t.Fatalf("merge: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = runCLI(t, dir, "failuremode", "list")
	for _, want := range []string{"fm_says_miss", "[retired]", "merged into fm_hallucinated", "    promoted: candidate → official  by human:ann", "    merged: into fm_hallucinated (was official)  by human:ann", "    absorbed: fm_says_miss merged in (1 example)  by human:ann"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "* fm_hallucinated") || !strings.Contains(out, "2 ex") {
		t.Errorf("fm_hallucinated should be official with 2 examples:\n%s", out)
	}

	// After the merge, the same result still records nothing new: its
	// assignments to says_miss resolve to hallucinated, which has them.
	before = analysisState(t, dir)
	if out, errOut, code := runCLI(t, dir, "analyze", "push", resultPath, "--by", "agent:claude"); code != 0 || !strings.Contains(out, "nothing changed") {
		t.Errorf("re-push after merge: exit %d\n%s%s", code, out, errOut)
	}
	if analysisState(t, dir) != before {
		t.Error("re-push after the merge changed files")
	}

	// The report names the taxonomy mode the run's traces were assigned to.
	out, _, _ = runCLI(t, dir, "report", "pingpong")
	if !strings.Contains(out, "| `hallucinated` | analysis | 2 traces | Hallucinated (official) |") {
		t.Errorf("report failure-mode table:\n%s", out)
	}
	if out, errOut, code := runCLI(t, dir, "fmt", "--check"); code != 0 {
		t.Errorf("fmt --check after edits: exit %d\n%s%s", code, out, errOut)
	}
}

func TestAnalyzeErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runCLI(t, dir, "init")
	if _, errOut, code := runCLI(t, dir, "analyze", "pull", "pingpong"); code != 2 || !strings.Contains(errOut, "no recorded runs of pingpong") {
		t.Errorf("pull without runs: exit %d %s", code, errOut)
	}
	runCLI(t, dir, "run", "evals/experiments/pingpong.yaml", "--no-commit")
	if _, errOut, code := runCLI(t, dir, "analyze", "pull", "pingpong", "--iteration", "7"); code != 2 || !strings.Contains(errOut, "no iteration 7") {
		t.Errorf("pull of a missing iteration: exit %d %s", code, errOut)
	}
	os.WriteFile(filepath.Join(dir, "r.json"), []byte(`{"assignments": [{"trace_id": "t", "mode_id": "fm_x", "new_mode_slug": "y", "open_notes": "z"}]}`), 0o644)
	_, errOut, code := runCLI(t, dir, "analyze", "push", "r.json")
	if code != 2 || !strings.Contains(errOut, `r.json:1:77: assignments[0].open_notes: unknown key (did you mean "open_note"?)`) {
		t.Errorf("push with an unknown key: exit %d\n%s", code, errOut)
	}
	os.WriteFile(filepath.Join(dir, "r.json"), []byte(`{"assignments": [{"trace_id": "t", "mode_id": "fm_x", "new_mode_slug": "y"}]}`), 0o644)
	_, errOut, code = runCLI(t, dir, "analyze", "push", "r.json")
	if code != 2 || !strings.Contains(errOut, "assignments[0]: sets both mode_id and new_mode_slug") {
		t.Errorf("push with both: exit %d\n%s", code, errOut)
	}
	if _, errOut, code := runCLI(t, dir, "analyze", "push", "r.json", "--by", "claude"); code != 2 || !strings.Contains(errOut, "agent:NAME or human:NAME") {
		t.Errorf("push --by claude: exit %d %s", code, errOut)
	}
}

func TestSkills(t *testing.T) {
	t.Parallel()
	env := &Env{Dir: t.TempDir(), Vars: map[string]string{"XDG_CACHE_HOME": t.TempDir()}}
	out, _, code := runEnv(t, env, "skills", "list")
	if code != 0 || !strings.Contains(out, "error-analysis ") || !strings.Contains(out, "run-an-experiment ") {
		t.Fatalf("skills list: exit %d\n%s", code, out)
	}
	out, _, code = runEnv(t, env, "skills", "show", "error-analysis")
	if code != 0 || !strings.Contains(out, "selfevals analyze push") || !strings.Contains(out, "new_mode_slug") {
		t.Errorf("skills show: exit %d\n%s", code, out)
	}
	out, _, code = runEnv(t, env, "skills", "path", "run-an-experiment")
	if code != 0 {
		t.Fatalf("skills path: exit %d", code)
	}
	dir := strings.TrimSpace(out)
	if b, err := os.ReadFile(filepath.Join(dir, "SKILL.md")); err != nil || !strings.Contains(string(b), "selfevals validate") {
		t.Errorf("skills path wrote %s: %v", dir, err)
	}
	_, errOut, code := runEnv(t, env, "skills", "show", "nope")
	if code != 2 || !strings.Contains(errOut, `no bundled skill named "nope"; available: error-analysis, run-an-experiment`) {
		t.Errorf("unknown skill: exit %d %s", code, errOut)
	}
}

// A push file with independent problems found by different checks (the
// file's own shape, the run records, the taxonomy) reports all of them at
// once, in line order, and writes nothing.
func TestAnalyzePushReportsEveryProblem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runCLI(t, dir, "init")
	if _, errOut, code := runCLI(t, dir, "run", "evals/experiments/pingpong.yaml", "--no-commit"); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	out, errOut, code := runCLI(t, dir, "analyze", "pull", "pingpong", "--iteration", "0")
	if code != 0 {
		t.Fatalf("pull: %s", errOut)
	}
	var bundle struct {
		Traces []struct {
			TraceID string `json:"trace_id"`
		} `json:"traces"`
	}
	data, _ := os.ReadFile(filepath.Join(dir, strings.TrimSpace(out)))
	if err := json.Unmarshal(data, &bundle); err != nil || len(bundle.Traces) == 0 {
		t.Fatalf("bundle: %v %s", err, data)
	}
	tr := bundle.Traces[0].TraceID
	os.WriteFile(filepath.Join(dir, "r.json"), []byte(`{"assignments": [
  {"trace_id": "`+tr+`", "mode_id": "fm_hallucinated", "open_notes": "x"},
  {"trace_id": "tr_0000000000000000", "mode_id": "fm_hallucinated"},
  {"trace_id": "`+tr+`", "mode_id": "fm_halucinated"}
]}`), 0o644)
	before := analysisState(t, dir)
	_, errOut, code = runCLI(t, dir, "analyze", "push", "r.json", "--by", "agent:claude")
	if code != 2 {
		t.Fatalf("exit %d, want 2\n%s", code, errOut)
	}
	want := []string{
		`r.json:2:69: assignments[0].open_notes: unknown key (did you mean "open_note"?)`,
		`r.json:3:4: assignments[1].trace_id: unknown trace tr_0000000000000000`,
		`r.json:4:39: assignments[2].mode_id: unknown mode_id "fm_halucinated" (did you mean fm_hallucinated?)`,
	}
	last := -1
	for _, w := range want {
		i := strings.Index(errOut, w)
		if i < 0 || i < last {
			t.Errorf("%q missing or out of order in:\n%s", w, errOut)
		}
		last = i
	}
	if analysisState(t, dir) != before {
		t.Error("a rejected push changed the taxonomy or evals/analysis/")
	}
}
