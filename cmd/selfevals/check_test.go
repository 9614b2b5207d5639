package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// check finds each kind of damage a crash or a hand can leave, says how to
// repair it, and is clean again once the repairs it names are made.
func TestCheckFindsDamageAndNamesTheRepair(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gitInit(t, dir)
	runCLI(t, dir, "init")
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-qm", "evals")
	if out, errOut, code := runCLI(t, dir, "run", "evals/experiments/pingpong.yaml"); code != 0 {
		t.Fatalf("run: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code := runCLI(t, dir, "check")
	if code != 0 || !strings.Contains(out, "evals/ is consistent: 1 run(s), 1 committed result(s), selfevals' refs checked.") {
		t.Fatalf("a fresh run: exit %d\n%s", code, out)
	}

	runDirs, _ := filepath.Glob(filepath.Join(dir, "evals/runs/pingpong/run_*"))
	run := runDirs[0]
	// A torn branch (a kill between truncate and write, as go-git did).
	branch := filepath.Join(dir, ".git/refs/heads/selfevals/pingpong")
	tip, _ := os.ReadFile(branch)
	os.WriteFile(branch, nil, 0o644)
	// A lock file a killed ref update left.
	os.WriteFile(filepath.Join(dir, ".git/refs/heads/selfevals/other.lock"), tip, 0o644)
	// Committed results written apart: cases.jsonl lost a line.
	cases := filepath.Join(dir, "evals/results/pingpong/cases.jsonl")
	data, _ := os.ReadFile(cases)
	lines := strings.SplitAfter(string(data), "\n")
	os.WriteFile(cases, []byte(strings.Join(lines[1:], "")), 0o644)
	// A damaged traces.parquet and a temporary file of an interrupted write.
	os.WriteFile(filepath.Join(run, "traces.parquet"), []byte("PAR1 not really"), 0o644)
	os.WriteFile(filepath.Join(run, ".summary.json.tmp-123"), nil, 0o644)
	// A run killed mid-way: run.json still says running.
	man, _ := os.ReadFile(filepath.Join(run, "run.json"))
	os.WriteFile(filepath.Join(run, "run.json"), []byte(strings.Replace(string(man), `"state": "completed"`, `"state": "running"`, 1)), 0o644)

	out, _, code = runCLI(t, dir, "check")
	if code != 1 {
		t.Fatalf("damaged: exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		"error: refs/heads/selfevals/pingpong: ref refs/heads/selfevals/pingpong is empty",
		"repair: restore it from its reflog: `rm \"$(git rev-parse --git-common-dir)/refs/heads/selfevals/pingpong\" && git update-ref refs/heads/selfevals/pingpong " + strings.TrimSpace(string(tip)) + "`",
		"error: refs/heads/selfevals/other: a lock file was left",
		"error: evals/results/pingpong: summary.json says 8 cases but cases.jsonl has 7",
		"repair: rerun the experiment (`selfevals run evals/experiments/pingpong.yaml`)",
		"traces.parquet: not a readable Parquet file",
		"warning: " + rel(t, dir, run) + ": the run was killed",
		"--resume",
		".summary.json.tmp-123: a temporary file left by a write that was interrupted",
		"4 error(s), 2 warning(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, out)
		}
	}
	if out, _, _ := runCLI(t, dir, "check", "--format", "json"); !strings.Contains(out, `"severity": "error"`) || !strings.Contains(out, `"repair": `) {
		t.Errorf("json:\n%s", out)
	}

	// The repairs it names make it clean again.
	sh := exec.Command("sh", "-c", `rm "$(git rev-parse --git-common-dir)/refs/heads/selfevals/pingpong" && git update-ref refs/heads/selfevals/pingpong `+strings.TrimSpace(string(tip)))
	sh.Dir = dir
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the repair check named: %v\n%s", err, out)
	}
	os.Remove(filepath.Join(dir, ".git/refs/heads/selfevals/other.lock"))
	os.Remove(filepath.Join(run, "traces.parquet"))
	os.Remove(filepath.Join(run, ".summary.json.tmp-123"))
	os.RemoveAll(run)
	if out, errOut, code := runCLI(t, dir, "run", "evals/experiments/pingpong.yaml"); code != 0 {
		t.Fatalf("rerun: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, code := runCLI(t, dir, "check"); code != 0 || !strings.Contains(out, "consistent") {
		t.Errorf("after the repairs: exit %d\n%s", code, out)
	}
	git(t, dir, "fsck", "--strict")
}

func rel(t *testing.T, root, p string) string {
	t.Helper()
	r, err := filepath.Rel(root, p)
	if err != nil {
		t.Fatal(err)
	}
	return filepath.ToSlash(r)
}
