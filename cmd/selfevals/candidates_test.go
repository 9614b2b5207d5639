package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

const thresholdSpec = `# The level sweep: more cases pass as the level rises.
experiment:
  name: thresholds
  goal: find the level that passes every case
  target:
    primary: {name: pass@1, operator: ">=", value: 0.3}
  # Three cases prove nothing: the reference's point-estimate rule keeps
  # both gains, which is what this git test needs.
  decision: {significance: report}
  # searched below
  search_space:
    model_params:
      level: [0.0, 0.4, 1.0]
  run: {parallelism: 2, cache: false}
dataset:
  cases_path: ../datasets/t.jsonl
agent:
  command: [%s]
`

// A run that keeps two candidates leaves the user's working tree, index
// and HEAD exactly as they were, and the branch holds two commits that,
// merged, change the spec's parameters and nothing else in it.
func TestCandidatesDoNotTouchTheWorkingTree(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	spec := fmt.Sprintf(thresholdSpec, countAgentBin)
	writeTree(t, dir, map[string]string{
		"evals/experiments/thresholds.yaml": spec,
		"evals/datasets/t.jsonl":            `{"name":"low","input":{"threshold":0.1},"expected":{"must_include":["pong"]}}` + "\n" + `{"name":"mid","input":{"threshold":0.3},"expected":{"must_include":["pong"]}}` + "\n" + `{"name":"high","input":{"threshold":0.9},"expected":{"must_include":["pong"]}}` + "\n",
		"evals/.gitignore":                  "runs/\n.cache/\n",
		"notes.txt":                         "v1\n",
	})
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "initial")
	writeTree(t, dir, map[string]string{"staged.txt": "staged\n"})
	git(t, dir, "add", "staged.txt")
	writeTree(t, dir, map[string]string{"notes.txt": "v2, not staged\n", "untracked.txt": "new\n"})

	status := git(t, dir, "status", "--porcelain")
	index, _ := os.ReadFile(filepath.Join(dir, ".git", "index"))
	head := git(t, dir, "rev-parse", "HEAD") + git(t, dir, "symbolic-ref", "HEAD")

	out, err := selfevals(dir, "run", "evals/experiments/thresholds.yaml").CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Committed 2 candidate(s) to `selfevals/thresholds`") {
		t.Errorf("report does not say what was committed:\n%s", out)
	}

	// evals/results/ was written by the run: it is the only change.
	after := git(t, dir, "status", "--porcelain")
	if want := status + "?? evals/results/\n"; after != want && strings.ReplaceAll(after, "?? evals/results/\n", "") != status {
		t.Errorf("status changed:\nbefore\n%s\nafter\n%s", status, after)
	}
	index2, _ := os.ReadFile(filepath.Join(dir, ".git", "index"))
	if sha256.Sum256(index) != sha256.Sum256(index2) {
		t.Error("the index file changed")
	}
	if h := git(t, dir, "rev-parse", "HEAD") + git(t, dir, "symbolic-ref", "HEAD"); h != head {
		t.Errorf("HEAD moved: %s -> %s", head, h)
	}
	log := git(t, dir, "log", "--format=%s", "main..selfevals/thresholds")
	subjects := strings.Split(strings.TrimSpace(log), "\n")
	if len(subjects) != 2 || !strings.HasPrefix(subjects[0], "selfevals(thresholds): keep iteration 2 — pass@1 1 (+") ||
		!strings.HasPrefix(subjects[1], "selfevals(thresholds): keep iteration 1 — pass@1 0.6667 (+") {
		t.Errorf("branch log:\n%s", log)
	}
	body := git(t, dir, "log", "-1", "--format=%B", "selfevals/thresholds")
	if !strings.Contains(body, "Selfevals-Run: run_") || !strings.Contains(body, "Selfevals-Iteration: 2") {
		t.Errorf("trailers missing:\n%s", body)
	}
	git(t, dir, "fsck", "--strict")

	// Merging the branch changes the spec's parameters: block and nothing
	// else in the spec.
	clone := t.TempDir()
	git(t, clone, "clone", "-q", dir, ".")
	git(t, clone, "merge", "-q", "--no-edit", "origin/selfevals/thresholds")
	merged, _ := os.ReadFile(filepath.Join(clone, "evals/experiments/thresholds.yaml"))
	if !strings.Contains(string(merged), "  parameters:\n    model_params:\n      level: 1.0\n") {
		t.Errorf("merged spec:\n%s", merged)
	}
	if withoutParameters(string(merged)) != withoutParameters(spec) {
		t.Errorf("merging changed more than parameters:\n%s\nvs\n%s", merged, spec)
	}
	if _, err := os.Stat(filepath.Join(clone, "evals/results/thresholds/summary.json")); err != nil {
		t.Error("the candidate's result did not travel with it")
	}

	// history shows the primary metric at each commit that changed it.
	out, err = selfevals(clone, "history", "thresholds").CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil || len(lines) != 3 || !strings.Contains(lines[1], "pass@1 1 ") || !strings.Contains(lines[1], "met") || !strings.Contains(lines[2], "pass@1 0.6667") {
		t.Errorf("history: %v\n%s", err, out)
	}

	// candidates lists them; --no-commit commits nothing.
	out, err = selfevals(dir, "candidates", "thresholds").CombinedOutput()
	if err != nil || strings.Count(string(out), "keep iteration") != 2 {
		t.Errorf("candidates: %v\n%s", err, out)
	}
	out, _ = selfevals(dir, "run", "evals/experiments/thresholds.yaml", "--no-commit").CombinedOutput()
	if !strings.Contains(string(out), "Nothing was committed: --no-commit.") {
		t.Errorf("--no-commit report:\n%s", out)
	}
	if n := strings.Count(git(t, dir, "log", "--format=%s", "main..selfevals/thresholds"), "\n"); n != 2 {
		t.Errorf("--no-commit added commits: %d", n)
	}
}

// withoutParameters drops the experiment's parameters: block.
func withoutParameters(spec string) string {
	var out []string
	skipping := false
	for _, l := range strings.Split(spec, "\n") {
		if strings.HasPrefix(l, "  parameters:") {
			skipping = true
			continue
		}
		if skipping && (strings.HasPrefix(l, "    ") || l == "") {
			continue
		}
		skipping = false
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

// Outside a git repository the run still works and says nothing was
// committed.
func TestRunOutsideGit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"evals/experiments/thresholds.yaml": fmt.Sprintf(thresholdSpec, countAgentBin),
		"evals/datasets/t.jsonl":            `{"input":{"threshold":0.1},"expected":{"must_include":["pong"]}}` + "\n",
	})
	out, err := selfevals(dir, "run", "evals/experiments/thresholds.yaml").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Nothing was committed: not a git repository.") {
		t.Errorf("%v\n%s", err, out)
	}
}
