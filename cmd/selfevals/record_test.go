package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/selfevals/selfevals/repo/runstore"
	"github.com/selfevals/selfevals/repo/runstore/tracefile"
)

// countingRepo writes an evals/ tree whose experiment calls the counting
// agent over n cases and two grid levels, without cache.
func countingRepo(t *testing.T, n, parallel int) (dir, countFile string) {
	t.Helper()
	dir = t.TempDir()
	countFile = filepath.Join(dir, "calls.txt")
	spec := fmt.Sprintf(`experiment:
  name: counting
  goal: count agent calls
  target:
    primary: {name: pass@1, operator: ">=", value: 0.5}
  search_space:
    model_params:
      level: [0.0, 1.0]
  run: {parallelism: %d, cache: false, timeout: 30s}
dataset:
  cases_path: ../datasets/d.jsonl
agent:
  command: [%s]
  env: {COUNT_FILE: %s, SLEEP_MS: "15"}
`, parallel, countAgentBin, countFile)
	var cases bytes.Buffer
	for i := range n {
		fmt.Fprintf(&cases, `{"name":"case %d","input":{"text":"ping %d"},"expected":{"must_include":["pong"]}}`+"\n", i, i)
	}
	writeTree(t, dir, map[string]string{"evals/experiments/counting.yaml": spec, "evals/datasets/d.jsonl": cases.String()})
	return dir, countFile
}

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(b, []byte("\n"))
}

func selfevals(dir string, args ...string) *exec.Cmd {
	cmd := exec.Command(selfevalsBin, args...)
	cmd.Dir = dir
	return cmd
}

// startUntil starts cmd, a run of the counting experiment in dir, and
// returns once n results are recorded, with a function that finds
// results.jsonl ("" before the run creates it).
func startUntil(t *testing.T, cmd *exec.Cmd, dir string, n int) (results func() string) {
	t.Helper()
	stderr, _ := cmd.Stderr.(*bytes.Buffer)
	if stderr == nil {
		stderr = &bytes.Buffer{}
		cmd.Stderr = stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	results = func() string {
		m, _ := filepath.Glob(filepath.Join(dir, "evals/runs/counting/run_*/results.jsonl"))
		if len(m) == 0 {
			return ""
		}
		return m[0]
	}
	deadline := time.Now().Add(20 * time.Second)
	for countLines(t, results()) < n {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the run did not progress:\n%s", stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return results
}

// Killed with SIGKILL mid-run, then resumed: the agent was called once per
// case × iteration × repetition, plus at most the calls in flight at the
// kill, and the final results equal an uninterrupted run's.
func TestKillAndResume(t *testing.T) {
	const n, parallel = 40, 4
	dir, countFile := countingRepo(t, n, parallel)
	cmd := selfevals(dir, "run", "evals/experiments/counting.yaml", "--no-commit")
	results := startUntil(t, cmd, dir, n/2)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	callsBefore := countLines(t, countFile)
	done := countLines(t, results())
	if done >= 2*n {
		t.Fatalf("the run finished before the kill (%d results)", done)
	}

	out, err := selfevals(dir, "run", "evals/experiments/counting.yaml", "--no-commit", "--resume").CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "resuming run_") {
		t.Errorf("resume did not say what it resumed:\n%s", out)
	}
	total := countLines(t, countFile)
	if total < 2*n || total > 2*n+parallel {
		t.Errorf("agent called %d times (%d before the kill, %d results kept); want between %d and %d", total, callsBefore, done, 2*n, 2*n+parallel)
	}
	if got := countLines(t, results()); got != 2*n {
		t.Errorf("results.jsonl has %d lines, want %d", got, 2*n)
	}
	// traces.parquet holds one root row per call, the ones before the kill
	// included, and the killed run's temporary file is gone.
	if stale, _ := filepath.Glob(filepath.Join(filepath.Dir(results()), ".traces.parquet.tmp-*")); len(stale) > 0 {
		t.Errorf("temporary trace files left: %v", stale)
	}
	roots := map[string]bool{}
	err = tracefile.ReadRows(filepath.Join(filepath.Dir(results()), "traces.parquet"), func(row runstore.TraceRow) error {
		if row.Kind == "agent_call" {
			roots[fmt.Sprintf("%s/%d/%d", row.CaseID, row.Iteration, row.Repetition)] = true
		}
		return nil
	})
	if err != nil || len(roots) != 2*n {
		t.Errorf("traces.parquet: %v, %d calls, want %d", err, len(roots), 2*n)
	}
	resumed, _ := os.ReadFile(filepath.Join(dir, "evals/results/counting/cases.jsonl"))
	resumedSummary, _ := os.ReadFile(filepath.Join(dir, "evals/results/counting/summary.json"))

	// An uninterrupted run gives the same committed result, byte for byte,
	// and leaves the files untouched.
	before, _ := os.Stat(filepath.Join(dir, "evals/results/counting/summary.json"))
	if out, err := selfevals(dir, "run", "evals/experiments/counting.yaml", "--no-commit").CombinedOutput(); err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	again, _ := os.ReadFile(filepath.Join(dir, "evals/results/counting/cases.jsonl"))
	againSummary, _ := os.ReadFile(filepath.Join(dir, "evals/results/counting/summary.json"))
	after, _ := os.Stat(filepath.Join(dir, "evals/results/counting/summary.json"))
	if !bytes.Equal(resumed, again) || !bytes.Equal(resumedSummary, againSummary) {
		t.Errorf("resumed and uninterrupted results differ:\n%s\n%s\n%s\n%s", resumed, again, resumedSummary, againSummary)
	}
	if !before.ModTime().Equal(after.ModTime()) {
		t.Error("an unchanged summary.json was rewritten")
	}
	for _, bad := range []string{"run_", "started", "latency", "2026-"} {
		if bytes.Contains(againSummary, []byte(bad)) || bytes.Contains(again, []byte(bad)) {
			t.Errorf("results files contain %q", bad)
		}
	}
}

// A second run of the same experiment while one runs gets the lock error
// naming the holder; the first completes untouched.
func TestConcurrentRunsAreLocked(t *testing.T) {
	dir, _ := countingRepo(t, 30, 2)
	first := selfevals(dir, "run", "evals/experiments/counting.yaml", "--no-commit")
	var firstOut bytes.Buffer
	first.Stdout = &firstOut
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	lock := filepath.Join(dir, "evals/runs/counting/.lock")
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, _ := os.ReadFile(lock); bytes.Contains(b, []byte(`"pid"`)) {
			break
		}
		if time.Now().After(deadline) {
			first.Process.Kill()
			t.Fatal("the first run never took the lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
	out, err := selfevals(dir, "run", "evals/experiments/counting.yaml", "--no-commit").CombinedOutput()
	if err == nil {
		t.Fatalf("second run succeeded:\n%s", out)
	}
	if want := fmt.Sprintf("is being run by pid %d", first.Process.Pid); !strings.Contains(string(out), want) {
		t.Errorf("lock error does not name the holder (%s):\n%s", want, out)
	}
	if err := first.Wait(); err != nil {
		t.Fatalf("first run failed: %v", err)
	}
	if !strings.Contains(firstOut.String(), "search_space_exhausted") {
		t.Errorf("first run report:\n%s", firstOut.String())
	}
	// The lock of a killed run is taken over.
	killed := selfevals(dir, "run", "evals/experiments/counting.yaml", "--no-commit")
	killed.Start()
	time.Sleep(100 * time.Millisecond)
	killed.Process.Signal(syscall.SIGKILL)
	killed.Wait()
	if out, err := selfevals(dir, "run", "evals/experiments/counting.yaml", "--no-commit", "--max-iterations", "1").CombinedOutput(); err != nil {
		t.Errorf("run after a killed holder: %v\n%s", err, out)
	}
}

// The first Ctrl-C stops a run cleanly: in-flight calls are cancelled,
// what finished is kept and reported, and the exit status is 1.
func TestInterruptKeepsFinishedCalls(t *testing.T) {
	const n, parallel = 40, 4
	dir, _ := countingRepo(t, n, parallel)
	cmd := selfevals(dir, "run", "evals/experiments/counting.yaml", "--no-commit")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	results := startUntil(t, cmd, dir, n/2)
	cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "error: interrupted: finished calls were kept") {
		t.Errorf("stderr does not say it was interrupted:\n%s", stderr.String())
	}
	if !strings.Contains(stdout.String(), "# Experiment: counting") {
		t.Errorf("no report on stdout:\n%s", stdout.String())
	}
	if kept := countLines(t, results()); kept < n/2 || kept >= 2*n {
		t.Errorf("results.jsonl has %d lines, want the %d or more that finished before the interrupt, and fewer than %d", kept, n/2, 2*n)
	}
	manifest, _ := os.ReadFile(filepath.Join(filepath.Dir(results()), "run.json"))
	if !bytes.Contains(manifest, []byte(`"state": "interrupted"`)) {
		t.Errorf("run.json:\n%s", manifest)
	}
}

// A command blocked where it cannot watch the signal (analyze push reading
// a stdin that never ends) stops by itself after the grace period that
// follows SIGTERM, with exit code 130 and a message; it does not wait for
// a second signal or a kill.
func TestSigtermEndsABlockedCommandAfterTheGrace(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runCLI(t, dir, "init")
	cmd := selfevals(dir, "analyze", "push", "-")
	cmd.Env = append(os.Environ(), "SELFEVALS_STOP_GRACE=300ms")
	stdin, err := cmd.StdinPipe() // held open: the read never ends
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // past start-up, blocked in the read
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 130 {
			t.Errorf("exit: %v, want code 130", err)
		}
		if !strings.Contains(stderr.String(), "still stopping 300ms after the signal; exiting now") {
			t.Errorf("stderr: %s", stderr.String())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the command outlived SIGTERM and its grace period")
	}
}
