package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// exitCode runs cmd and returns its combined output and exit status.
func exitCode(t *testing.T, cmd *exec.Cmd) (string, int) {
	t.Helper()
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	}
	t.Fatalf("%v: %v", cmd.Args, err)
	return "", 0
}

// adoptableRepo commits the thresholds experiment on main and runs it:
// selfevals/thresholds then holds two kept candidates (levels 0.4 and 1.0).
func adoptableRepo(t *testing.T) (dir, spec string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dir = t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	spec = fmt.Sprintf(thresholdSpec, countAgentBin)
	writeTree(t, dir, map[string]string{
		"evals/experiments/thresholds.yaml": spec,
		"evals/datasets/t.jsonl":            `{"name":"low","input":{"threshold":0.1},"expected":{"must_include":["pong"]}}` + "\n" + `{"name":"mid","input":{"threshold":0.3},"expected":{"must_include":["pong"]}}` + "\n" + `{"name":"high","input":{"threshold":0.9},"expected":{"must_include":["pong"]}}` + "\n",
		"evals/.gitignore":                  "runs/\n.cache/\n",
	})
	git(t, dir, "add", ".")
	git(t, dir, "commit", "-q", "-m", "initial")
	if out, err := selfevals(dir, "run", "evals/experiments/thresholds.yaml").CombinedOutput(); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	return dir, spec
}

// adopt writes the best candidate's parameters into the spec (nothing else
// in it changes) and its results into evals/results; committing that
// leaves a clean tree with the candidate's parameters on main.
func TestAdoptBestCandidate(t *testing.T) {
	t.Parallel()
	dir, spec := adoptableRepo(t)
	out, code := exitCode(t, selfevals(dir, "adopt", "thresholds"))
	if code != 0 || !strings.Contains(out, "(iteration 2 of run_") || !strings.Contains(out, "pass@1 1") {
		t.Fatalf("adopt: exit %d\n%s", code, out)
	}
	adopted, _ := os.ReadFile(filepath.Join(dir, "evals/experiments/thresholds.yaml"))
	if !strings.Contains(string(adopted), "  parameters:\n    model_params:\n      level: 1.0\n") {
		t.Errorf("adopted spec:\n%s", adopted)
	}
	if withoutParameters(string(adopted)) != withoutParameters(spec) {
		t.Errorf("adopt changed more than parameters:\n%s", adopted)
	}
	summary, _ := os.ReadFile(filepath.Join(dir, "evals/results/thresholds/summary.json"))
	if want := git(t, dir, "show", "selfevals/thresholds:evals/results/thresholds/summary.json"); string(summary) != want {
		t.Errorf("summary.json is not the candidate's:\n%s\nwant\n%s", summary, want)
	}
	if st := git(t, dir, "status", "--porcelain"); st != " M evals/experiments/thresholds.yaml\n?? evals/results/\n" {
		t.Errorf("adopt touched more than the spec and the results:\n%s", st)
	}
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "adopt")
	if st := git(t, dir, "status", "--porcelain"); st != "" {
		t.Errorf("status after commit:\n%s", st)
	}
	git(t, dir, "fsck", "--strict")
	if got := git(t, dir, "show", "main:evals/experiments/thresholds.yaml"); !strings.Contains(got, "level: 1.0") {
		t.Errorf("main's spec:\n%s", got)
	}

	// A named candidate: iteration 1 of the newest run, or a commit prefix.
	out, code = exitCode(t, selfevals(dir, "adopt", "thresholds", "1"))
	if adopted, _ = os.ReadFile(filepath.Join(dir, "evals/experiments/thresholds.yaml")); code != 0 || !strings.Contains(string(adopted), "level: 0.4") {
		t.Errorf("adopt iteration 1: exit %d\n%s\n%s", code, out, adopted)
	}
	git(t, dir, "checkout", "-q", "--", ".")
	prefix := strings.TrimSpace(git(t, dir, "rev-parse", "--short=8", "selfevals/thresholds"))
	if out, code = exitCode(t, selfevals(dir, "adopt", "thresholds", prefix)); code != 0 || !strings.Contains(out, "iteration 2") {
		t.Errorf("adopt %s: exit %d\n%s", prefix, code, out)
	}
	// Any revision whose commit is a candidate: another branch, a kept ref.
	git(t, dir, "checkout", "-q", "--", ".")
	git(t, dir, "branch", "elsewhere", "selfevals/thresholds~1")
	if out, code = exitCode(t, selfevals(dir, "adopt", "thresholds", "elsewhere")); code != 0 || !strings.Contains(out, "iteration 1") {
		t.Errorf("adopt elsewhere: exit %d\n%s", code, out)
	}
}

// Unknown experiments and candidates, and a spec with uncommitted changes,
// are user errors (exit 2) that change nothing.
func TestAdoptErrors(t *testing.T) {
	t.Parallel()
	dir, _ := adoptableRepo(t)
	before := git(t, dir, "status", "--porcelain")
	// The tip's first three hex digits: an abbreviated hash too short to
	// name it, or (all digits) an iteration that does not exist; "7" is
	// also an iteration, whatever hash starts with 7.
	short := strings.TrimSpace(git(t, dir, "rev-parse", "selfevals/thresholds"))[:3]
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"adopt", "nosuch"}, `no experiment "nosuch"`},
		{[]string{"adopt", "thresholds", "deadbeef"}, `no candidate "deadbeef" on selfevals/thresholds`},
		{[]string{"adopt", "thresholds", "7"}, `no candidate "7"`},
		{[]string{"adopt", "thresholds", "main"}, `no candidate "main"`},
		{[]string{"adopt", "thresholds", short}, `no candidate "` + short + `"`},
	} {
		out, code := exitCode(t, selfevals(dir, c.args...))
		if code != 2 || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d, want 2 and %q:\n%s", c.args, code, c.want, out)
		}
	}
	if after := git(t, dir, "status", "--porcelain"); after != before {
		t.Errorf("a failed adopt changed the tree:\n%s", after)
	}
	specPath := filepath.Join(dir, "evals/experiments/thresholds.yaml")
	spec, _ := os.ReadFile(specPath)
	edited := strings.Replace(string(spec), "goal: find", "goal: really find", 1)
	os.WriteFile(specPath, []byte(edited), 0o644)
	out, code := exitCode(t, selfevals(dir, "adopt", "thresholds"))
	if code != 2 || !strings.Contains(out, "evals/experiments/thresholds.yaml has uncommitted changes") {
		t.Errorf("dirty spec: exit %d\n%s", code, out)
	}
	if now, _ := os.ReadFile(specPath); string(now) != edited {
		t.Error("adopt wrote a dirty spec")
	}

	// No branch at all.
	other := t.TempDir()
	git(t, other, "init", "-q")
	writeTree(t, other, map[string]string{"evals/experiments/thresholds.yaml": string(spec)})
	git(t, other, "add", ".")
	git(t, other, "commit", "-q", "-m", "x")
	if out, code := exitCode(t, selfevals(other, "adopt", "thresholds")); code != 2 || !strings.Contains(out, "no candidates for thresholds") {
		t.Errorf("no branch: exit %d\n%s", code, out)
	}
}
