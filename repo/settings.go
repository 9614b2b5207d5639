package repo

import (
	"errors"
	"fmt"
	"io/fs"

	"gopkg.in/yaml.v3"
)

// Settings is evals/selfevals.yaml.
type Settings struct {
	Name     string           `yaml:"name,omitempty"`
	Defaults SettingsDefaults `yaml:"defaults,omitempty"`
	Results  SettingsResults  `yaml:"results,omitempty"`
}

// SettingsDefaults are used when a spec's run: block leaves a value unset.
type SettingsDefaults struct {
	Parallelism        int      `yaml:"parallelism,omitempty"`
	Timeout            Duration `yaml:"timeout,omitempty"`
	RepetitionsPerCase int      `yaml:"repetitions_per_case,omitempty"`
	Retries            *int     `yaml:"retries,omitempty"`
}

// SettingsResults says what happens to results.
type SettingsResults struct {
	// Commit kept candidates to selfevals/<slug> branches (default true).
	CommitCandidates *bool `yaml:"commit_candidates,omitempty"`
	// PersistTraces is the default for run.persist_traces.
	PersistTraces string `yaml:"persist_traces,omitempty"`
}

// DefaultParallelism is used when neither the spec nor the settings set one.
const DefaultParallelism = 8

// DefaultTimeout is the per-call timeout when none is set.
const DefaultTimeout = Duration(60_000_000_000)

// LoadSettings reads <dir>/selfevals.yaml; a missing file gives defaults.
func LoadSettings(dir string) (Settings, error) {
	return loadSettings(osFile(Dir(dir).Settings()))
}

// LoadSettingsFS is LoadSettings for the evals/ directory dir of fsys.
func LoadSettingsFS(fsys fs.FS, dir string) (Settings, error) {
	return loadSettings(fsFile(fsys, Dir(dir).Settings()))
}

func loadSettings(f file) (Settings, error) {
	var s Settings
	path := f.name
	data, err := f.read()
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, err
	}
	node, perr := parseYAML(path, data)
	if perr != nil {
		return s, perr
	}
	probs, _ := decodeLenient(path, node, &s, "") // a value left out is zero: no check below fires on it
	if s.Defaults.Parallelism < 0 {
		probs = append(probs, at(path, node, "defaults.parallelism", "must be >= 1", ""))
	}
	if s.Results.PersistTraces != "" && !oneOf(s.Results.PersistTraces, "none", "failed", "all") {
		probs = append(probs, at(path, node, "results.persist_traces", fmt.Sprintf("unknown value %q", s.Results.PersistTraces), "one of none, failed, all"))
	}
	probs.SortByLine()
	return s, probs.Err()
}

// parseYAML parses one YAML document, turning syntax errors into a
// positioned problem.
func parseYAML(path string, data []byte) (*yaml.Node, error) {
	if probs := CheckUTF8(path, data); probs != nil {
		return nil, probs
	}
	var node yaml.Node
	if err := yaml.Unmarshal(data, &node); err != nil {
		return nil, Problems{yamlSyntaxProblem(path, data, err)}
	}
	if node.Kind == 0 || len(node.Content) == 0 {
		return nil, Problems{{File: path, Line: 1, Col: 1, Msg: "the file is empty"}}
	}
	return &node, nil
}

func at(path string, root *yaml.Node, field, msg, hint string) Problem {
	p := Problem{File: path, Field: field, Msg: msg, Hint: hint}
	if k, _ := findNode(root, field); k != nil {
		p.Line, p.Col = k.Line, k.Column
	}
	return p
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}
