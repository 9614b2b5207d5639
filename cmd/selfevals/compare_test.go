package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// iterationIDs runs an experiment and returns its iterations' IDs.
func iterationIDs(t *testing.T, dir, spec string) []string {
	t.Helper()
	out, errOut, code := runCLI(t, dir, "run", spec, "--no-commit", "--format", "json")
	if code != 0 {
		t.Fatalf("run %s: exit %d\n%s", spec, code, errOut)
	}
	var rs struct {
		Iterations []struct {
			ID string `json:"id"`
		} `json:"iterations"`
	}
	if err := json.Unmarshal([]byte(out), &rs); err != nil || len(rs.Iterations) == 0 {
		t.Fatalf("run %s: %v\n%s", spec, err, out)
	}
	var ids []string
	for _, it := range rs.Iterations {
		ids = append(ids, it.ID)
	}
	return ids
}

// compare of two iterations of one experiment has no warning; across
// experiments it warns, on stderr and in the report.
func TestCompareAcrossExperimentsWarns(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	runCLI(t, dir, "init")
	spec, _ := os.ReadFile(filepath.Join(dir, "evals/experiments/pingpong.yaml"))
	os.WriteFile(filepath.Join(dir, "evals/experiments/other.yaml"), []byte(strings.Replace(string(spec), "name: pingpong baseline", "name: other", 1)), 0o644)
	a := iterationIDs(t, dir, "evals/experiments/pingpong.yaml")
	b := iterationIDs(t, dir, "evals/experiments/other.yaml")

	out, errOut, code := runCLI(t, dir, "compare", a[0], a[1])
	if code != 0 || strings.Contains(out+errOut, "arning") {
		t.Errorf("same experiment: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runCLI(t, dir, "compare", a[0], b[1])
	const want = "A and B are iterations of different experiments (pingpong and other)"
	if code != 0 || !strings.Contains(errOut, "warning: "+want) || !strings.Contains(out, "> **Warning:** "+want) {
		t.Errorf("different experiments: exit %d\n%s%s", code, out, errOut)
	}
}
