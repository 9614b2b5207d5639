package repo

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeCaseJSON: no JSONL line makes the case decoder panic, and a
// decoded case always has an ID.
func FuzzDecodeCaseJSON(f *testing.F) {
	for _, s := range []string{
		`{"input":{"text":"hi"}}`,
		`{"name":"x","input":{"messages":[{"role":"user","content":"ping"}]},"expected":{"must_include":["pong"],"regex":"po+ng","output_schema":{"type":"object"}}}`,
		`{"input":1,"thread_id":"t","thread_position":-1}`,
		`{"input":{},"expectd":{}}`,
		`{"input": {"text": "broken"`,
		`[1,2,3]`,
		`{"input":{"a":1e400}}`,
		`{"input":{},"taxonomy":{"source":{"type":"production"}}}`,
		`{"input":{},"metadata":{"approved_raw_at":"not a time"}}`,
		"{\"input\":\"\\ud800\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		c, probs := DecodeCaseJSON("fuzz.jsonl", 1, line)
		if probs == nil && (c == nil || c.ID == "") {
			t.Fatalf("no problems but no case ID for %q", line)
		}
		if probs != nil && c != nil {
			t.Fatalf("both a case and problems for %q", line)
		}
	})
}

// FuzzLoadExperiment: no spec file makes the loader panic.
func FuzzLoadExperiment(f *testing.F) {
	f.Add([]byte(goodSpec))
	f.Add([]byte(mustReadF(f, "testdata/reference/evals/experiments/example_pingpong.yaml")))
	f.Add([]byte(mustReadF(f, "../evals/experiments/pingpong.yaml")))
	f.Add([]byte("experiment: [1, 2]\n"))
	f.Add([]byte("experiment:\n  name: &a x\n  goal: *a\n  target: {primary: {name: pass@1, operator: '>=', value: .5}}\ndataset: {cases_inline: [{input: {a: 1}}]}\nagent: {builtin: echo}\n"))
	f.Add([]byte("a: b: c"))
	f.Add([]byte("experiment: {name: x, goal: y, parameters: &p {model_params: [*p]}}\n"))
	f.Add([]byte("dataset: {cases_inline: &c [*c]}\n"))
	f.Add([]byte("experiment:\n  search_space: {model_params: {t: {min: x}}}\n"))
	f.Fuzz(func(t *testing.T, spec []byte) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "evals/experiments"), 0o755); err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Join(dir, "evals/datasets"), 0o755)
		os.WriteFile(filepath.Join(dir, "evals/datasets/d.jsonl"), []byte(`{"input":{"text":"a"}}`+"\n"), 0o644)
		path := filepath.Join(dir, "evals/experiments/x.yaml")
		if err := os.WriteFile(path, spec, 0o644); err != nil {
			t.Fatal(err)
		}
		ls, err := LoadExperiment(path, LoadOptions{Root: dir})
		if err == nil && (ls.ID == "" || ls.Dataset == nil) {
			t.Fatal("loaded without an ID or dataset")
		}
	})
}

func mustReadF(f *testing.F, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	return string(b)
}
