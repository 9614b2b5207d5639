package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/selfevals/selfevals/repo"
)

// committedRepo turns the counting experiment's directory into a git
// repository with everything committed on main.
func committedRepo(t *testing.T, n, parallel int) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir, _ := countingRepo(t, n, parallel)
	writeTree(t, dir, map[string]string{"evals/.gitignore": "runs/\n.cache/\n", ".gitignore": "calls.txt\n"})
	git(t, dir, "init", "-q", "-b", "main")
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "initial")
	return dir
}

// readManifest reads the run.json of the only run of the counting
// experiment.
func readManifest(t *testing.T, dir string) repo.RunManifest {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, "evals/runs/counting/run_*/run.json"))
	if len(m) != 1 {
		t.Fatalf("run directories: %v", m)
	}
	b, err := os.ReadFile(m[0])
	if err != nil {
		t.Fatal(err)
	}
	var man repo.RunManifest
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	return man
}

// candidateIterations lists, per candidate commit on selfevals/counting,
// the iteration it keeps and how many lines its cases.jsonl has.
func candidateIterations(t *testing.T, dir string) map[string]int {
	t.Helper()
	if err := exec.Command("git", "-C", dir, "rev-parse", "--verify", "-q", "selfevals/counting").Run(); err != nil {
		return nil
	}
	out := map[string]int{}
	for _, h := range strings.Fields(git(t, dir, "log", "--format=%H", "main..selfevals/counting")) {
		it := strings.TrimSpace(git(t, dir, "log", "-1", "--format=%(trailers:key=Selfevals-Iteration,valueonly)", h))
		if _, dup := out[it]; dup {
			t.Errorf("iteration %s was committed twice", it)
		}
		out[it] = strings.Count(git(t, dir, "show", h+":evals/results/counting/cases.jsonl"), "\n")
	}
	return out
}

// interruptAfter starts a run, sends sig once `after` results are recorded,
// and checks it stopped with status 1 saying so. It returns the report.
func interruptAfter(t *testing.T, dir string, sig os.Signal, after int) string {
	t.Helper()
	cmd := selfevals(dir, "run", "evals/experiments/counting.yaml")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	startUntil(t, cmd, dir, after)
	cmd.Process.Signal(sig)
	var exit *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, stderr.String())
	}
	return stdout.String()
}

// Ctrl-C in iteration 0 writes no committed result and commits nothing;
// the run record says which iteration stopped and how far it got; --resume
// finishes it, writes the whole result and commits each kept candidate once.
func TestInterruptInBaselineWritesNoResults(t *testing.T) {
	t.Parallel()
	const n, parallel = 40, 4
	dir := committedRepo(t, n, parallel)
	report := interruptAfter(t, dir, os.Interrupt, n/4)
	if _, err := os.Stat(filepath.Join(dir, "evals/results/counting")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an interrupted iteration 0 wrote evals/results (%v)", err)
	}
	if got := candidateIterations(t, dir); got != nil {
		t.Errorf("an interrupted run committed candidates: %v", got)
	}
	man := readManifest(t, dir)
	u := man.Unfinished
	if man.State != repo.RunInterrupted || u == nil || u.Index != 0 || u.CallsFinished < n/4 || u.CallsFinished >= n || u.CallsPlanned != n {
		t.Fatalf("run.json: state %s, unfinished %+v", man.State, u)
	}
	if !strings.Contains(report, "interrupted during iteration 0 after") || !strings.Contains(report, "--resume") {
		t.Errorf("the report does not say the iteration is unfinished:\n%s", report)
	}
	if strings.Contains(report, "keep_candidate") {
		t.Errorf("the report decides on an unfinished iteration:\n%s", report)
	}
	if st := git(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("the interrupted run changed what git tracks:\n%s", st)
	}

	out, err := selfevals(dir, "run", "evals/experiments/counting.yaml", "--resume").CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if got := countLines(t, filepath.Join(dir, "evals/results/counting/cases.jsonl")); got != n {
		t.Errorf("cases.jsonl has %d lines after resume, want %d", got, n)
	}
	if man := readManifest(t, dir); man.State != repo.RunCompleted || man.Unfinished != nil {
		t.Errorf("after resume run.json: state %s, unfinished %+v", man.State, man.Unfinished)
	}
	if got := candidateIterations(t, dir); got["1"] != n {
		t.Errorf("candidates after resume (iteration: cases): %v, want iteration 1 with %d", got, n)
	}
	git(t, dir, "fsck", "--strict")
}

// SIGTERM (a CI cancel) in iteration 1 behaves as Ctrl-C: the complete
// iteration 0 is the committed result, the half of iteration 1 is neither
// decided nor committed, and --resume commits it once, complete.
func TestSIGTERMInCandidateCommitsNothingUnfinished(t *testing.T) {
	t.Parallel()
	const n, parallel = 40, 4
	dir := committedRepo(t, n, parallel)
	report := interruptAfter(t, dir, syscall.SIGTERM, n+n/4)
	if got := countLines(t, filepath.Join(dir, "evals/results/counting/cases.jsonl")); got != n {
		t.Errorf("cases.jsonl has %d lines, want the complete iteration 0's %d", got, n)
	}
	if got := candidateIterations(t, dir); got["1"] != 0 {
		t.Errorf("the unfinished iteration 1 was committed: %v", got)
	}
	if u := readManifest(t, dir).Unfinished; u == nil || u.Index != 1 {
		t.Errorf("run.json unfinished: %+v", u)
	}
	if !strings.Contains(report, "interrupted during iteration 1 after") {
		t.Errorf("report:\n%s", report)
	}
	out, err := selfevals(dir, "run", "evals/experiments/counting.yaml", "--resume").CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if got := candidateIterations(t, dir); got["1"] != n {
		t.Errorf("candidates after resume (iteration: cases): %v, want iteration 1 with %d", got, n)
	}
	git(t, dir, "fsck", "--strict")
}

// The first run in a new repository (nothing committed yet) succeeds and
// says why no candidate was committed.
func TestFirstRunInANewRepository(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	git(t, dir, "init", "-q")
	if out, err := selfevals(dir, "init").CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	cmd := selfevals(dir, "run", "evals/experiments/pingpong.yaml")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("first run: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "not committed") {
		t.Errorf("the report does not say why nothing was committed:\n%s", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "evals/results/pingpong/summary.json")); err != nil {
		t.Errorf("the first run wrote no result: %v", err)
	}
}

// --no-persist runs and reports, records the run, and leaves everything git
// tracks as it was: no evals/results, no spec edit, no candidate commit.
func TestNoPersistChangesNothingGitTracks(t *testing.T) {
	t.Parallel()
	const n = 10
	dir := committedRepo(t, n, 2)
	out, err := selfevals(dir, "run", "evals/experiments/counting.yaml", "--no-persist").CombinedOutput()
	if err != nil {
		t.Fatalf("run --no-persist: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "# Experiment: counting") || !strings.Contains(string(out), "Nothing was committed: --no-persist.") {
		t.Errorf("report:\n%s", out)
	}
	if st := git(t, dir, "status", "--porcelain", "--untracked-files=all"); st != "" {
		t.Errorf("--no-persist changed the repository:\n%s", st)
	}
	if got := candidateIterations(t, dir); got != nil {
		t.Errorf("--no-persist committed candidates: %v", got)
	}
	if man := readManifest(t, dir); man.State != repo.RunCompleted || !man.NoPersist {
		t.Errorf("run.json: state %s, no_persist %v", man.State, man.NoPersist)
	}
}

// Two branches both rerun an experiment and commit its results: the merge
// driver init configures keeps this branch's results and says so, validate
// and diff flag them as stale, and a rerun and a commit settle it.
func TestMergeWhereBothBranchesChangedResults(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	if out, err := selfevals(dir, "init").CombinedOutput(); err != nil || !strings.Contains(string(out), "merge driver selfevals-results") {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if attrs, _ := os.ReadFile(filepath.Join(dir, "evals/.gitattributes")); !bytes.Contains(attrs, []byte("results/** merge=selfevals-results")) {
		t.Fatalf("evals/.gitattributes:\n%s", attrs)
	}
	run := func() {
		t.Helper()
		if out, err := selfevals(dir, "run", "evals/experiments/pingpong.yaml", "--max-iterations", "1", "--no-commit").CombinedOutput(); err != nil {
			t.Fatalf("run: %v\n%s", err, out)
		}
	}
	commitAll := func(msg string) {
		t.Helper()
		git(t, dir, "add", "-A")
		git(t, dir, "commit", "-q", "-m", msg)
	}
	commitAll("init")
	run()
	commitAll("results")
	dataset := filepath.Join(dir, "evals/datasets/pingpong.jsonl")
	original, _ := os.ReadFile(dataset)
	newCase := func(name string) string {
		return `{"expected":{"must_include":["pong"]},"input":{"messages":[{"content":"ping","role":"user"}]},"name":"` + name + `"}` + "\n"
	}

	git(t, dir, "checkout", "-q", "-b", "feature")
	os.WriteFile(dataset, append(append([]byte{}, original...), newCase("added on feature")...), 0o644)
	run()
	commitAll("feature: a case and its results")
	git(t, dir, "checkout", "-q", "main")
	os.WriteFile(dataset, append([]byte(newCase("added on main")), original...), 0o644)
	run()
	commitAll("main: a case and its results")

	merge := exec.Command("git", "merge", "--no-edit", "feature")
	merge.Dir = dir
	merge.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := merge.CombinedOutput()
	if err != nil {
		t.Fatalf("git merge: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "selfevals: kept this branch's evals/results/pingpong/") {
		t.Errorf("the merge did not say it kept this branch's results:\n%s", out)
	}
	if n := countLines(t, dataset); n != 10 {
		t.Errorf("merged dataset has %d cases, want 10", n)
	}

	// The merged results are main's: 9 cases for a 10-case dataset.
	out, err = selfevals(dir, "validate").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "summary.json was written for another version of the dataset") {
		t.Errorf("validate does not flag the stale results: %v\n%s", err, out)
	}
	out, err = selfevals(dir, "diff", "HEAD^1", "HEAD", "--format", "json").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"kind": "stale_results"`) {
		t.Errorf("diff does not flag the stale results: %v\n%s", err, out)
	}

	run()
	commitAll("rerun after the merge")
	if got := countLines(t, filepath.Join(dir, "evals/results/pingpong/cases.jsonl")); got != 10 {
		t.Errorf("cases.jsonl has %d lines after the rerun, want 10", got)
	}
	if out, err := selfevals(dir, "validate").CombinedOutput(); err != nil || strings.Contains(string(out), "another version") {
		t.Errorf("validate after the rerun: %v\n%s", err, out)
	}
	if st := git(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("status:\n%s", st)
	}
	git(t, dir, "fsck", "--strict")
}

// A case that times out gives the same reason on every run (the limit, not
// the time measured), so a rerun leaves cases.jsonl byte for byte as it was.
func TestTimedOutCaseKeepsCommittedResultsStable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := fmt.Sprintf(`experiment:
  name: slow
  goal: time out
  target:
    primary: {name: pass@1, operator: ">=", value: 0.5}
  run: {parallelism: 2, cache: false, timeout: 150ms, retries: 0}
dataset:
  cases_path: ../datasets/d.jsonl
agent:
  command: [%s]
  env: {SLEEP_MS: "3000"}
`, countAgentBin)
	writeTree(t, dir, map[string]string{
		"evals/experiments/slow.yaml": spec,
		"evals/datasets/d.jsonl":      `{"name":"slow one","input":{"text":"ping"},"expected":{"must_include":["pong"]}}` + "\n",
	})
	var runs []string
	for range 2 {
		out, err := selfevals(dir, "run", "evals/experiments/slow.yaml").CombinedOutput()
		if err != nil {
			t.Fatalf("run: %v\n%s", err, out)
		}
		cases, _ := os.ReadFile(filepath.Join(dir, "evals/results/slow/cases.jsonl"))
		runs = append(runs, string(cases))
	}
	if !strings.Contains(runs[0], "did not answer within run.timeout") {
		t.Errorf("cases.jsonl does not give the timeout as its reason:\n%s", runs[0])
	}
	if runs[0] != runs[1] {
		t.Errorf("a rerun rewrote cases.jsonl:\n%s\n%s", runs[0], runs[1])
	}
}

// With core.autocrlf=true (the Git for Windows default) evals/.gitattributes
// keeps every file init writes and every result a run writes at LF: git
// warns of no conversion, and a rerun leaves the status clean.
func TestAutocrlfRepositoryStaysClean(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	git(t, dir, "config", "core.autocrlf", "true")
	if out, err := selfevals(dir, "init").CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if out := git(t, dir, "add", "-A"); strings.Contains(out, "CRLF") {
		t.Errorf("git add converts line endings:\n%s", out)
	}
	git(t, dir, "commit", "-q", "-m", "init")
	for i := range 2 {
		if out, err := selfevals(dir, "run", "evals/experiments/pingpong.yaml", "--max-iterations", "1", "--no-commit").CombinedOutput(); err != nil {
			t.Fatalf("run: %v\n%s", err, out)
		}
		if i == 0 {
			if out := git(t, dir, "add", "-A"); strings.Contains(out, "CRLF") {
				t.Errorf("git add converts the results' line endings:\n%s", out)
			}
			git(t, dir, "commit", "-q", "-m", "results")
		}
	}
	if st := git(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("a rerun left the results modified:\n%s", st)
	}
}
