package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fence matches a fenced block of README.md: its language and its text.
var fence = regexp.MustCompile("(?ms)^```([a-z]*)\n(.*?)^```$")

// readmeBlock is the README's fenced block in lang whose text contains
// marker.
func readmeBlock(t *testing.T, readme, lang, marker string) string {
	t.Helper()
	for _, m := range fence.FindAllStringSubmatch(readme, -1) {
		if m[1] == lang && strings.Contains(m[2], marker) {
			return m[2]
		}
	}
	t.Fatalf("README.md has no ```%s block with %q", lang, marker)
	return ""
}

// The README's 20-line agents, in Python and in Node, run with its spec
// and cases under the built binary: "plain" fails the cases, "shout"
// passes them, and the usage and cost they report are observed.
func TestReadmeAgentsRun(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	spec := readmeBlock(t, readme, "yaml", "# evals/experiments/shout.yaml")
	cases := readmeBlock(t, readme, "jsonl", `"input"`)
	agents := []struct{ interpreter, file, lang, marker string }{
		{"python3", "agents/agent.py", "python", "# agents/agent.py:"},
		{"node", "agents/agent.js", "js", "// agents/agent.js:"},
	}
	for _, a := range agents {
		source := readmeBlock(t, readme, a.lang, a.marker)
		if n := strings.Count(strings.TrimSpace(source), "\n") + 1; n > 20 {
			t.Errorf("the README's %s agent has %d lines; it promises 20", a.lang, n)
		}
		t.Run(a.interpreter, func(t *testing.T) {
			t.Parallel()
			if _, err := exec.LookPath(a.interpreter); err != nil {
				t.Skip(a.interpreter + " not installed")
			}
			dir := t.TempDir()
			gitInit(t, dir)
			command := "command: [" + a.interpreter + ", " + a.file + "]"
			if !strings.Contains(spec, "command: [python3, agents/agent.py]") {
				t.Fatal("the README's spec no longer runs agents/agent.py with python3")
			}
			writeFiles(t, dir, map[string]string{
				"evals/experiments/shout.yaml": strings.Replace(spec, "command: [python3, agents/agent.py]", command, 1),
				"evals/datasets/shout.jsonl":   cases,
				a.file:                         source,
			})
			checkShoutRun(t, runBin(t, dir, "run", "evals/experiments/shout.yaml", "--format", "json", "--no-commit"))
		})
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// checkShoutRun checks the JSON report of the README's experiment.
func checkShoutRun(t *testing.T, out string) {
	t.Helper()
	type metric struct {
		Value *float64 `json:"value"`
	}
	var report struct {
		Run struct {
			State string `json:"state"`
		} `json:"run"`
		Iterations []struct {
			Parameters map[string]any    `json:"parameters"`
			Metrics    map[string]metric `json:"metrics"`
			Errors     int               `json:"errors"`
		} `json:"iterations"`
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if report.Run.State != "completed" || len(report.Iterations) != 2 {
		t.Fatalf("state %s with %d iterations; want completed with 2\n%s", report.Run.State, len(report.Iterations), out)
	}
	for i, want := range []float64{0, 1} {
		it := report.Iterations[i]
		if p := it.Metrics["pass@1"].Value; p == nil || *p != want || it.Errors != 0 {
			t.Errorf("iteration %d (%v): pass@1 %v, %d errors; want %v, 0", i, it.Parameters, p, it.Errors, want)
		}
		if tokens := it.Metrics["tokens_input_total"].Value; tokens == nil || *tokens != 4 {
			t.Errorf("iteration %d: tokens_input_total %v; want the 4 words the agent reported", i, tokens)
		}
		if cost := it.Metrics["cost_usd_total"].Value; cost == nil || *cost != 0 {
			t.Errorf("iteration %d: cost_usd_total %v; want a reported 0", i, cost)
		}
	}
}
