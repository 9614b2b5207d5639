package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/selfevals/selfevals/graders"
	"github.com/selfevals/selfevals/repo"
	"github.com/selfevals/selfevals/runner/adapters"
)

// judgeCases are the agent answers the test judges react to (the echo
// agent answers with the case's input.text).
var judgeCases = []string{"good", "fenced", "garbage", "unknown", "slow", "crash"}

// judgeBin is the subprocess test judge (testdata/judge), built once.
var judgeBin string

// testDir holds the test binaries TestMain and the tests build; it goes
// when the tests end.
var testDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runner-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testDir = dir
	judgeBin = filepath.Join(dir, "judge")
	build := exec.Command("go", "build", "-o", judgeBin, "./testdata/judge")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build test judge:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func judgeSpecYAML(judge string) string {
	return `experiment:
  name: judged
  goal: grade with a judge
  target:
    primary: {name: pass@1, operator: ">=", value: 0.5}
  editable: {model_params: true}
  parameters: {model_params: {t: 1}}
  run: {max_iterations: 1, parallelism: 4}
dataset:
  cases_path: ../datasets/d.jsonl
agent:
  builtin: echo
graders:
  - type: llm_judge
    name: judge
    rubric: Is the answer good?
    timeout: 1500ms
    retries: 1
    judge: ` + judge + `
`
}

func judgeCasesJSONL(texts ...string) string {
	var b strings.Builder
	for _, s := range texts {
		fmt.Fprintf(&b, `{"name": %q, "input": {"text": %q}}`+"\n", s, s)
	}
	return b.String()
}

// runJudged runs iteration 0 of a spec through the executor with the
// judge factories, and returns the results by case name.
func runJudged(t *testing.T, ls *repo.LoadedSpec, noCache bool) map[string]*repo.Result {
	t.Helper()
	evalsDir := filepath.Join(ls.Root, "evals")
	factories, closeGraders := GraderFactories(ls, evalsDir, JudgeOptions{NoCache: noCache})
	defer closeGraders()
	reg, err := graders.NewRegistry(ls.Spec.Graders, factories)
	if err != nil {
		t.Fatal(err)
	}
	agent, err := adapters.New(ls.Spec.Agent, adapters.Options{RepoRoot: ls.Root})
	if err != nil {
		t.Fatal(err)
	}
	exec := &Executor{Adapter: agent, Parallelism: 4, Experiment: ls.Slug, RunID: "run_test",
		Grade: reg.Grade}
	out := map[string]*repo.Result{}
	names := map[string]string{}
	ls.Dataset.Each(func(c *repo.Case) error { names[c.ID] = c.Name; return nil })
	if _, err := exec.Run(context.Background(), ls.Dataset, Iteration{Params: ls.Spec.Experiment.Parameters, Repetitions: 1}, func(r *repo.Result) error {
		out[names[r.CaseID]] = r
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

type wantGrade struct {
	label  repo.Label
	reason string
}

func checkGrades(t *testing.T, got map[string]*repo.Result, want map[string]wantGrade) {
	t.Helper()
	for name, w := range want {
		r := got[name]
		if r == nil {
			t.Errorf("%s: no result", name)
			continue
		}
		if len(r.Grades) != 1 {
			t.Errorf("%s: grades %+v", name, r.Grades)
			continue
		}
		g := r.Grades[0]
		if g.Label != w.label || !strings.Contains(g.Reason, w.reason) || r.Label != w.label {
			t.Errorf("%s: got %s %q (overall %s), want %s containing %q", name, g.Label, g.Reason, r.Label, w.label, w.reason)
		}
	}
}

// A subprocess judge: good and fenced verdicts are read, garbage, unknown
// labels, a hang and a crash are error grades with their reason, and the
// run goes on. Verdicts are cached; a second run asks only about what did
// not parse.
func TestSubprocessJudge(t *testing.T) {
	log := filepath.Join(t.TempDir(), "judge.log")
	t.Setenv("JUDGE_LOG", log)
	ls := loadSpec(t, judgeSpecYAML(fmt.Sprintf("{command: [%q]}", judgeBin)), judgeCasesJSONL(judgeCases...))
	want := map[string]wantGrade{
		"good":    {repo.Pass, "fine"},
		"fenced":  {repo.Fail, "wrong"},
		"garbage": {repo.Error, `could not parse judge verdict: the judge did not return a JSON object`},
		"unknown": {repo.Error, `unknown label "maybe"`},
		"slow":    {repo.Error, "judge did not answer within 1.5s"},
		"crash":   {repo.Error, "judge call failed (exit_status)"},
	}
	got := runJudged(t, ls, false)
	checkGrades(t, got, want)
	if g := got["good"].Grades[0]; g.Score == nil || *g.Score != 1 || g.Confidence == nil || *g.Confidence != 0.9 || g.Details["judge_model"] != "script-judge" {
		t.Errorf("good verdict: %+v", g)
	}
	if raw := got["garbage"].Grades[0].Details["raw"]; raw != "I would rather not say." {
		t.Errorf("raw answer not kept: %v", raw)
	}
	calls := func() int {
		b, _ := os.ReadFile(log)
		return strings.Count(string(b), "\n")
	}
	first := calls()
	if first != len(judgeCases) {
		t.Errorf("judge asked %d times, want %d (no retry of permanent failures)", first, len(judgeCases))
	}
	if m, _ := filepath.Glob(filepath.Join(ls.Root, "evals/.cache/judge/jdg_*/verdicts/seg-*.jsonl")); len(m) == 0 {
		t.Error("no judge cache under evals/.cache/judge")
	}

	// Second run: the two verdicts come from the cache.
	got = runJudged(t, ls, false)
	checkGrades(t, got, want)
	if got["good"].Grades[0].Details["cached"] != true {
		t.Errorf("good verdict not cached: %+v", got["good"].Grades[0])
	}
	if n := calls() - first; n != len(judgeCases)-2 {
		t.Errorf("second run asked the judge %d times, want %d", n, len(judgeCases)-2)
	}
	// --no-cache asks again.
	before := calls()
	runJudged(t, ls, true)
	if n := calls() - before; n != len(judgeCases) {
		t.Errorf("--no-cache asked the judge %d times, want %d", n, len(judgeCases))
	}
}

// An OpenAI-compatible judge over HTTP: verdicts in choices[0].message.content,
// a 500 retried then an error, a hang cut at the timeout, and a judge that
// refuses connections.
func TestOpenAIJudge(t *testing.T) {
	var fails atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" {
			http.NotFound(w, r)
			return
		}
		var body struct {
			Model    string `json:"model"`
			Messages []struct{ Role, Content string }
		}
		json.NewDecoder(r.Body).Decode(&body)
		prompt := body.Messages[0].Content
		_, answer, _ := strings.Cut(prompt, "Agent response:\n")
		answer, _, _ = strings.Cut(answer, "\n\nReturn a single JSON object")
		var content string
		switch strings.TrimSpace(answer) {
		case "good":
			content = `{"label": "pass", "reason": "fine", "score": 0.75}`
		case "fenced":
			content = "```json\n{\"label\": \"partial\", \"reason\": \"half\"}\n```"
		case "garbage":
			content = "¯\\_(ツ)_/¯"
		case "unknown":
			content = `{"label": "excellent"}`
		case "slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			return
		default:
			fails.Add(1)
			http.Error(w, "overloaded", http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"model": body.Model, "choices": []any{map[string]any{"message": map[string]any{"role": "assistant", "content": content}}}})
	}))
	defer srv.Close()

	ls := loadSpec(t, judgeSpecYAML(fmt.Sprintf("{openai: {base_url: %q, model: judge-1}}", srv.URL+"/v1")), judgeCasesJSONL(judgeCases...))
	got := runJudged(t, ls, true)
	checkGrades(t, got, map[string]wantGrade{
		"good":    {repo.Pass, "fine"},
		"fenced":  {repo.Partial, "half"},
		"garbage": {repo.Error, "could not parse judge verdict"},
		"unknown": {repo.Error, `unknown label "excellent"`},
		"slow":    {repo.Error, "judge did not answer within 1.5s"},
		"crash":   {repo.Error, "judge call failed (http_status)"},
	})
	if g := got["good"].Grades[0]; g.Score == nil || *g.Score != 0.75 || got["good"].Score != 0.75 {
		t.Errorf("good: %+v", g)
	}
	if n := fails.Load(); n != 2 {
		t.Errorf("the 500 was sent %d times, want 2 (retries: 1)", n)
	}

	// Nothing listening.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ls = loadSpec(t, judgeSpecYAML(fmt.Sprintf("{openai: {base_url: %q, model: judge-1}}", "http://"+addr+"/v1")), judgeCasesJSONL("good"))
	checkGrades(t, runJudged(t, ls, true), map[string]wantGrade{"good": {repo.Error, "judge call failed (connection)"}})
}

// The built-in fake judge applies the rubric's rule lines.
func TestFakeJudge(t *testing.T) {
	spec := strings.Replace(judgeSpecYAML("{builtin: fake_judge}"), "rubric: Is the answer good?", `rubric: |
      Apologise and refund.
      PASS IF CONTAINS: sorry, refund
      FAIL IF CONTAINS: not our problem`, 1)
	ls := loadSpec(t, spec, judgeCasesJSONL("Sorry, here is a refund.", "sorry!", "nothing", "sorry, not our problem, refund"))
	checkGrades(t, runJudged(t, ls, true), map[string]wantGrade{
		"Sorry, here is a refund.":       {repo.Pass, `the response contains "sorry", "refund"`},
		"sorry!":                         {repo.Partial, `the response lacks "refund"`},
		"nothing":                        {repo.Fail, `the response lacks "sorry", "refund"`},
		"sorry, not our problem, refund": {repo.Fail, `the response contains "not our problem"`},
	})
	ls = loadSpec(t, judgeSpecYAML("{builtin: fake_judge}"), judgeCasesJSONL("x"))
	checkGrades(t, runJudged(t, ls, true), map[string]wantGrade{"x": {repo.Error, "the rubric has no 'PASS IF CONTAINS"}})
}

// A blocking judge whose card (card:, relative to the spec) misses its
// thresholds is skipped with the reason; a card of another grader is a
// user error.
func TestJudgeCardFromSpec(t *testing.T) {
	spec := strings.Replace(judgeSpecYAML("{builtin: fake_judge}"), "    rubric: Is the answer good?", "    rubric: \"PASS IF CONTAINS: x\"\n    card: ../graders/judge.yaml", 1)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "evals/graders"), 0o755)
	card := `name: judge
blocking: true
thresholds: {min_precision: 0.9, min_recall: 0.95, max_high_risk_false_negatives: 0}
metrics: {precision: 0.95, recall: 0.5, high_risk_false_negatives: 0}
`
	os.WriteFile(filepath.Join(dir, "evals/graders/judge.yaml"), []byte(card), 0o644)
	for path, content := range map[string]string{"evals/experiments/x.yaml": spec, "evals/datasets/d.jsonl": judgeCasesJSONL("x")} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, path)), 0o755)
		os.WriteFile(filepath.Join(dir, path), []byte(content), 0o644)
	}
	ls, err := repo.LoadExperiment(filepath.Join(dir, "evals/experiments/x.yaml"), repo.LoadOptions{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	checkGrades(t, runJudged(t, ls, true), map[string]wantGrade{
		"x": {repo.Skipped, "blocking grader below calibration thresholds (recall 0.5 < 0.95); degraded to advisory"},
	})

	os.WriteFile(filepath.Join(dir, "evals/graders/judge.yaml"), []byte(strings.Replace(card, "name: judge", "name: other", 1)), 0o644)
	factories, closeGraders := GraderFactories(ls, filepath.Join(dir, "evals"), JudgeOptions{NoCache: true})
	defer closeGraders()
	if _, err := graders.NewRegistry(ls.Spec.Graders, factories); err == nil || !repo.IsUserError(err) || !strings.Contains(err.Error(), `is the card of grader "other"`) {
		t.Errorf("mismatched card: %v", err)
	}
}
