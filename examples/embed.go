// Package examples holds the runnable examples `selfevals examples` lists
// and copies into a repository: one directory per example, laid out as the
// repository it goes into (evals/… under the evals/ directory, agents/…
// beside it). hello and pingpong are this project's own experiments, from
// package evals.
//
// sharding/ is not one of them: it holds the GitHub Actions and Kubernetes
// templates for sharded runs (run --shard, merge), which users copy from
// the source tree; sharding_test.go checks the manifests.
package examples

import (
	"embed"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/selfevals/selfevals/evals"
)

//go:embed python-command http-agent openai-endpoint
var tree embed.FS

// Example is one runnable example.
type Example struct {
	Name  string
	Agent string // the agent kind: builtin, command, http or openai
	// Summary is one line on what it shows.
	Summary string
	// Start is the step to take before selfevals run, if any (a server to
	// start), as a shell command run from the repository root.
	Start string
	files func() ([]File, error)
}

// File is one file of an example.
type File struct {
	// Path is slash-separated: evals/… goes under the evals/ directory,
	// anything else under the repository root.
	Path string
	Data []byte
	// Optional files (the evals/.gitignore) are written only when missing.
	Optional bool
}

// Spec is the example's experiment spec, as Files names it.
func (e Example) Spec() string { return "evals/experiments/" + e.Name + ".yaml" }

// Files are the example's files in the order they are written.
func (e Example) Files() ([]File, error) {
	files, err := e.files()
	if err != nil {
		return nil, err
	}
	ignore, err := fs.ReadFile(evals.Starter, ".gitignore")
	if err != nil {
		return nil, err
	}
	return append(files, File{Path: "evals/.gitignore", Data: ignore, Optional: true}), nil
}

// All lists the examples, builtin ones first.
func All() []Example {
	return []Example{
		{Name: "pingpong", Agent: "builtin", Summary: "the smallest loop: a built-in agent, a two-value grid, a kept candidate",
			files: fromFS(evals.Starter, "experiments/pingpong.yaml", "datasets/pingpong.jsonl")},
		{Name: "hello", Agent: "builtin", Summary: "structured output, a JSON Schema and an LLM judge (the built-in fake judge) with a calibrated card",
			files: fromFS(evals.Hello, "experiments/hello.yaml", "datasets/hello.jsonl", "graders/reply_judge.yaml", "graders/reply_judge.labels.jsonl")},
		{Name: "python-command", Agent: "command", Summary: "a Python script per call on stdin/stdout, reporting usage and cost; a cost guardrail",
			files: fromTree("python-command")},
		{Name: "http-agent", Agent: "http", Summary: "a Python HTTP server as the agent, reporting tool calls graded by required_tools",
			Start: "python3 agents/http-agent/server.py &", files: fromTree("http-agent")},
		{Name: "openai-endpoint", Agent: "openai", Summary: "an OpenAI-compatible endpoint (a stand-in server; swap in vLLM or Ollama), sweeping temperature",
			Start: "python3 agents/openai-endpoint/fake_openai.py &", files: fromTree("openai-endpoint")},
	}
}

// Find is the example called name.
func Find(name string) (Example, bool) {
	for _, e := range All() {
		if e.Name == name {
			return e, true
		}
	}
	return Example{}, false
}

// Names are the examples' names, in All's order.
func Names() []string {
	var out []string
	for _, e := range All() {
		out = append(out, e.Name)
	}
	return out
}

// fromFS reads the named files of an evals/ tree.
func fromFS(fsys fs.FS, names ...string) func() ([]File, error) {
	return func() ([]File, error) {
		var out []File
		for _, n := range names {
			data, err := fs.ReadFile(fsys, n)
			if err != nil {
				return nil, err
			}
			out = append(out, File{Path: path.Join("evals", n), Data: data})
		}
		return out, nil
	}
}

// fromTree reads every file of an example directory, evals/ first.
func fromTree(dir string) func() ([]File, error) {
	return func() ([]File, error) {
		var out []File
		err := fs.WalkDir(tree, dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := fs.ReadFile(tree, p)
			out = append(out, File{Path: strings.TrimPrefix(p, dir+"/"), Data: data})
			return err
		})
		sort.SliceStable(out, func(i, j int) bool {
			return strings.HasPrefix(out[i].Path, "evals/") && !strings.HasPrefix(out[j].Path, "evals/")
		})
		return out, err
	}
}
