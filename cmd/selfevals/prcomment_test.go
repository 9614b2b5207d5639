package main

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files")

// The pull request's repository: a support agent (a shell script, run as
// a real subprocess), its dataset and spec with a cost guardrail.
const prSpec = `experiment:
  name: support
  goal: answer support questions
  target:
    primary: {name: pass@1, operator: ">=", value: 0.5}
    guardrails:
      - {name: cost_usd_per_case, operator: "<=", value: 0.02}
  run: {max_iterations: 1, repetitions_per_case: 1, parallelism: 2, timeout: 10s}
dataset:
  cases_path: ../datasets/support.jsonl
agent:
  command: [agents/support.sh]
graders:
  - {type: deterministic, name: rules}
`

// prAgent is the support agent: it answers each case by its text (the
// answers JSON-escaped already) and reports what the call cost.
func prAgent(refund, parcel, cost string) string {
	return `#!/bin/sh
read -r req
case "$req" in
*'"refund please"'*) out='` + refund + `' ;;
*'"where is my parcel"'*) out='` + parcel + `' ;;
*'"hello"'*) out='Hello! How can I help?' ;;
*'"opening hours"'*) out='We open at 9.' ;;
*'"cancel my order"'*) out='Cancelled.' ;;
*) out='?' ;;
esac
printf '{"output":"%s","cost_usd":` + cost + `}\n' "$out"
`
}

const prDatasetA = `{"id":"refund","input":{"text":"refund please"},"expected":{"must_include":["refund"]}}
{"id":"parcel","input":{"text":"where is my parcel"},"expected":{"must_include":["ships"]}}
{"id":"hello","input":{"text":"hello"},"expected":{"must_include":["Hello"]}}
{"id":"hours","input":{"text":"opening hours"},"expected":{"must_include":["9"]}}
`

// The pull request edits hours' definition and adds cancel.
const prDatasetB = `{"id":"refund","input":{"text":"refund please"},"expected":{"must_include":["refund"]}}
{"id":"parcel","input":{"text":"where is my parcel"},"expected":{"must_include":["ships"]}}
{"id":"hello","input":{"text":"hello"},"expected":{"must_include":["Hello"]}}
{"id":"hours","input":{"text":"opening hours"},"expected":{"must_include":["9","weekdays"]}}
{"id":"cancel","input":{"text":"cancel my order"},"expected":{"must_include":["Cancel"]}}
`

// The regressed answer tries everything that could break the comment: a
// fence, closing the section, an image, a mention, a link, a control
// character.
const hostileAnswer = "```\\n</details><img src=x onerror=alert(1)> @octocat [click](https://example.com)\\u0007\\nWe cannot help."

func writeAgent(t *testing.T, dir, refund, parcel, cost string) {
	t.Helper()
	p := filepath.Join(dir, "agents", "support.sh")
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(prAgent(refund, parcel, cost)), 0o755); err != nil {
		t.Fatal(err)
	}
}

// prRepo makes the repository of a pull request as its evals job sees it:
// main has the committed result of the agent before; the pull request
// changes the agent (an agent fingerprint change), regresses refund,
// fixes parcel, edits hours' definition, adds cancel and triples the cost
// (over the guardrail); the job has just run the experiment, so the
// working tree holds its results and its run record.
func prRepo(t *testing.T) (dir, base string) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir = t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	writeTree(t, dir, map[string]string{
		"evals/.gitignore":               "runs/\n.cache/\n",
		"evals/experiments/support.yaml": prSpec,
		"evals/datasets/support.jsonl":   prDatasetA,
	})
	writeAgent(t, dir, "Sorry about that: a refund is on its way.", "I do not know.", "0.01")
	env := &Env{Dir: dir, Vars: map[string]string{"PATH": os.Getenv("PATH")}}
	if out, errOut, code := runEnv(t, env, "run", "evals/experiments/support.yaml", "--no-commit"); code != 0 {
		t.Fatalf("run on main: exit %d\n%s%s", code, out, errOut)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "main: the support agent and its result")
	base = strings.TrimSpace(git(t, dir, "rev-parse", "HEAD"))

	git(t, dir, "checkout", "-q", "-b", "feature")
	writeTree(t, dir, map[string]string{"evals/datasets/support.jsonl": prDatasetB})
	writeAgent(t, dir, hostileAnswer, "Your parcel ships tomorrow.", "0.03")
	git(t, dir, "commit", "-q", "-am", "feature: a new agent")
	if out, errOut, code := runEnv(t, env, "run", "evals/experiments/support.yaml", "--no-commit"); code != 0 {
		t.Fatalf("run on the pull request: exit %d\n%s%s", code, out, errOut)
	}
	return dir, base
}

// prNormalizer replaces what changes from run to run (commits, run IDs,
// times, measured latencies) in a comment.
func prNormalizer(t *testing.T, dir, base string) func(string) string {
	head := strings.TrimSpace(git(t, dir, "rev-parse", "HEAD"))
	runID := regexp.MustCompile(`run_[0-9a-f]+`)
	when := regexp.MustCompile(`\d{4}-\d\d-\d\d \d\d:\d\d UTC`)
	latency := regexp.MustCompile("(?m)^\\| `latency.*$")
	number := regexp.MustCompile(`[0-9]+(\.[0-9]+)?`)
	return func(s string) string {
		s = strings.NewReplacer(base, "BASE_COMMIT", base[:7], "BASE", head, "HEAD_COMMIT", head[:7], "HEAD").Replace(s)
		s = runID.ReplaceAllString(s, "run_ID")
		s = when.ReplaceAllString(s, "TIME")
		return latency.ReplaceAllStringFunc(s, func(row string) string { return number.ReplaceAllString(row, "N") })
	}
}

// The comment of a pull request with a regression, a fix, a new case, an
// edited definition, a guardrail violation and an agent change, from real
// runs of a real agent in a real repository, is the golden one.
func TestPullRequestCommentGolden(t *testing.T) {
	t.Parallel()
	dir, base := prRepo(t)
	env := &Env{Dir: dir, Vars: map[string]string{
		"PATH":              os.Getenv("PATH"),
		"GITHUB_SERVER_URL": "https://github.example",
		"GITHUB_REPOSITORY": "owner/repo",
		"GITHUB_RUN_ID":     "4242",
	}}
	out, errOut, code := runEnv(t, env, "diff", base)
	if code != 0 {
		t.Fatalf("diff: exit %d\n%s", code, errOut)
	}
	got := prNormalizer(t, dir, base)(out)
	goldenFile(t, "testdata/prcomment.md", got)

	// What the golden file must show, said apart so a rewrite of it is
	// checked too.
	for _, want := range []string{
		"❌ 1 regression in support",
		"❌ guardrail cost_usd_per_case violated in support",
		"agent fingerprint changed",
		"**A** · <a href=\"https://github.example/owner/repo/commit/BASE_COMMIT\"><code>BASE</code></a>",
		"**B** · working tree of <a href=\"https://github.example/owner/repo/commit/HEAD_COMMIT\"><code>HEAD</code></a>",
		"❌ violated `cost_usd_per_case <= 0.02` 0.01 → 0.03",
		"[The job's full report](https://github.example/owner/repo/actions/runs/4242)",
		"✅ Fixed in <code>support</code> (1)", "🆕 New cases in <code>support</code> (1)", "✏️ Definition changed in <code>support</code> (1)",
		"grader `rules`",
		"&lt;/details&gt;&lt;img src=x onerror=alert(1)&gt; @\u200boctocat",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the comment lacks %q", want)
		}
	}
	for _, bad := range []string{"</details><img", "@octocat", "\a", "\n```\n</details>"} {
		if strings.Contains(out, bad) {
			t.Errorf("the agent's answer leaks into the comment's markdown: %q", bad)
		}
	}
	if strings.Count(out, "<details>") != strings.Count(out, "</details>") {
		t.Error("unbalanced sections")
	}
}

// The rerun line of a regressed case, run from the repository root, sends
// the agent the same request: it answers what the run recorded.
func TestPullRequestCommentRerunReproduces(t *testing.T) {
	t.Parallel()
	dir, base := prRepo(t)
	out, errOut, code := runCLI(t, dir, "diff", base)
	if code != 0 {
		t.Fatalf("diff: exit %d\n%s", code, errOut)
	}
	_, rest, ok := strings.Cut(out, "Rerun from the repository root")
	if !ok {
		t.Fatalf("no rerun command:\n%s", out)
	}
	_, rest, _ = strings.Cut(rest, "```sh\n")
	line, _, _ := strings.Cut(rest, "\n")
	if !strings.HasPrefix(line, "printf '%s\\n' '{\"case_id\":\"refund\"") || !strings.HasSuffix(line, "| ./agents/support.sh") {
		t.Errorf("rerun line = %s", line)
	}
	cmd := exec.Command("sh", "-c", line)
	cmd.Dir = dir
	answer, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	if want := `{"output":"` + hostileAnswer + `","cost_usd":0.03}` + "\n"; string(answer) != want {
		t.Errorf("the rerun answered %s, want %s", answer, want)
	}
}

// goldenFile compares got with the file, or rewrites it with -update.
func goldenFile(t *testing.T, path, got string) {
	t.Helper()
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs (go test -run %s -update rewrites it):\n%s", path, t.Name(), got)
	}
}
