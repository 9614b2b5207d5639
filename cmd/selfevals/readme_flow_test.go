package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// readmeSection returns the first ```sh block of the README section that
// starts with heading.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("README has no %q section", heading)
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	if !ok || strings.Index(section, "\n## ") < strings.Index(section, "```sh\n") {
		t.Fatalf("README's %q section has no sh block", heading)
	}
	block, _, _ = strings.Cut(block, "```\n")
	return block
}

// The README's "In your own repository" flow, run verbatim in an empty
// directory with the built binary on PATH and the real git: it ends with
// the adopted candidate's parameters committed on main, a clean status and
// a repository git fsck --strict accepts.
func TestReadmeOwnRepositoryFlow(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	script := readmeSection(t, "## In your own repository")
	dir := t.TempDir()
	cmd := exec.Command("bash", "-e", "-u", "-o", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"PATH="+filepath.Dir(selfevalsBin)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the README's flow failed: %v\n%s\n--- script\n%s", err, out, script)
	}
	repoDir := filepath.Join(dir, "my-agent")
	spec := git(t, repoDir, "show", "main:evals/experiments/pingpong.yaml")
	if !strings.Contains(spec, "  parameters:\n    model_params:\n      level: 1.0\n") {
		t.Errorf("main's spec does not hold the adopted parameters:\n%s\n--- output\n%s", spec, out)
	}
	summary := git(t, repoDir, "show", "main:evals/results/pingpong/summary.json")
	if !strings.Contains(summary, `"primary": 1,`) || !strings.Contains(summary, `"level": 1`) {
		t.Errorf("main's results are not the adopted candidate's:\n%s", summary)
	}
	if st := git(t, repoDir, "status", "--porcelain", "--untracked-files=all"); st != "" {
		t.Errorf("status is not clean:\n%s", st)
	}
	git(t, repoDir, "fsck", "--strict")
}
