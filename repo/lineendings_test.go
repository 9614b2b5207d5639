package repo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A checkout with core.autocrlf=true has CRLF where the commit has LF: the
// spec's and the dataset's IDs must not depend on it.
func TestIDsIgnoreLineEndings(t *testing.T) {
	t.Parallel()
	spec := `# a comment
experiment:
  name: crlf
  goal: |
    two lines
    of goal
  target:
    primary: {name: pass@1, operator: ">=", value: 0.5}
  parameters:
    prompt: |
      Answer briefly.
      Say pong.
dataset:
  cases_path: ../datasets/d.jsonl
agent:
  builtin: pingpong
`
	dataset := `{"name":"a","input":{"text":"ping"},"expected":{"must_include":["pong"]}}
// a comment line
{"input":{"text":"ping twice"},"expected":{"must_include":["pong"]}}
`
	load := func(eol string) *LoadedSpec {
		root := t.TempDir()
		for p, c := range map[string]string{"evals/experiments/x.yaml": spec, "evals/datasets/d.jsonl": dataset} {
			full := filepath.Join(root, p)
			os.MkdirAll(filepath.Dir(full), 0o755)
			if err := os.WriteFile(full, []byte(strings.ReplaceAll(c, "\n", eol)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		ls, err := LoadExperiment(filepath.Join(root, "evals/experiments/x.yaml"), LoadOptions{Root: root})
		if err != nil {
			t.Fatalf("%q: %v", eol, err)
		}
		return ls
	}
	lf, crlf := load("\n"), load("\r\n")
	if lf.ID != crlf.ID || lf.Dataset.ID != crlf.Dataset.ID {
		t.Errorf("LF: %s %s, CRLF: %s %s", lf.ID, lf.Dataset.ID, crlf.ID, crlf.Dataset.ID)
	}
	if a, b := lf.Spec.Experiment.Parameters.ID(), crlf.Spec.Experiment.Parameters.ID(); a != b {
		t.Errorf("parameters: LF %s, CRLF %s", a, b)
	}
}
