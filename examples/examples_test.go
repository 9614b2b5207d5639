package examples

import (
	"strings"
	"testing"
)

// Every example has a unique name, its spec and a dataset under evals/,
// and, when it ships an agent, a README beside it.
func TestExamplesAreComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range All() {
		if seen[e.Name] {
			t.Errorf("two examples are called %s", e.Name)
		}
		seen[e.Name] = true
		files, err := e.Files()
		if err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		has := map[string]bool{}
		agentFiles := 0
		for _, f := range files {
			has[f.Path] = true
			if strings.HasPrefix(f.Path, "agents/") {
				agentFiles++
				if !strings.HasPrefix(f.Path, "agents/"+e.Name+"/") {
					t.Errorf("%s: %s is not under agents/%s/", e.Name, f.Path, e.Name)
				}
			}
		}
		if !has[e.Spec()] || !has["evals/datasets/"+e.Name+".jsonl"] {
			t.Errorf("%s: want %s and evals/datasets/%s.jsonl, have %v", e.Name, e.Spec(), e.Name, has)
		}
		if agentFiles > 0 && !has["agents/"+e.Name+"/README.md"] {
			t.Errorf("%s: an agent without agents/%s/README.md", e.Name, e.Name)
		}
		if (e.Agent == "http" || e.Agent == "openai") && e.Start == "" {
			t.Errorf("%s: a %s agent needs its server started; say how in Start", e.Name, e.Agent)
		}
	}
}
