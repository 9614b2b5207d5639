package repo

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

func TestRewriteParameters(t *testing.T) {
	t.Parallel()
	temp03 := Parameters{"model_params": map[string]any{"temperature": 0.3}}
	for _, tc := range []struct {
		name   string
		spec   string
		params Parameters
		want   string
	}{
		{
			name: "existing block replaced",
			spec: `# Demo experiment.
experiment:
  name: demo   # shown in reports
  goal: answer support mail
  editable:
    prompt: true
  # The adopted configuration.
  parameters:
    model_params:
      temperature: 0.7   # old
      max_tokens: 100
  # What the proposer may try.
  search_space:
    model_params:
      temperature: [0.1, 0.3]
dataset: {cases_path: ../datasets/demo.jsonl}
`,
			params: Parameters{
				"prompt_variables": map[string]any{"tone": "warm", "sign_off": "Best,\nThe team"},
				"model_params":     map[string]any{"top_p": 1.0, "temperature": 0.3, "stop": []any{"\n\n", "END"}},
			},
			want: `# Demo experiment.
experiment:
  name: demo   # shown in reports
  goal: answer support mail
  editable:
    prompt: true
  # The adopted configuration.
  parameters:
    model_params:
      stop: ["\n\n", END]
      temperature: 0.3 # old
      top_p: 1.0
    prompt_variables:
      sign_off: |-
        Best,
        The team
      tone: warm
  # What the proposer may try.
  search_space:
    model_params:
      temperature: [0.1, 0.3]
dataset: {cases_path: ../datasets/demo.jsonl}
`,
		},
		{
			name: "flow-style block replaced, line comment kept",
			spec: `experiment:
  name: demo
  parameters: {model_params: {temperature: 0.7}}  # adopted 2024-05
  run: {max_iterations: 3}
`,
			params: temp03,
			want: `experiment:
  name: demo
  parameters: # adopted 2024-05
    model_params:
      temperature: 0.3
  run: {max_iterations: 3}
`,
		},
		{
			name: "multi-line flow block replaced",
			spec: `experiment:
  parameters: {model_params: {temperature: 0.7,
      top_p: 0.9}}
  run: {max_iterations: 3}
`,
			params: temp03,
			want: `experiment:
  parameters:
    model_params:
      temperature: 0.3
  run: {max_iterations: 3}
`,
		},
		{
			name: "missing block inserted after editable",
			spec: `experiment:
  name: demo
  goal: answer support mail
  editable:
    prompt: true
    # model_params: true

  # Search space comment.
  search_space: {}
`,
			params: temp03,
			want: `experiment:
  name: demo
  goal: answer support mail
  editable:
    prompt: true
    # model_params: true
  parameters:
    model_params:
      temperature: 0.3

  # Search space comment.
  search_space: {}
`,
		},
		{
			name: "missing block inserted after a multi-line goal",
			spec: `experiment:
  name: demo
  goal: >
    answer support mail
    politely
  run:
    max_iterations: 3
agent: {builtin: pingpong}
`,
			params: temp03,
			want: `experiment:
  name: demo
  goal: >
    answer support mail
    politely
  parameters:
    model_params:
      temperature: 0.3
  run:
    max_iterations: 3
agent: {builtin: pingpong}
`,
		},
		{
			name:   "missing block appended to the experiment, file without final newline",
			spec:   "experiment:\n  name: demo\n  run: {max_iterations: 3}",
			params: temp03,
			want:   "experiment:\n  name: demo\n  run: {max_iterations: 3}\n  parameters:\n    model_params:\n      temperature: 0.3\n",
		},
		{
			name: "last key of the experiment, comments below kept",
			spec: `experiment:
  name: demo
  parameters:
    model_params:
      temperature: 0.7

    # trailing comment inside the block
# top-level comment
dataset:
  cases_path: x.jsonl
`,
			params: temp03,
			want: `experiment:
  name: demo
  parameters:
    model_params:
      temperature: 0.3

    # trailing comment inside the block
# top-level comment
dataset:
  cases_path: x.jsonl
`,
		},
		{
			name:   "empty parameters",
			spec:   "experiment:\n  name: demo\n  parameters:\n    a: 1\n  goal: g\n",
			params: Parameters{},
			want:   "experiment:\n  name: demo\n  parameters: {}\n  goal: g\n",
		},
		{
			name:   "null parameters",
			spec:   "experiment:\n  name: demo\n  parameters:\n  goal: g\n",
			params: Parameters{"a": "yes", "b": 2, "c": "1.5"},
			want:   "experiment:\n  name: demo\n  parameters:\n    a: \"yes\"\n    b: 2\n    c: \"1.5\"\n  goal: g\n",
		},
		{
			name:   "four-space indentation and CRLF",
			spec:   "experiment:\r\n    name: demo\r\n    parameters:\r\n        a: 1\r\n    goal: g\r\n",
			params: Parameters{"a": map[string]any{"b": 2}},
			want:   "experiment:\r\n    name: demo\r\n    parameters:\r\n      a:\r\n        b: 2\r\n    goal: g\r\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RewriteParameters([]byte(tc.spec), tc.params)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, string(got)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			again, err := RewriteParameters(got, tc.params)
			if err != nil || string(again) != string(got) {
				t.Errorf("rewriting twice is not idempotent: %v\n%s", err, again)
			}
			var spec Spec
			if err := yaml.Unmarshal(got, &spec); err != nil {
				t.Fatalf("result does not load as a spec: %v", err)
			}
			if tc.params.ID() != spec.Experiment.Parameters.ID() {
				t.Errorf("parameters read back as %v, want %v", spec.Experiment.Parameters, tc.params)
			}
		})
	}
}

// A flow-style experiment block cannot be spliced by lines; the document is
// re-encoded and still means the same apart from the parameters.
func TestRewriteParametersFlowExperiment(t *testing.T) {
	t.Parallel()
	spec := "# head comment\nexperiment: {name: demo, goal: g, parameters: {a: 1}}\nagent: {builtin: pingpong}\n"
	got, err := RewriteParameters([]byte(spec), Parameters{"a": 2.5})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"experiment": map[string]any{"name": "demo", "goal": "g", "parameters": map[string]any{"a": 2.5}},
		"agent":      map[string]any{"builtin": "pingpong"},
	}
	if diff := cmp.Diff(want, doc); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(string(got), "# head comment\n") {
		t.Errorf("head comment lost:\n%s", got)
	}
}

func TestRewriteParametersErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ spec, want string }{
		{"experiment: [1, 2]\n", "not a mapping"},
		{"- a\n- b\n", "not a YAML mapping"},
		{"dataset: {}\n", "no experiment"},
		{"experiment: {a: 1\n", "parse spec"},
		{"", "not a YAML mapping"},
	} {
		_, err := RewriteParameters([]byte(tc.spec), Parameters{"a": 1})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("RewriteParameters(%q): err = %v, want %q", tc.spec, err, tc.want)
		}
	}
}

// RewriteParameters parses user-written YAML: it must never panic, and when
// it succeeds the result must keep the rest of the spec and be stable.
func FuzzRewriteParameters(f *testing.F) {
	f.Add(mustReadF(f, "testdata/reference/evals/experiments/example_pingpong.yaml"), `{"model_params":{"temperature":0.3}}`)
	f.Add("experiment:\n  name: x\n  parameters: {a: 1} # c\n", `{}`)
	f.Add("experiment:\n  goal: |\n    # not a comment\n  editable: {}\n", `{"a":[1,"b",{"c":null}]}`)
	f.Add("experiment:\n  parameters: &p {a: 1}\n  other: *p\n", `{"a":2}`)
	f.Add("experiment:\n  parameters:\n    a: |\n      x\n      # y\n  run: {}\n", `{"a":"x\n"}`)
	f.Fuzz(func(t *testing.T, spec, paramsYAML string) {
		var params Parameters
		if err := yaml.Unmarshal([]byte(paramsYAML), &params); err != nil {
			return
		}
		out, err := RewriteParameters([]byte(spec), params)
		if err != nil {
			return
		}
		again, err := RewriteParameters(out, params)
		if err != nil {
			t.Fatalf("rewriting the result failed: %v\n%s", err, out)
		}
		var a, b map[string]any
		if err := yaml.Unmarshal(out, &a); err != nil {
			t.Fatalf("result does not parse: %v\n%s", err, out)
		}
		if err := yaml.Unmarshal(again, &b); err != nil {
			t.Fatalf("second result does not parse: %v\n%s", err, again)
		}
		if diff := cmp.Diff(a, b); diff != "" {
			t.Fatalf("rewriting twice changes the meaning:\n%s", diff)
		}
	})
}

// Comments inside parameters: stay with their parameter: the comment lines
// above it, the one after it on its line and those below it, at every
// depth; a parameter that is gone takes its comments along.
func TestRewriteParametersKeepsCommentsInside(t *testing.T) {
	t.Parallel()
	spec := `experiment:
  name: demo
  parameters:
    # Sampling, tuned on the support set.
    model_params:
      # Lower is blander.
      temperature: 0.7   # from the last sweep
      max_tokens: 100 # goes, with this comment
    # The reply's voice.
    prompt_variables: {tone: warm}  # see the style guide
    stop:
      - END
      # more stops later
    # trailing note on the whole block
  search_space:
    model_params:
      temperature: [0.1, 0.3]
`
	params := Parameters{
		"model_params":     map[string]any{"temperature": 0.3, "top_p": 0.9},
		"prompt_variables": map[string]any{"tone": "dry"},
		"stop":             []any{"END", "STOP"},
	}
	got, err := RewriteParameters([]byte(spec), params)
	if err != nil {
		t.Fatal(err)
	}
	want := `experiment:
  name: demo
  parameters:
    # Sampling, tuned on the support set.
    model_params:
      # Lower is blander.
      temperature: 0.3 # from the last sweep
      top_p: 0.9
    # The reply's voice.
    prompt_variables: # see the style guide
      tone: dry
    stop: [END, STOP]
      # more stops later
    # trailing note on the whole block
  search_space:
    model_params:
      temperature: [0.1, 0.3]
`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	again, err := RewriteParameters(got, params)
	if err != nil || string(again) != string(got) {
		t.Errorf("rewriting twice is not idempotent: %v\n%s", err, again)
	}
}
