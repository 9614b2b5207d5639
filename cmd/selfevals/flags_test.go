package main

import (
	"strings"
	"testing"
)

// Every --format takes markdown for md, and refuses an unknown format as a
// usage error naming the formats it takes.
func TestFormatMarkdownAlias(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gitInit(t, dir)
	runCLI(t, dir, "init")
	out, errOut, code := runCLI(t, dir, "run", "evals/experiments/pingpong.yaml", "--no-commit", "--format", "markdown")
	if code != 0 || !strings.HasPrefix(out, "# Experiment: pingpong") {
		t.Fatalf("run --format markdown: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runCLI(t, dir, "report", "pingpong", "--format", "markdown")
	if code != 0 || !strings.HasPrefix(out, "# Experiment: pingpong") {
		t.Errorf("report --format markdown: exit %d\n%s%s", code, out, errOut)
	}
	for _, args := range [][]string{
		{"run", "evals/experiments/pingpong.yaml"}, {"report", "pingpong"}, {"diff", "HEAD"}, {"regrade", "pingpong"},
	} {
		_, errOut, code := runCLI(t, dir, append(args, "--format", "xml")...)
		if code != 2 || !strings.Contains(errOut, `invalid argument "xml" for "--format" flag: must be md (or markdown)`) {
			t.Errorf("%s --format xml: exit %d\n%s", args[0], code, errOut)
		}
	}
}

// A count flag given as 0 (or less) is refused as a usage error; left out,
// it means the default.
func TestZeroCountsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runCLI(t, dir, "init")
	spec := "evals/experiments/pingpong.yaml"
	for _, args := range [][]string{
		{"run", spec, "--reps", "0"}, {"run", spec, "--parallel", "0"}, {"run", spec, "--max-iterations", "0"},
		{"run", spec, "--reps", "-2"}, {"estimate", spec, "--reps", "0"}, {"estimate", spec, "--max-iterations", "0"},
		{"estimate", spec, "--shard", "0"}, {"estimate", spec, "--parallel", "0"},
		{"regrade", "pingpong", "--parallel", "0"}, {"grader", "calibrate", "j", "--labels", "l.jsonl", "--parallel", "0"},
	} {
		flag := args[len(args)-2]
		_, errOut, code := runCLI(t, dir, args...)
		if code != 2 || !strings.Contains(errOut, `for "`+flag+`" flag: must be at least 1 (leave the flag out for the default)`) {
			t.Errorf("%v: exit %d\n%s", args, code, errOut)
		}
	}
	if out, errOut, code := runCLI(t, dir, "estimate", spec); code != 0 {
		t.Errorf("estimate without the flags: exit %d\n%s%s", code, out, errOut)
	}
}

// A required flag left out is a usage error.
func TestCalibrateWithoutLabels(t *testing.T) {
	t.Parallel()
	_, errOut, code := runCLI(t, "", "grader", "calibrate", "reply_judge")
	if code != 2 || !strings.Contains(errOut, `required flag(s) "labels" not set`) {
		t.Errorf("exit %d\n%s", code, errOut)
	}
}
