package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A run started with --no-cache and resumed without it still calls the
// agent for every remaining call: the cache, full from an earlier run,
// answers none of them.
func TestResumeKeepsNoCache(t *testing.T) {
	const n, parallel = 40, 4
	dir, countFile := countingRepo(t, n, parallel)
	spec := filepath.Join(dir, "evals/experiments/counting.yaml")
	b, _ := os.ReadFile(spec)
	os.WriteFile(spec, []byte(strings.Replace(string(b), "cache: false", "cache: true", 1)), 0o644)
	if out, err := selfevals(dir, "run", "evals/experiments/counting.yaml", "--no-commit").CombinedOutput(); err != nil {
		t.Fatalf("first run: %v\n%s", err, out)
	}
	cached := countLines(t, countFile)
	if cached != 2*n {
		t.Fatalf("the first run called the agent %d times, want %d", cached, 2*n)
	}

	cmd := selfevals(dir, "run", "evals/experiments/counting.yaml", "--no-commit", "--no-cache")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for countLines(t, countFile) < cached+n/2 {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("the --no-cache run did not call the agent")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if out, err := selfevals(dir, "run", "evals/experiments/counting.yaml", "--no-commit", "--resume").CombinedOutput(); err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	if got := countLines(t, countFile) - cached; got < 2*n || got > 2*n+parallel {
		t.Errorf("the --no-cache run and its resumption called the agent %d times; want %d (every call, none from the cache)", got, 2*n)
	}
}
