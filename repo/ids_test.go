package repo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The same case written with keys in another order, other whitespace, in
// YAML or in JSONL, gets the same ID; a changed value gets another.
func TestCaseIDIsContentHash(t *testing.T) {
	lines := []string{
		`{"name":"refund","input":{"text":"hi","n":1},"expected":{"must_include":["refund"]}}`,
		`{ "expected" : { "must_include" : [ "refund" ] },  "input":{"n":1.0,"text":"hi"}, "name":"refund" }`,
		`{"input":{"text":"hi","n":1},"name":"refund","expected":{"must_include":["refund"]},"holdout":false}`,
	}
	var ids []string
	for i, l := range lines {
		c, probs := DecodeCaseJSON("d.jsonl", i+1, []byte(l))
		if probs != nil {
			t.Fatalf("line %d: %v", i+1, probs)
		}
		ids = append(ids, c.ID)
	}
	yamlDoc := "name: refund\nexpected:\n  must_include: [refund]\ninput:\n  n: 1\n  text: hi\n"
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(yamlDoc), &node); err != nil {
		t.Fatal(err)
	}
	c, probs := DecodeCaseNode("spec.yaml", node.Content[0], "dataset.cases_inline[0]")
	if probs != nil {
		t.Fatal(probs)
	}
	ids = append(ids, c.ID)
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Fatalf("IDs differ: %v", ids)
		}
	}
	if len(ids[0]) != len("case_")+16 {
		t.Errorf("ID %q is not case_ + 16 hex digits", ids[0])
	}
	changed, _ := DecodeCaseJSON("d.jsonl", 1, []byte(`{"name":"refund","input":{"text":"hi","n":2},"expected":{"must_include":["refund"]}}`))
	if changed.ID == ids[0] {
		t.Errorf("a changed value kept the ID %s", changed.ID)
	}
	explicit, _ := DecodeCaseJSON("d.jsonl", 1, []byte(`{"id":"refund-1","input":{"text":"hi"}}`))
	if explicit.ID != "refund-1" {
		t.Errorf("explicit id rewritten to %s", explicit.ID)
	}
}

func TestDatasetIDIgnoresOrder(t *testing.T) {
	if DatasetID([]string{"case_b", "case_a"}) != DatasetID([]string{"case_a", "case_b"}) {
		t.Error("dataset ID depends on case order")
	}
	if DatasetID([]string{"case_a"}) == DatasetID([]string{"case_a", "case_b"}) {
		t.Error("dataset ID ignores a case")
	}
}

func TestParametersID(t *testing.T) {
	a := Parameters{"model_params": map[string]any{"temperature": 0.3, "top_p": int64(1)}}
	b := Parameters{"model_params": map[string]any{"top_p": 1.0, "temperature": 0.3}}
	if a.ID() != b.ID() {
		t.Errorf("%s != %s", a.ID(), b.ID())
	}
	c := Parameters{"model_params": map[string]any{"temperature": 0.7}}
	if a.ID() == c.ID() {
		t.Error("different parameters share an ID")
	}
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestDatasetIDIsCanonicalHash(t *testing.T) {
	ids := []string{"case_b", "x\"y", "case_a", "é"}
	want, err := HashID("ds", []string{"case_a", "case_b", "x\"y", "é"})
	if err != nil {
		t.Fatal(err)
	}
	if got := DatasetID(ids); got != want {
		t.Errorf("DatasetID = %s, want %s", got, want)
	}
}

// The hand-written request encoding means the same as encoding the struct.
func TestRequestAppendJSON(t *testing.T) {
	thread := "t-1"
	for _, req := range []*Request{
		{CaseID: "case_1", Input: []byte(`{"text":"hé \"quoted\"\n"}`), Parameters: Parameters{"model_params": map[string]any{"t": 0.5}},
			Metadata: RequestMetadata{Experiment: "x", Iteration: 2, Repetition: 1, RunID: "run_1", Taxonomy: &CaseTaxonomy{Level: "final_response"}}},
		{CaseID: "id with \"quotes\" é", Input: []byte("{\n  \"a\": 1\n}"), Context: []byte(`{"k":[1,2]}`), Metadata: RequestMetadata{ThreadID: &thread}},
	} {
		got, err := req.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		if got[len(got)-1] != '\n' || strings.Count(string(got), "\n") != 1 {
			t.Errorf("not one line: %q", got)
		}
		want, _ := Canonical(req)
		if req.Parameters == nil {
			want, _ = CanonicalizeJSON([]byte(strings.Replace(string(want), `"parameters":null`, `"parameters":{}`, 1)))
		}
		canon, err := CanonicalizeJSON(got)
		if err != nil {
			t.Fatalf("%s: %v", got, err)
		}
		if string(canon) != string(want) {
			t.Errorf("AppendJSON\n%s\nmeans\n%s\nwant\n%s", got, canon, want)
		}
		req.ParamsJSON = []byte(`{"cached":true}`)
		if got, _ := req.AppendJSON(nil); !strings.Contains(string(got), `"parameters":{"cached":true}`) {
			t.Errorf("ParamsJSON not used: %s", got)
		}
	}
}

func BenchmarkCanonicalizeJSON(b *testing.B) {
	in := []byte(`{"text":"ping tok123","messages":[{"role":"user","content":"hello there"}],"n":12,"x":1.5}`)
	for b.Loop() {
		if _, err := CanonicalizeJSON(in); err != nil {
			b.Fatal(err)
		}
	}
}
