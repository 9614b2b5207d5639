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
