package main

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// docs/commands.md is what the commands' --help say now: a command or flag
// added, removed or reworded without regenerating it fails here.
func TestCommandReferenceUpToDate(t *testing.T) {
	t.Parallel()
	const path = "../../docs/commands.md"
	committed, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(committed), string(commandReference())); diff != "" {
		t.Errorf("docs/commands.md is out of date; run go generate ./cmd/selfevals (-committed +generated):\n%s", diff)
	}
}

// Every visible command is in the reference, and says how to use it with
// an example; the hidden generator is not.
func TestCommandReferenceCoversEveryCommand(t *testing.T) {
	t.Parallel()
	ref := string(commandReference())
	root := newRootCmd(&IOStreams{}, &Env{Vars: map[string]string{}})
	for _, c := range visibleCommands(root) {
		if !strings.Contains(ref, "\n## "+c.CommandPath()+"\n") {
			t.Errorf("no section for %s", c.CommandPath())
		}
		if c.Runnable() && c.Example == "" && !strings.HasPrefix(c.CommandPath(), "selfevals completion") {
			t.Errorf("%s has no Example", c.CommandPath())
		}
	}
	if strings.Contains(ref, "commands-reference") {
		t.Error("the hidden generator is in the reference")
	}
}
