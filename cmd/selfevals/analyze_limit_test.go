package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// analyze pull --limit caps the bundle with a sample that says what it
// left out; a negative limit is a user error.
func TestAnalyzePullLimit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runCLI(t, dir, "init")
	if _, errOut, code := runCLI(t, dir, "run", "evals/experiments/pingpong.yaml", "--no-commit"); code != 0 {
		t.Fatalf("run: %s", errOut)
	}
	var all, capped struct {
		Traces []json.RawMessage `json:"traces"`
		Sample *struct {
			Limit, Selected int
			Groups          []struct {
				Group    string
				Traces   int
				InBundle int `json:"in_bundle"`
			}
		} `json:"sample"`
	}
	out, _, code := runCLI(t, dir, "analyze", "pull", "pingpong", "--limit", "0", "-o", "-")
	if code != 0 || json.Unmarshal([]byte(out), &all) != nil || len(all.Traces) < 2 || all.Sample != nil {
		t.Fatalf("--limit 0: exit %d, %d traces, sample %v", code, len(all.Traces), all.Sample)
	}
	_, errOut, code := runCLI(t, dir, "analyze", "pull", "pingpong", "--limit", "1")
	if code != 0 || !strings.Contains(errOut, "the bundle holds a sample of 1") {
		t.Fatalf("--limit 1: exit %d\n%s", code, errOut)
	}
	out, _, _ = runCLI(t, dir, "analyze", "pull", "pingpong", "--limit", "1", "-o", "-")
	if json.Unmarshal([]byte(out), &capped) != nil || len(capped.Traces) != 1 || capped.Sample == nil ||
		capped.Sample.Limit != 1 || capped.Sample.Selected != len(all.Traces) {
		t.Fatalf("--limit 1: %d traces, sample %+v", len(capped.Traces), capped.Sample)
	}
	if _, errOut, code := runCLI(t, dir, "analyze", "pull", "pingpong", "--limit", "-3"); code != 2 || !strings.Contains(errOut, "--limit -3 is negative") {
		t.Errorf("--limit -3: exit %d\n%s", code, errOut)
	}
}
