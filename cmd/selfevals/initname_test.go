package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// init names the workspace after the repository's directory, quoting a
// name YAML would misread, and the settings still load.
func TestInitNamesTheWorkspace(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ dir, want string }{
		{"support-bot", "name: support-bot\n"},
		{"my bot: v2", `name: 'my bot: v2'` + "\n"},
		{"001", `name: "001"` + "\n"},
	} {
		dir := filepath.Join(t.TempDir(), c.dir)
		os.Mkdir(dir, 0o755)
		if _, errOut, code := runCLI(t, dir, "init"); code != 0 {
			t.Fatalf("init: exit %d\n%s", code, errOut)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "evals/selfevals.yaml"))
		if !strings.Contains(string(b), "\n"+c.want) || strings.Contains(string(b), "name: selfevals") {
			t.Errorf("%s: settings\n%s", c.dir, b)
		}
		if _, errOut, code := runCLI(t, dir, "validate", "evals/selfevals.yaml"); code != 0 {
			t.Errorf("%s: the settings do not validate: %s", c.dir, errOut)
		}
		if _, errOut, code := runCLI(t, dir, "init"); code != 0 {
			t.Errorf("%s: init again: exit %d\n%s", c.dir, code, errOut)
		}
		if again, _ := os.ReadFile(filepath.Join(dir, "evals/selfevals.yaml")); string(again) != string(b) {
			t.Errorf("%s: init again changed the settings", c.dir)
		}
	}
}

// The binary, run in the repository as people run it, names the workspace
// after that directory too.
func TestInitBinaryNamesTheWorkspace(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "support-bot")
	os.Mkdir(dir, 0o755)
	if out, err := selfevals(dir, "init").CombinedOutput(); err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "evals/selfevals.yaml")); !strings.Contains(string(b), "\nname: support-bot\n") {
		t.Errorf("settings:\n%s", b)
	}
}
