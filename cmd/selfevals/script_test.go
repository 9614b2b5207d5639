package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

var updateScripts = flag.Bool("update-scripts", false, "rewrite the expected output in testdata/script/*.txtar")

// TestScripts runs the transcripts in testdata/script: each runs the built
// selfevals binary in a fresh directory and checks its output and exit
// status (cmp for exact output, stdout/stderr for patterns where times and
// run IDs vary).
func TestScripts(t *testing.T) {
	t.Parallel()
	testscript.Run(t, testscript.Params{
		Dir:           "testdata/script",
		UpdateScripts: *updateScripts,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PATH", filepath.Dir(selfevalsBin)+string(os.PathListSeparator)+env.Getenv("PATH"))
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("NO_COLOR", "1")
			for _, k := range []string{"GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"} {
				env.Setenv(k, "Test")
			}
			for _, k := range []string{"GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL"} {
				env.Setenv(k, "test@example.com")
			}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){"grab": grabID},
	})
}

// grabID is the script command `grab VAR prefix`: it sets $VAR to the
// first ID with that prefix (run_, itr_, …) in the last command's stdout,
// so a script can pass an ID it was just shown to the next command.
func grabID(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: grab VAR prefix")
	}
	id := regexp.MustCompile(regexp.QuoteMeta(args[1]) + `[0-9a-f]{16}`).FindString(ts.ReadFile("stdout"))
	if id == "" {
		ts.Fatalf("no %s… ID in stdout", args[1])
	}
	ts.Setenv(args[0], id)
}
