package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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

// thresholdsRepo is a repository with the thresholds experiment (agent
// env as given) committed on main.
func thresholdsRepo(t *testing.T, env string) string {
	t.Helper()
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	spec := fmt.Sprintf(thresholdSpec, countAgentBin)
	if env != "" {
		spec += "  env: " + env + "\n"
	}
	writeTree(t, dir, map[string]string{
		"evals/experiments/thresholds.yaml": spec,
		"evals/datasets/t.jsonl":            thresholdCases(0.1, 0.3, 0.9),
		"evals/.gitignore":                  "runs/\n.cache/\n",
	})
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "initial")
	return dir
}

func thresholdCases(thresholds ...float64) string {
	var b strings.Builder
	for i, th := range thresholds {
		fmt.Fprintf(&b, `{"name":"case %d","input":{"threshold":%g},"expected":{"must_include":["pong"]}}`+"\n", i, th)
	}
	return b.String()
}

func runThresholds(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := selfevals(dir, append([]string{"run", "evals/experiments/thresholds.yaml"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("run %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func gitLines(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	return strings.Fields(git(t, dir, args...))
}

// The first run in a repository with nothing committed warns, commits no
// candidate and completes.
func TestFirstRunInAFreshRepository(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	writeTree(t, dir, map[string]string{
		"evals/experiments/thresholds.yaml": fmt.Sprintf(thresholdSpec, countAgentBin),
		"evals/datasets/t.jsonl":            thresholdCases(0.1, 0.3, 0.9),
	})
	out := runThresholds(t, dir)
	for _, want := range []string{
		"nothing committed yet: candidates are not committed; commit your evals/ first",
		"Nothing was committed: nothing committed yet.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	manifests, _ := filepath.Glob(filepath.Join(dir, "evals/runs/thresholds/run_*/run.json"))
	if len(manifests) != 1 {
		t.Fatalf("run.json files: %v", manifests)
	}
	if b, _ := os.ReadFile(manifests[0]); !strings.Contains(string(b), `"state": "completed"`) {
		t.Errorf("run.json:\n%s", b)
	}
	if refs := git(t, dir, "for-each-ref"); refs != "" {
		t.Errorf("refs were written: %s", refs)
	}
}

// Candidates go on the commit that was run: a rerun adds nothing, a run
// on a newer commit (a larger dataset) moves the branch there and keeps
// the earlier run's candidates, listed; the branch merges cleanly after
// another commit on main.
func TestCandidatesFollowTheCommitRun(t *testing.T) {
	t.Parallel()
	dir := thresholdsRepo(t, "")
	base1 := strings.TrimSpace(git(t, dir, "rev-parse", "HEAD"))
	runThresholds(t, dir)
	first := gitLines(t, dir, "rev-list", "main..selfevals/thresholds")
	if len(first) != 2 {
		t.Fatalf("first run committed %d candidates", len(first))
	}
	run1 := strings.TrimSpace(git(t, dir, "log", "-1", "--format=%(trailers:key=Selfevals-Run,valueonly)", "selfevals/thresholds"))
	if decision := git(t, dir, "show", "selfevals/thresholds:evals/results/thresholds/decision.json"); strings.Contains(decision, "run_") {
		t.Errorf("decision.json names the run, so reruns would differ:\n%s", decision)
	}

	state := func() string {
		return git(t, dir, "for-each-ref") + git(t, dir, "count-objects") + git(t, dir, "reflog", "show", "--all")
	}
	before := state()
	out := runThresholds(t, dir)
	if !strings.Contains(out, "2 candidate(s) were already on `selfevals/thresholds` from an earlier run of the same commit with the same results") {
		t.Errorf("the rerun's report:\n%s", out)
	}
	if after := state(); after != before {
		t.Errorf("an identical rerun changed git:\nbefore\n%s\nafter\n%s", before, after)
	}

	writeTree(t, dir, map[string]string{"evals/datasets/t.jsonl": thresholdCases(0.1, 0.3, 0.9, 0.95)})
	git(t, dir, "commit", "-q", "-am", "a fourth case")
	base2 := strings.TrimSpace(git(t, dir, "rev-parse", "HEAD"))
	out = runThresholds(t, dir)
	kept := "refs/selfevals/candidates/thresholds/" + run1
	if !strings.Contains(out, "Earlier candidates the branch no longer holds are kept under "+kept) {
		t.Errorf("the report does not say where the earlier candidates went:\n%s", out)
	}
	if got := strings.TrimSpace(git(t, dir, "rev-parse", "selfevals/thresholds~2")); got != base2 {
		t.Errorf("the new candidates sit on %s, want the commit run, %s (the first run's was %s)", got, base2, base1)
	}
	if got := git(t, dir, "show", "selfevals/thresholds:evals/datasets/t.jsonl"); strings.Count(got, "\n") != 4 {
		t.Errorf("the candidate carries another dataset:\n%s", got)
	}
	if got := strings.TrimSpace(git(t, dir, "rev-parse", kept)); got != first[0] {
		t.Errorf("%s at %s, want the first run's newest candidate %s", kept, got, first[0])
	}
	out = string(must(selfevals(dir, "candidates").CombinedOutput()))
	if !strings.Contains(out, "selfevals/thresholds  (current)") || !strings.Contains(out, kept+"  (earlier run)") ||
		strings.Count(out, "keep iteration") != 4 {
		t.Errorf("candidates:\n%s", out)
	}
	git(t, dir, "fsck", "--strict")

	// The run's own evals/results/ (iteration 0, untracked) aside, the
	// branch merges cleanly after another commit on main.
	os.RemoveAll(filepath.Join(dir, "evals/results"))
	writeTree(t, dir, map[string]string{"notes.txt": "meanwhile\n"})
	git(t, dir, "add", "notes.txt")
	git(t, dir, "commit", "-q", "-m", "meanwhile on main")
	git(t, dir, "merge", "-q", "--no-edit", "selfevals/thresholds")
	if got := git(t, dir, "show", "HEAD:evals/results/thresholds/summary.json"); !strings.Contains(got, `"cases": 4`) {
		t.Errorf("merged summary.json:\n%s", got)
	}
	out = string(must(selfevals(dir, "candidates").CombinedOutput()))
	if strings.Contains(out, "(current)") || !strings.Contains(out, kept) {
		t.Errorf("candidates after the merge:\n%s", out)
	}
	git(t, dir, "fsck", "--strict")
}

func must(out []byte, err error) []byte {
	if err != nil {
		panic(fmt.Sprintf("%v\n%s", err, out))
	}
	return out
}

// A selfevals/<slug> branch that is someone's own is left alone, with a
// warning naming the flag that commits elsewhere.
func TestForeignCandidateBranch(t *testing.T) {
	t.Parallel()
	dir := thresholdsRepo(t, "")
	git(t, dir, "branch", "selfevals/thresholds")
	mine := git(t, dir, "rev-parse", "selfevals/thresholds")
	out := runThresholds(t, dir)
	if !strings.Contains(out, "branch selfevals/thresholds was not created by selfevals") ||
		!strings.Contains(out, "selfevals run --candidate-branch NAME") {
		t.Errorf("no warning:\n%s", out)
	}
	if got := git(t, dir, "rev-parse", "selfevals/thresholds"); got != mine {
		t.Errorf("the user's branch moved to %s", got)
	}

	out = runThresholds(t, dir, "--candidate-branch", "selfevals/thresholds-2")
	if !strings.Contains(out, "Committed 2 candidate(s) to `selfevals/thresholds-2`") {
		t.Errorf("--candidate-branch:\n%s", out)
	}
	cmd := selfevals(dir, "run", "evals/experiments/thresholds.yaml", "--candidate-branch", "bad..name")
	b, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(b), "--candidate-branch") {
		t.Errorf("a bad branch name: %v, exit %d\n%s", err, code, b)
	}
}

// Killed after its first candidate, a run resumed after another commit on
// main still builds on the commit it started from, and commits each
// candidate once.
func TestResumeCommitsOnTheCommitRun(t *testing.T) {
	t.Parallel()
	dir := thresholdsRepo(t, `{SLEEP_MS: "300"}`)
	base := strings.TrimSpace(git(t, dir, "rev-parse", "HEAD"))
	cmd := selfevals(dir, "run", "evals/experiments/thresholds.yaml", "--parallel", "1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := exec.Command("git", "-C", dir, "rev-parse", "-q", "--verify", "selfevals/thresholds").Output(); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no candidate was committed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if n := len(gitLines(t, dir, "rev-list", "main..selfevals/thresholds")); n != 1 {
		t.Fatalf("the kill came after %d candidates, want 1", n)
	}

	writeTree(t, dir, map[string]string{"notes.txt": "meanwhile\n"})
	git(t, dir, "add", "notes.txt")
	git(t, dir, "commit", "-q", "-m", "meanwhile on main")
	out := runThresholds(t, dir, "--resume")
	if !strings.Contains(out, "Committed 2 candidate(s)") {
		t.Errorf("resume report:\n%s", out)
	}
	if got := strings.TrimSpace(git(t, dir, "rev-parse", "selfevals/thresholds~2")); got != base {
		t.Errorf("resumed candidates sit on %s, want the commit the run started on, %s", got, base)
	}
	if got := git(t, dir, "log", "--format=%s", base+"..selfevals/thresholds"); strings.Count(got, "keep iteration") != 2 {
		t.Errorf("branch after resume:\n%s", got)
	}
	git(t, dir, "fsck", "--strict")
}
