package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// faultRun runs the built binary in dir with extra environment and
// returns its combined output and exit code.
func faultRun(t *testing.T, dir string, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := selfevals(dir, args...)
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// outcome is what a run leaves that must not depend on how it got there:
// the committed result's bytes and the trees of the kept candidates.
func outcome(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	files, _ := filepath.Glob(filepath.Join(dir, "evals/results/pingpong/*"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		fmt.Fprintf(&b, "== %s\n%s\n", filepath.Base(f), data)
	}
	log := exec.Command("git", "log", "--format=%T %s", "selfevals/pingpong", "^HEAD")
	log.Dir = dir
	out, err := log.Output()
	if err != nil {
		b.WriteString("no candidate branch\n")
	}
	b.Write(out)
	return b.String()
}

// unfinished says whether the experiment has a run to resume: one whose
// run.json does not say completed.
func unfinished(t *testing.T, dir string) bool {
	t.Helper()
	manifests, _ := filepath.Glob(filepath.Join(dir, "evals/runs/pingpong/run_*/run.json"))
	for _, m := range manifests {
		data, err := os.ReadFile(m)
		if err == nil && !bytes.Contains(data, []byte(`"state": "completed"`)) {
			return true
		}
	}
	return false
}

// A run killed, or failing to write, at any of its write points (results,
// iterations, run.json, the committed result, traces.parquet, git objects,
// the candidate ref) and then resumed ends exactly as an uninterrupted run:
// the same committed result, the same candidates, git fsck clean, and
// selfevals check without errors.
func TestFaultAtEveryWritePointThenResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary twice per write point")
	}
	t.Parallel()
	template := t.TempDir()
	gitInit(t, template)
	runCLI(t, template, "init")
	git(t, template, "add", ".")
	git(t, template, "commit", "-qm", "evals")

	clone := func() string {
		dir := filepath.Join(t.TempDir(), "repo")
		if out, err := exec.Command("cp", "-a", template, dir).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		return dir
	}
	baseline := clone()
	logPath := filepath.Join(t.TempDir(), "points.log")
	if out, code := faultRun(t, baseline, []string{"SELFEVALS_FAULT_LOG=" + logPath}, "run", "evals/experiments/pingpong.yaml"); code != 0 {
		t.Fatalf("baseline: exit %d\n%s", code, out)
	}
	want := outcome(t, baseline)
	if !strings.Contains(want, "keep iteration 1") {
		t.Fatalf("the baseline kept no candidate, so refs are not exercised:\n%s", want)
	}
	points, _ := os.ReadFile(logPath)
	lines := strings.Split(strings.TrimSpace(string(points)), "\n")
	if len(lines) < 20 {
		t.Fatalf("only %d write points reached:\n%s", len(lines), points)
	}
	for _, kind := range []string{"write results.jsonl", "write iterations.jsonl", "rename run.json", "rename summary.json", "rename cases.jsonl", "rename traces.parquet", "write git object", "update refs/heads/selfevals/pingpong"} {
		if !strings.Contains(string(points), kind) {
			t.Errorf("no write point %q reached:\n%s", kind, points)
		}
	}

	for i, line := range lines {
		for _, mode := range []string{"kill", "fail"} {
			n := i + 1
			name := fmt.Sprintf("%s@%d (%s)", mode, n, strings.SplitN(line, " ", 2)[1])
			dir := clone()
			out, code := faultRun(t, dir, []string{fmt.Sprintf("SELFEVALS_FAULT=%s@%d", mode, n)}, "run", "evals/experiments/pingpong.yaml")
			if code == 0 && mode == "kill" {
				t.Errorf("%s: the run survived its kill\n%s", name, out)
				continue
			}
			recover := []string{"run", "evals/experiments/pingpong.yaml"}
			if unfinished(t, dir) {
				recover = append(recover, "--resume")
			}
			if out, code := faultRun(t, dir, nil, recover...); code != 0 {
				t.Errorf("%s: recovery %v: exit %d\n%s", name, recover, code, out)
				continue
			}
			if diff := cmp.Diff(want, outcome(t, dir)); diff != "" {
				t.Errorf("%s: the outcome differs from an uninterrupted run's (-want +got):\n%s", name, diff)
			}
			if out, err := exec.Command("git", "-C", dir, "fsck", "--strict", "--no-progress").CombinedOutput(); err != nil || bytes.Contains(out, []byte("error")) {
				t.Errorf("%s: git fsck: %v\n%s", name, err, out)
			}
			if out, code := faultRun(t, dir, nil, "check"); code != 0 {
				t.Errorf("%s: check: exit %d\n%s", name, code, out)
			}
		}
	}
}
