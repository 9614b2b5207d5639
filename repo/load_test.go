package repo

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReferenceSpecLoads(t *testing.T) {
	path := "testdata/reference/evals/experiments/example_pingpong.yaml"
	ls, err := LoadExperiment(path, LoadOptions{Root: "testdata/reference"})
	if err != nil {
		t.Fatal(err)
	}
	if ls.Dataset.Count != 2 || !strings.HasPrefix(ls.ID, "exp_") || !strings.HasPrefix(ls.Dataset.ID, "ds_") {
		t.Errorf("loaded %+v", ls)
	}
	if len(ls.Warnings) != 3 || !strings.Contains(ls.Warnings[0], "workspace") || !strings.Contains(ls.Warnings[1], "frozen: and datasets: name entities of the reference's registry") ||
		!strings.Contains(ls.Warnings[2], "overfit_penalty_max_delta is recorded in the run manifest but not applied") {
		t.Errorf("want warnings about workspace:, frozen:/datasets: and overfit_penalty_max_delta, got %v", ls.Warnings)
	}
	if ls.Spec.Experiment.Frozen == nil || ls.Spec.Experiment.JudgeDefenses == nil {
		t.Error("reference blocks were not recorded")
	}
	// The entrypoint of the reference gets an explanation.
	data, _ := os.ReadFile(path)
	bad := strings.Replace(string(data), "builtin: pingpong", "entrypoint: selfevals.examples.pingpong:run", 1)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "evals/datasets/pingpong.jsonl"), mustRead(t, "testdata/reference/evals/datasets/pingpong.jsonl"))
	spec := writeFile(t, filepath.Join(dir, "evals/experiments/example_pingpong.yaml"), bad)
	_, err = LoadExperiment(spec, LoadOptions{Root: dir})
	if err == nil || !strings.Contains(err.Error(), "agent.entrypoint") || !strings.Contains(err.Error(), "command:") || !strings.Contains(err.Error(), "http:") || !strings.Contains(err.Error(), "builtin:") {
		t.Fatalf("entrypoint error does not explain the replacements: %v", err)
	}
	if !IsUserError(err) {
		t.Error("entrypoint error is not a user error")
	}
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const goodSpec = `experiment:
  name: x
  goal: y
  target:
    primary: {name: pass@1, operator: ">=", value: 0.5}
dataset:
  cases_path: ../datasets/d.jsonl
agent:
  builtin: echo
`

func specDir(t *testing.T, spec, cases string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "evals/datasets/d.jsonl"), cases)
	return dir, writeFile(t, filepath.Join(dir, "evals/experiments/x.yaml"), spec)
}

func TestSpecProblems(t *testing.T) {
	cases := `{"input":{"text":"a"}}` + "\n"
	for _, tc := range []struct {
		name string
		edit func(string) string
		want []string
	}{
		{"unknown key suggests", func(s string) string { return strings.Replace(s, "  goal: y", "  goal: y\n  parallelsim: 3", 1) },
			[]string{"x.yaml:4:3: experiment.parallelsim: unknown key"}},
		{"nested unknown key", func(s string) string {
			return strings.Replace(s, "  builtin: echo", "  builtin: echo\n  wroker: true", 1)
		}, []string{"x.yaml:10:3: agent.wroker: unknown key (did you mean \"worker\"?)"}},
		{"answer bound", func(s string) string {
			return strings.Replace(s, "  builtin: echo", "  builtin: echo\n  max_output_bytes: 100000000", 1)
		}, []string{"agent.max_output_bytes: 100000000 is over the largest answer a run records"}},
		{"startup timeout needs a worker", func(s string) string {
			return strings.Replace(s, "  builtin: echo", "  builtin: echo\n  startup_timeout: 5s", 1)
		}, []string{"agent.startup_timeout: only applies to worker agents"}},
		{"workers needs a worker", func(s string) string {
			return strings.Replace(s, "  builtin: echo", "  builtin: echo\n  workers: 4", 1)
		}, []string{"x.yaml:10:3: agent.workers: only applies to worker agents"}},
		{"workers below one", func(s string) string {
			return strings.Replace(s, "  builtin: echo", "  command: [x]\n  worker: true\n  workers: -2", 1)
		}, []string{"agent.workers: must be at least 1"}},
		{"unknown metric", func(s string) string { return strings.Replace(s, "name: pass@1", "name: accuracy", 1) },
			[]string{`experiment.target.primary.name: unknown metric "accuracy"`, "known metrics"}},
		{"bad operator", func(s string) string { return strings.Replace(s, `">="`, `"=>"`, 1) },
			[]string{`experiment.target.primary.operator: unknown operator "=>"`}},
		{"wrong type", func(s string) string {
			return strings.Replace(s, "  goal: y", "  goal: y\n  run: {parallelism: lots}", 1)
		}, []string{`x.yaml:4:22: experiment.run.parallelism: expected a whole number, got string "lots"`}},
		{"frozen surface", func(s string) string {
			return strings.Replace(s, "  goal: y", "  goal: y\n  editable: {model_params: false}\n  search_space: {model_params: {t: [1, 2]}}", 1)
		}, []string{"experiment.search_space.model_params: searches model_params, but the model_params surface is not editable"}},
		{"cases_path outside", func(s string) string { return strings.Replace(s, "../datasets/d.jsonl", "../../../outside.jsonl", 1) },
			[]string{"dataset.cases_path", "outside the repository"}},
		{"no agent", func(s string) string { return strings.Replace(s, "agent:\n  builtin: echo\n", "", 1) },
			[]string{"missing the agent: block"}},
		{"two agents", func(s string) string {
			return strings.Replace(s, "  builtin: echo", "  builtin: echo\n  command: [x]", 1)
		},
			[]string{"agent: sets more than one of command, http, openai and builtin"}},
		{"range on grid", func(s string) string {
			return strings.Replace(s, "  goal: y", "  goal: y\n  search_space: {model_params: {t: {min: 0, max: 1}}}", 1)
		}, []string{"can only be sampled by the random proposer"}},
		{"guardrail metric", func(s string) string {
			return strings.Replace(s, "    primary:", "    guardrails: [{name: cost_per_case, operator: '<=', value: 1}]\n    primary:", 1)
		}, []string{`experiment.target.guardrails[0].name: unknown metric "cost_per_case" (did you mean "cost_usd_per_case"?`}},
		{"yaml syntax", func(s string) string { return strings.Replace(s, "  goal: y", "  goal: [y", 1) },
			[]string{"x.yaml:", "invalid YAML"}},
		{"empty", func(string) string { return "" }, []string{"x.yaml:1:1: the file is empty"}},
		{"sandbox", func(s string) string {
			return strings.Replace(s, "  goal: y", "  goal: y\n  run: {sandbox: live_canary}", 1)
		},
			[]string{"sandbox live_canary is not available"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, path := specDir(t, tc.edit(goodSpec), cases)
			_, err := LoadExperiment(path, LoadOptions{Root: filepath.Dir(filepath.Dir(filepath.Dir(path)))})
			if err == nil {
				t.Fatal("loaded without error")
			}
			if !IsUserError(err) {
				t.Errorf("not a user error: %T %v", err, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestGoodSpecDefaults(t *testing.T) {
	dir, path := specDir(t, goodSpec, `{"input":{"text":"a"}}`+"\n")
	ls, err := LoadExperiment(path, LoadOptions{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	r := ls.Spec.Experiment.Run
	if r.MaxIterations != 20 || r.Parallelism != DefaultParallelism || r.Timeout != DefaultTimeout || r.PersistTraces != "all" || r.Convergence.Patience != 3 || r.RepetitionsPerCase != 1 {
		t.Errorf("defaults not applied: %+v", r)
	}
	if ls.Spec.Experiment.Mode != "handoff" || ls.Spec.Experiment.Decision.Significance != "require" {
		t.Errorf("defaults not applied: %+v", ls.Spec.Experiment)
	}
	// The adopted parameters do not change the experiment ID.
	withParams := strings.Replace(goodSpec, "  goal: y", "  goal: y\n  parameters: {model_params: {t: 1}}", 1)
	_, path2 := specDir(t, withParams, `{"input":{"text":"a"}}`+"\n")
	ls2, err := LoadExperiment(path2, LoadOptions{Root: filepath.Dir(filepath.Dir(filepath.Dir(path2)))})
	if err != nil {
		t.Fatal(err)
	}
	if ls2.ID != ls.ID {
		t.Errorf("parameters changed the experiment ID: %s vs %s", ls.ID, ls2.ID)
	}
}

// validate on a dataset with three bad lines reports all three.
func TestDatasetReportsEveryBadLine(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "d.jsonl"), strings.Join([]string{
		`{"input":{"text":"ok"}}`,
		`{"input": {"text": "broken"`,
		`// a comment`,
		`{"input":{"text":"x"},"expectd":{"must_include":["a"]}}`,
		``,
		`{"input":{"text":"y"},"holdout":"yes"}`,
		`{"input":{"text":"z"},"expected":{"regex":"(unclosed"}}`,
	}, "\n")+"\n")
	_, err := LoadDataset(path)
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("want Problems, got %T %v", err, err)
	}
	want := []string{
		path + ":2:",
		path + `:4:23: expectd: unknown key (did you mean "expected"?)`,
		path + `:6:33: holdout: expected true or false, got string "yes"`,
		path + `:7:`,
	}
	if len(probs) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(probs), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(probs[i].Error(), w) {
			t.Errorf("problem %d = %q, want prefix %q", i, probs[i].Error(), w)
		}
	}
	if !strings.Contains(probs[0].Error(), "invalid JSON") || !strings.Contains(probs[3].Error(), "expected.regex") {
		t.Errorf("unexpected messages: %v", err)
	}
}

// A large dataset is decoded in chunks on every core: problems still come
// in file order with their own line numbers, duplicates are found across
// chunks, and a line that trips the JSON decoder (a long run of invalid
// UTF-8) is a problem of its line, not a crash.
func TestDatasetChunksKeepFileOrder(t *testing.T) {
	var lines []string
	for i := range 1000 {
		switch i {
		case 100:
			lines = append(lines, `{"id":"c0005","input":{}}`) // duplicate of line 6
		case 300:
			lines = append(lines, `{"input": {`)
		case 700:
			lines = append(lines, `{"name":"`+strings.Repeat("\xc0", 510)+`","input":1}`)
		default:
			lines = append(lines, fmt.Sprintf(`{"id":"c%04d","input":{"text":"t%d"}}`, i, i))
		}
	}
	path := writeFile(t, filepath.Join(t.TempDir(), "d.jsonl"), strings.Join(lines, "\n")+"\n")
	_, err := LoadDataset(path)
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("want Problems, got %T %v", err, err)
	}
	want := []string{
		path + ":101:1: id: duplicate case ID c0005 (same as line 6)",
		path + ":301:",
		path + ":701:",
	}
	if len(probs) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(probs), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(probs[i].Error(), w) {
			t.Errorf("problem %d = %q, want prefix %q", i, probs[i].Error(), w)
		}
	}

	// Without the bad lines the dataset loads, IDs in file order.
	lines[100], lines[300], lines[700] = `{"id":"c0100","input":{}}`, `{"id":"c0300","input":{}}`, `{"id":"c0700","input":{}}`
	path = writeFile(t, filepath.Join(t.TempDir(), "d.jsonl"), strings.Join(lines, "\n")+"\n")
	ds, err := LoadDataset(path)
	if err != nil {
		t.Fatal(err)
	}
	x := ds.Index()
	idAt := func(i int) string { return x.ID(x.RankAt(i)) }
	if ds.Count != 1000 || idAt(0) != "c0000" || idAt(999) != "c0999" || idAt(700) != "c0700" {
		t.Fatalf("count %d, ids %v %v…%v", ds.Count, idAt(0), idAt(1), idAt(999))
	}
}

func TestCaseRules(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{`{"name":"x"}`, "input: missing"},
		{`{"input":{},"expected":{"required_tools":["a","b"],"forbidden_tools":["b"]}}`, "must be disjoint"},
		{`{"input":{},"taxonomy":{"source":{"type":"production"}}}`, "approved_raw_by"},
		{`{"input":{},"taxonomy":{"level":"final"}}`, `taxonomy.level: unknown value "final"`},
		{`{"input":{},"thread_position":1}`, "thread_position: set without thread_id"},
		{`{"input":{},"expected":{"output_schema":{"type":"nope"}}}`, "expected.output_schema"},
		{`[1,2]`, "expected a JSON object"},
	} {
		_, probs := DecodeCaseJSON("d.jsonl", 3, []byte(tc.line))
		if probs == nil || !strings.Contains(probs.Error(), tc.want) || !strings.HasPrefix(probs.Error(), "d.jsonl:3") {
			t.Errorf("%s: got %v, want %q", tc.line, probs, tc.want)
		}
	}
	ok := `{"input":{},"taxonomy":{"source":{"type":"production"}},"metadata":{"approved_raw_by":"me","approved_raw_at":"2026-01-01T00:00:00Z"}}`
	if _, probs := DecodeCaseJSON("d.jsonl", 1, []byte(ok)); probs != nil {
		t.Errorf("approved raw case rejected: %v", probs)
	}
}

func TestCaseGradersMustBeDeclared(t *testing.T) {
	dir, path := specDir(t, goodSpec+"graders:\n  - {type: deterministic, name: rules}\n", `{"input":{},"graders":["rulez"]}`+"\n")
	_, err := LoadExperiment(path, LoadOptions{Root: dir})
	if err == nil || !strings.Contains(err.Error(), `grader "rulez" is not declared`) || !strings.Contains(err.Error(), `did you mean "rules"`) {
		t.Fatalf("got %v", err)
	}
}

func TestInlineCases(t *testing.T) {
	spec := strings.Replace(goodSpec, "  cases_path: ../datasets/d.jsonl", "  cases_inline:\n    - {input: {text: a}}\n    - input: {text: b}\n      expected: {must_include: [b]}", 1)
	dir, path := specDir(t, spec, "")
	ls, err := LoadExperiment(path, LoadOptions{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	cases, err := ls.Dataset.Cases()
	if err != nil || len(cases) != 2 {
		t.Fatalf("%v %v", cases, err)
	}
	jsonl, _ := DecodeCaseJSON("d.jsonl", 1, []byte(`{"expected":{"must_include":["b"]},"input":{"text":"b"}}`))
	if cases[1].ID != jsonl.ID {
		t.Errorf("inline case ID %s != JSONL ID %s", cases[1].ID, jsonl.ID)
	}
	bad := strings.Replace(spec, "{input: {text: a}}", "{input: {text: a}, nmae: q}", 1)
	_, path = specDir(t, bad, "")
	_, err = LoadExperiment(path, LoadOptions{Root: filepath.Dir(filepath.Dir(filepath.Dir(path)))})
	if err == nil || !strings.Contains(err.Error(), `dataset.cases_inline[0].nmae: unknown key (did you mean "name"?)`) {
		t.Fatalf("got %v", err)
	}
}

func TestFormatDataset(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "d.jsonl"), "// about b\n{ \"input\": {\"text\": \"b\"} }\n{\"input\":{\"text\":\"a\"}, \"name\": \"A\"}\n{\"id\":\"keep-me\",\"input\":{\"z\":1,\"a\":2}}\n")
	out, err := FormatDataset(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 4 {
		t.Fatalf("got %q", out)
	}
	if !strings.Contains(string(out), `{"id":"keep-me","input":{"a":2,"z":1}}`) {
		t.Errorf("explicit id or canonical order lost: %s", out)
	}
	if i := strings.Index(string(out), "// about b"); i < 0 || !strings.HasPrefix(string(out)[i:], "// about b\n{\"input\":{\"text\":\"b\"}}") {
		t.Errorf("comment did not travel with its case: %s", out)
	}
	// Formatting is idempotent and keeps IDs.
	writeFile(t, path, string(out))
	again, _ := FormatDataset(path)
	if string(again) != string(out) {
		t.Errorf("not idempotent:\n%s\n%s", out, again)
	}
}

func TestFormatYAMLKeepsComments(t *testing.T) {
	dir := t.TempDir()
	src := "# head\nexperiment:\n    name: x   # trailing\n\n    goal: y\nlist:\n- a\n- b\n"
	path := writeFile(t, filepath.Join(dir, "s.yaml"), src)
	out, err := FormatYAML(path)
	if err != nil {
		t.Fatal(err)
	}
	want := "# head\nexperiment:\n  name: x # trailing\n\n  goal: y\nlist:\n  - a\n  - b\n"
	if string(out) != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
}

// Each streams the validated file without re-validating, with the IDs of
// the validating pass, and validates again when the file has changed.
func TestDatasetEachAfterEdit(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, filepath.Join(dir, "d.jsonl"), "{\"input\":{\"text\":\"a\"}}\n// c\n{\"id\":\"x\",\"input\":{\"text\":\"b\"}}\n")
	ds, err := LoadDataset(path)
	if err != nil {
		t.Fatal(err)
	}
	full, _ := DecodeCaseJSON(path, 1, []byte(`{"input":{"text":"a"}}`))
	var got []string
	ds.Each(func(c *Case) error { got = append(got, fmt.Sprintf("%s@%d", c.ID, c.Line)); return nil })
	if want := full.ID + "@1 x@3"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
	// An edit after loading is validated again, not trusted.
	writeFile(t, path, "{\"input\":{\"text\":\"a\"}}\n{\"inptu\":{}}\n{\"id\":\"x\",\"input\":{\"text\":\"b\"}}\n")
	err = ds.Each(func(c *Case) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "inptu") {
		t.Errorf("edited dataset: %v", err)
	}
}

// A small dataset is decoded once and walked from memory; a large one is
// streamed from disk on every walk. Both give the same cases.
func TestDatasetKeptOrStreamed(t *testing.T) {
	for _, tc := range []struct {
		lines int
		kept  bool
	}{{300, true}, {30000, false}} {
		var b strings.Builder
		for i := range tc.lines {
			fmt.Fprintf(&b, `{"id":"c%05d","input":{"text":"t%d"},"expected":{"must_include":["t%d"]}}`+"\n", i, i, i)
			if i == 1 {
				b.WriteString(`{"name":"computed id","input":{"text":"x"}}` + "\n")
			}
		}
		path := writeFile(t, filepath.Join(t.TempDir(), "d.jsonl"), b.String())
		ds, err := LoadDataset(path)
		if err != nil {
			t.Fatal(err)
		}
		if (ds.kept != nil) != tc.kept {
			t.Fatalf("%d lines (%d bytes): kept %v, want %v", tc.lines, b.Len(), ds.kept != nil, tc.kept)
		}
		walk := func(each func(func(*Case) error) error) []string {
			var got []string
			if err := each(func(c *Case) error {
				var must []string
				if c.Expected != nil {
					must = c.Expected.MustInclude
				}
				got = append(got, fmt.Sprintf("%s@%d:%s:%v:%s", c.ID, c.Line, c.Input, must, c.Name))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return got
		}
		got, streamed := walk(ds.Each), walk(ds.eachValidated)
		if len(got) != tc.lines+1 || strings.Join(got, "\n") != strings.Join(streamed, "\n") {
			t.Fatalf("%d lines: Each gave %d cases, streaming %d; first %v vs %v", tc.lines, len(got), len(streamed), got[:3], streamed[:3])
		}
		if !strings.HasPrefix(got[2], "case_") || !strings.HasSuffix(got[2], ":computed id") {
			t.Errorf("computed ID case: %s", got[2])
		}
	}
}

func TestUnusedGraderWarning(t *testing.T) {
	spec := goodSpec + "graders:\n  - {type: deterministic, name: rules}\n  - {type: deterministic, name: strict, case_sensitive: true}\n"
	dir, path := specDir(t, spec, `{"input":{},"graders":["rules"]}`+"\n")
	ls, err := LoadExperiment(path, LoadOptions{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls.Warnings) != 1 || !strings.Contains(ls.Warnings[0], "graders strict are declared but no case runs them") {
		t.Errorf("warnings %v", ls.Warnings)
	}
	dir, path = specDir(t, spec, `{"input":{},"graders":["rules"]}`+"\n"+`{"input":{"a":1}}`+"\n")
	if ls, _ := LoadExperiment(path, LoadOptions{Root: dir}); len(ls.Warnings) != 0 {
		t.Errorf("a case running every grader still warns: %v", ls.Warnings)
	}
}

// One load reports every problem of a spec, whatever block it is in and
// whether the strict decode, a semantic check or the dataset finds it, in
// line order with each one's line and field.
func TestSpecReportsEveryProblemAtOnce(t *testing.T) {
	spec := `experiment:
  name: x
  goal: y
  target:
    primary: {name: pass@1, operator: "=>", value: 0.5}
  search_space:
    model_params:
      temperature: []
dataset:
  cases_path: ../datasets/missing.jsonl
agent:
  builtin: echo
  wroker: true
`
	dir, path := specDir(t, spec, `{"input":{}}`+"\n")
	_, err := LoadExperiment(path, LoadOptions{Root: dir})
	var probs Problems
	if !errors.As(err, &probs) {
		t.Fatalf("want Problems, got %T %v", err, err)
	}
	want := []struct {
		line       int
		field, msg string
	}{
		{5, "experiment.target.primary.operator", `unknown operator "=>"`},
		{8, "experiment.search_space.model_params.temperature", "an empty list leaves nothing to try"},
		{10, "dataset.cases_path", "missing.jsonl not found"},
		{13, "agent.wroker", "unknown key"},
	}
	if len(probs) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%v", len(probs), len(want), err)
	}
	for i, w := range want {
		p := probs[i]
		if p.File != path || p.Line != w.line || p.Field != w.field || !strings.Contains(p.Msg, w.msg) {
			t.Errorf("problem %d = %q, want line %d, field %s, %q", i, p.Error(), w.line, w.field, w.msg)
		}
	}
	if !IsUserError(err) {
		t.Error("not a user error")
	}
}

// A check that depends on a value the strict decode reported is skipped:
// the value was left out, and judging the default in its place would only
// repeat the problem in other words. Independent checks still run.
func TestSpecSkipsChecksOfBrokenValues(t *testing.T) {
	cases := `{"input":{"text":"a"}}` + "\n"
	for _, tc := range []struct {
		name   string
		edit   func(string) string
		want   []string
		absent []string
	}{
		{"misspelt operator key", func(s string) string { return strings.Replace(s, `operator: ">="`, `operater: ">="`, 1) },
			[]string{`experiment.target.primary.operater: unknown key (did you mean "operator"?)`}, []string{"unknown operator"}},
		{"misspelt adapter", func(s string) string { return strings.Replace(s, "  builtin: echo", "  biultin: echo", 1) },
			[]string{`agent.biultin: unknown key (did you mean "builtin"?)`}, []string{"needs exactly one of"}},
		{"misspelt block", func(s string) string { return strings.Replace(s, "dataset:", "datset:", 1) },
			[]string{`datset: unknown key (did you mean "dataset"?)`}, []string{"missing the dataset: block"}},
		{"block of the wrong kind", func(s string) string {
			return strings.Replace(s, "agent:\n  builtin: echo\n", "agent: echo\n", 1)
		}, []string{`agent: expected a mapping, got a string`}, []string{"missing the agent: block", "needs exactly one of"}},
		{"editable flag of the wrong type", func(s string) string {
			return strings.Replace(s, "  goal: y", "  goal: y\n  editable: {tool_descriptions: \"yes\"}\n  search_space: {tool_params: {x: [1]}}", 1)
		}, []string{`experiment.editable.tool_descriptions: expected true or false, got string "yes"`}, []string{"not editable"}},
		{"strategy of the wrong type", func(s string) string {
			return strings.Replace(s, "  goal: y", "  goal: y\n  proposer: {strategy: [random]}\n  search_space: {model_params: {t: {min: 0, max: 1}}}", 1)
		}, []string{"experiment.proposer.strategy: expected a string, got a list"}, []string{"random proposer"}},
		{"graders of the wrong kind", func(s string) string {
			return strings.Replace(s, "name: pass@1", "name: rules_pass_rate", 1) + "graders: {type: deterministic}\n"
		}, []string{"graders: expected a list, got a mapping"}, []string{"unknown metric"}},
		{"independent problems of one block", func(s string) string {
			return strings.Replace(s, "  goal: y", "  goal: y\n  run: {parallelsim: 3, sandbox: live_canary, max_iterations: x}", 1)
		}, []string{"experiment.run.parallelsim: unknown key", "sandbox live_canary is not available", `experiment.run.max_iterations: expected a whole number, got string "x"`}, nil},
		{"missing experiment, bad agent", func(s string) string {
			return strings.Replace(strings.Replace(s, "experiment:", "other:", 1), "builtin: echo", "builtin: nope", 1)
		}, []string{"missing the experiment: block", `agent.builtin: unknown builtin agent "nope"`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, path := specDir(t, tc.edit(goodSpec), cases)
			_, err := LoadExperiment(path, LoadOptions{Root: dir})
			if err == nil {
				t.Fatal("loaded without error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
			for _, a := range tc.absent {
				if strings.Contains(err.Error(), a) {
					t.Errorf("error %q\nrepeats a reported problem as %q", err, a)
				}
			}
		})
	}
}

// Problems of the dataset's cases come with the spec's own, after them.
func TestSpecAndDatasetProblemsTogether(t *testing.T) {
	spec := strings.Replace(goodSpec, "  goal: y", "  goal: y\n  mode: loop", 1)
	dir, path := specDir(t, spec, `{"input":{"text":"a"}}`+"\n"+`{"inptu":{}}`+"\n")
	_, err := LoadExperiment(path, LoadOptions{Root: dir})
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != 2 {
		t.Fatalf("want 2 problems, got %v", err)
	}
	if probs[0].File != path || probs[0].Field != "experiment.mode" || !strings.HasSuffix(probs[1].File, "d.jsonl") || probs[1].Line != 2 {
		t.Errorf("got\n%v", err)
	}
}

// A YAML syntax error names the line and column of the mistake, though
// yaml.v3's message names only a line, and for many problems the line
// where the enclosing construct starts (its parser counts from 0).
func TestYAMLSyntaxErrorLines(t *testing.T) {
	for _, tc := range []struct {
		doc       string
		line, col int
	}{
		{"experiment:\n  name: x\n  goal: [y\n  target:\n    primary: {}\ndataset: {}\n", 3, 10}, // parser
		{"experiment:\n  name: x\n  goal: y\n bad: 1\ndataset: {}\n", 4, 2},
		{"experiment:\n  name: x\n  goal: y\n  run: {parallelism: 3\ndataset: {}\n", 4, 9},
		{"a: 1\nb: [1, 2\n", 2, 5},
		{"- a\nb: 1\n", 2, 2},
		{"a:\n  b: 1\n c: 2\n", 3, 2},
		{"a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: \"abc\ng: 1\n", 6, 4}, // scanner
		{"a: 1\nb: 2\nc: 3\nd: 4\ne: 5\nf: x: y\n", 6, 5},
		{"a: 1\nb: 2\nc: 3\nd: 4\ne: 5\n  f: 1\n", 6, 4},
		{"a: 1\nb:\n\t- c\n", 3, 1},
		{"experiment:\n  name: x\n  goal: y\n\tbad: 1\n", 4, 1}, // yaml.v3 names line 3
		{"a: é\nb: ü: x\n", 2, 5},                               // columns count characters
	} {
		_, err := parseYAML("s.yaml", []byte(tc.doc))
		var probs Problems
		if !errors.As(err, &probs) || len(probs) != 1 {
			t.Errorf("%q: got %v", tc.doc, err)
			continue
		}
		if p := probs[0]; p.Line != tc.line || p.Col != tc.col || !strings.HasPrefix(p.Msg, "invalid YAML: ") || strings.Contains(p.Msg, "line") {
			t.Errorf("%q: got %q, want %d:%d", tc.doc, p.Error(), tc.line, tc.col)
		}
	}
}

// A slug that git cannot take as a branch component is refused when the
// spec loads, not at the candidate commit after the whole run.
func TestSlugMustBeARefName(t *testing.T) {
	for name, want := range map[string]string{
		"exp.lock.yaml": `cannot end in ".lock"`,
		"v1..2.yaml":    `cannot contain ".."`,
		"ok.yaml":       "",
	} {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, "evals/datasets/d.jsonl"), `{"input":{"text":"a"}}`+"\n")
		spec := writeFile(t, filepath.Join(dir, "evals/experiments", name), goodSpec)
		_, err := LoadExperiment(spec, LoadOptions{Root: dir})
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want) || !IsUserError(err)):
			t.Errorf("%s: got %v, want a user error containing %s", name, err, want)
		}
	}
}

// Two specs with one slug would share results, runs and branch.
func TestSlugTaken(t *testing.T) {
	dir := t.TempDir()
	d := Dir(filepath.Join(dir, "evals"))
	main := writeFile(t, filepath.Join(dir, "evals/experiments/x.yaml"), goodSpec)
	elsewhere := writeFile(t, filepath.Join(dir, "other/x.yaml"), goodSpec)
	if err := d.CheckSlugUnique(main, "x"); err != nil {
		t.Errorf("the spec in its own place: %v", err)
	}
	err := d.CheckSlugUnique(elsewhere, "x")
	if err == nil || !IsUserError(err) || !strings.Contains(err.Error(), "evals/experiments/x.yaml") {
		t.Errorf("a second x.yaml: %v", err)
	}
	writeFile(t, filepath.Join(dir, "evals/experiments/x.yml"), goodSpec)
	if err := d.CheckSlugUnique(main, "x"); err == nil || !strings.Contains(err.Error(), "x.yml") {
		t.Errorf("x.yaml beside x.yml: %v", err)
	}
}

// A file that is not UTF-8 is refused at the line and column of each bad
// byte, before YAML or JSON reads it (yaml.v3 would name no line, and a
// JSON decoder would turn the byte into U+FFFD).
func TestNotUTF8(t *testing.T) {
	_, err := parseYAML("s.yaml", []byte("a: 1\nb: caf\xe9\nc: ok\nd: \xff\xfe\n"))
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != 2 {
		t.Fatalf("want 2 problems, got %v", err)
	}
	if got := probs.Error(); !strings.Contains(got, "s.yaml:2:7: not valid UTF-8: byte 0xE9") || !strings.Contains(got, "s.yaml:4:4: not valid UTF-8: byte 0xFF") {
		t.Errorf("got\n%s", got)
	}
	if _, p := DecodeCaseJSON("d.jsonl", 3, []byte("{\"input\":{\"text\":\"caf\xe9\"}}")); len(p) != 1 || p[0].Error() != "d.jsonl:3:22: not valid UTF-8: byte 0xE9 (save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8))" {
		t.Errorf("case line: got %v", p)
	}
	many := bytes.Repeat([]byte("x: \xe9\n"), 50)
	if probs := CheckUTF8("m.yaml", many); len(probs) != maxUTF8Problems || !strings.Contains(probs[len(probs)-1].Hint, "later lines are not listed") {
		t.Errorf("a file bad on every line: got %d problems, last %v", len(probs), probs[len(probs)-1])
	}
}

// A key selfevals accepts from the reference but has no behaviour for is
// refused, saying why, when it asks for more than selfevals does; the
// values that describe what selfevals does load.
func TestSpecRefusesWhatItCannotDo(t *testing.T) {
	cases := `{"input":{"text":"a"}}` + "\n"
	for _, tc := range []struct{ edit, want string }{
		{"  proposer: {allow_search_space_expansion: true}", "experiment.proposer.allow_search_space_expansion: is not available"},
		{"  run: {sandbox: dry_run}", "sandbox dry_run is not available: selfevals always calls the agent"},
		{"  run: {sample_strategy: random_subset}", "sample_strategy random_subset is not available"},
		{"  decision: {if_judge_human_disagree: investigate}", "experiment.decision.if_judge_human_disagree: investigate is not available"},
		{"  error_analysis: {scope: all}", "analyze pull"},
		{"  judge_defenses: {counterfactuals: {enabled: true}}", "counterfactual checks are not available"},
		{"  judge_defenses: {human_spot_check: {enabled: true}}", "human spot checks are not available"},
		{"  judge_defenses: {panel: {members: [a, b]}}", "judge panels are not available"},
		{"  judge_defenses: {holdout_visible_to_proposer: true}", "no proposer reads cases"},
	} {
		spec := strings.Replace(goodSpec, "  goal: y", "  goal: y\n"+tc.edit, 1)
		dir, path := specDir(t, spec, cases)
		_, err := LoadExperiment(path, LoadOptions{Root: dir})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !IsUserError(err) {
			t.Errorf("%s: got %v, want %q", tc.edit, err, tc.want)
		}
	}
	for _, adapter := range []string{"env: {A: b}", "workdir: agents", "output: text", "worker: true"} {
		spec := strings.Replace(goodSpec, "  builtin: echo", "  builtin: echo\n  "+adapter, 1)
		dir, path := specDir(t, spec, cases)
		key, _, _ := strings.Cut(adapter, ":")
		if _, err := LoadExperiment(path, LoadOptions{Root: dir}); err == nil || !strings.Contains(err.Error(), "agent."+key+": only applies to command agents") {
			t.Errorf("%s on a builtin agent: got %v", adapter, err)
		}
	}
	for _, g := range []struct{ grader, want string }{
		{"{type: deterministic, timeout: 5s}", "graders[0]: rubric, judge, template, card, blocking, parallelism, timeout and retries only apply to llm_judge graders"},
		{"{type: llm_judge, rubric: r, judge: {builtin: fake_judge}, case_sensitive: true}", "graders[0].case_sensitive: only applies to deterministic graders"},
	} {
		dir, path := specDir(t, goodSpec+"graders:\n  - "+g.grader+"\n", cases)
		if _, err := LoadExperiment(path, LoadOptions{Root: dir}); err == nil || !strings.Contains(err.Error(), g.want) {
			t.Errorf("%s: got %v", g.grader, err)
		}
	}
	// The values that say what selfevals does anyway load.
	spec := strings.Replace(goodSpec, "  goal: y", "  goal: y\n  run: {sandbox: mock, sample_strategy: full, runtime: offline}\n  decision: {if_judge_human_disagree: escalate_to_calibration}\n  error_analysis: {scope: failed_only}\n  proposer: {allow_search_space_expansion: false}", 1)
	dir, path := specDir(t, spec, cases)
	if _, err := LoadExperiment(path, LoadOptions{Root: dir}); err != nil {
		t.Errorf("the defaults written out: %v", err)
	}
}

// Files and directories the agent block names must exist, so validate
// finds them missing, not the run.
func TestAgentPathsMustExist(t *testing.T) {
	cases := `{"input":{"text":"a"}}` + "\n"
	spec := strings.Replace(goodSpec, "  builtin: echo", "  command: [python3, agent.py]\n  workdir: agents\n  fingerprint: [agent.py, prompts]", 1)
	dir, path := specDir(t, spec, cases)
	_, err := LoadExperiment(path, LoadOptions{Root: dir})
	for _, want := range []string{
		"agent.workdir: agents is not a directory (it is relative to the repository root)",
		"agent.fingerprint[0]: agent.py does not exist",
		"agent.fingerprint[1]: prompts does not exist",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	writeFile(t, filepath.Join(dir, "agents/agent.py"), "")
	writeFile(t, filepath.Join(dir, "agent.py"), "")
	writeFile(t, filepath.Join(dir, "prompts/a.txt"), "")
	if _, err := LoadExperiment(path, LoadOptions{Root: dir}); err != nil {
		t.Errorf("with the files: %v", err)
	}
}
