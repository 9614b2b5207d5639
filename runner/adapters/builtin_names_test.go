package adapters

import (
	"slices"
	"sort"
	"testing"

	"github.com/selfevals/selfevals/repo"
)

// The spec loader accepts exactly the built-in agents that exist: a name it
// lists must run, and an agent compiled in must be accepted.
func TestBuiltinAgentNamesMatchTheLoader(t *testing.T) {
	var compiled []string
	for name := range builtinAgents {
		compiled = append(compiled, name)
	}
	sort.Strings(compiled)
	accepted := slices.Clone(repo.BuiltinAgents)
	sort.Strings(accepted)
	if !slices.Equal(compiled, accepted) {
		t.Errorf("compiled-in agents %v, the loader accepts %v", compiled, accepted)
	}
	for _, name := range repo.BuiltinAgents {
		if _, err := NewBuiltin(name); err != nil {
			t.Errorf("NewBuiltin(%q): %v", name, err)
		}
	}
}
