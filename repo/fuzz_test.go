package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-json"
	"github.com/selfevals/selfevals/repo/internal/canonical"
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
		if err == nil {
			// The ID hashes encoding/json's encoding (MarshalOnce): it
			// must be the ID goccy's encoding gave, as IDs always were.
			hashed := ls.Spec
			hashed.Experiment.Parameters = nil
			if want, _ := HashID("exp", hashed); ls.ID != want {
				got, _ := canonical.MarshalOnce(&hashed)
				ref, _ := canonical.Marshal(hashed)
				t.Fatalf("experiment ID %s, goccy's encoding gives %s\n got %s\nwant %s", ls.ID, want, got, ref)
			}
			// The agent block too, which AgentFingerprint hashes.
			got, _ := CanonicalOnce(ls.Spec.Agent)
			if want, _ := Canonical(ls.Spec.Agent); !bytes.Equal(got, want) {
				t.Fatalf("agent block\n got %s\nwant %s", got, want)
			}
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

// refDecodeCaseJSON is DecodeCaseJSON as it was before the plain-JSON fast
// path: every line through goccy's stream decoder, once it is known to be
// UTF-8 (goccy would turn a bad byte into U+FFFD).
func refDecodeCaseJSON(file string, line int, raw []byte) (*Case, Problems) {
	if p := CheckUTF8Line(file, line, raw); p != nil {
		return nil, Problems{*p}
	}
	var c Case
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	err := dec.Decode(&c)
	if err == nil && dec.More() {
		err = errors.New("extra data after the case object")
	}
	if err != nil {
		return nil, explainCaseLine(file, line, raw, err)
	}
	c.Line = line
	if probs := finishCase(&c, file, line, func(field string) (int, int) {
		return locateJSONField(raw, field)
	}); len(probs) > 0 {
		return nil, probs
	}
	return &c, nil
}

// checkDecodeAgainstRef fails t when the plain decoder takes a line the
// strict one decodes differently, or DecodeCaseJSON's answer differs from
// the reference's.
func checkDecodeAgainstRef(t *testing.T, line []byte) {
	t.Helper()
	var plain, strict Case
	if decodePlainCase(line, &plain) {
		var err error
		if p := recovered(func() { err = decodeCaseStrict(line, &strict) }); p != nil || err != nil {
			t.Fatalf("plain decode took %q, the strict one failed: %v %v", line, err, p)
		}
		if !reflect.DeepEqual(plain, strict) {
			t.Fatalf("plain decode of %q\n got %#v\nwant %#v", line, plain, strict)
		}
	}
	var got, want *Case
	var gotProbs, wantProbs Problems
	gotPanic := recovered(func() { got, gotProbs = DecodeCaseJSON("d.jsonl", 3, line) })
	wantPanic := recovered(func() { want, wantProbs = refDecodeCaseJSON("d.jsonl", 3, line) })
	if gotPanic != nil {
		t.Fatalf("DecodeCaseJSON(%q) panics: %v", line, gotPanic)
	}
	if wantPanic != nil {
		// The reference crashes where goccy's stream decoder does; the
		// line must be rejected instead.
		if got != nil || len(gotProbs) == 0 {
			t.Fatalf("DecodeCaseJSON(%q), which crashes the reference, was not rejected: %#v", line, got)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeCaseJSON(%q)\n got %#v\nwant %#v", line, got, want)
	}
	// Problems about a map's entries come in map order.
	if g, w := sortedProblems(gotProbs), sortedProblems(wantProbs); !slices.Equal(g, w) {
		t.Fatalf("DecodeCaseJSON(%q) problems\n got %q\nwant %q", line, g, w)
	}
}

// recovered runs f and returns what it panicked with, if it did. goccy's
// stream decoder panics on some long strings of invalid UTF-8 (it miscounts
// its buffer as it replaces them); DecodeCaseJSON turns that into a
// problem of the line, the reference does not.
func recovered(f func()) (p any) {
	defer func() { p = recover() }()
	f()
	return nil
}

func sortedProblems(ps Problems) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%+v", p))
	}
	slices.Sort(out)
	return out
}

var plainCaseSeeds = []string{
	`{"id":"c0000001","input":{"text":"ping tok1"},"expected":{"must_include":["tok1"]}}`,
	`{"input":{"text":"hi"}}`,
	` { "input" : { "b" : [ 1 , 2.5e3 , -0 , true , null , "x\u00e9\"" ] , "a" : { } } , "name" : "n" } `,
	`{"id":"x","name":"a\"b\\c\/d\n\t","task_type":"qa","modalities":["text","image"],"input":"s","context":[1,{"k":"v"}],` +
		`"expected":{"outcome":"o","must_include":[],"must_not_include":["a"],"required_tools":["t"],"forbidden_tools":["u"],"regex":"a+b","structured_output":{"b":1,"a":2},"output_schema":{"type":"object"},"required_citations":["c"],"policy_flags":["p"]},` +
		`"taxonomy":{"level":"single_step","feature":{"primary":"f","secondary":["g"]},"source":{"type":"handcrafted","failure_type":"x","failure_id":"y","parent_case_id":"z"},"ground_truth":{"methods":["exact_match"]},"runtime":"offline","dataset_type":"smoke","risk":{"overall":"low","user_trust":"a","privacy":"b","reversibility":"c","safety":"d","cost":"e"}},` +
		`"graders":["g1"],"failure_weights":{"a":1,"b":0,"a":3},"metadata":{"owner":"o","tags":["t"],"pii_status":"scrubbed","approved_raw_by":"x","approved_raw_at":"2026-01-31T12:00:00Z","notes":"n"},"blocking":{"merge":true,"release":false},"holdout":true,"thread_id":"th","thread_position":0,"content_hash":"h"}`,
	`{"input":1,"thread_id":"t","thread_position":-1}`,
	`{"input":1,"thread_id":"t","thread_position":12345678901234567890}`,
	`{"input":1,"thread_id":"t","thread_position":1.0}`,
	`{"input":1,"thread_id":"t","thread_position":-0}`,
	`{"input":1,"thread_id":"t","thread_position":9223372036854775807}`,
	`{"input":1,"thread_id":"t","thread_position":-9223372036854775808}`,
	`{"input":1,"thread_id":"t","thread_position":9223372036854775808}`,
	`{"input":1,"failure_weights":{"a":-9223372036854775807,"b":999999999999999999}}`,
	`{"input":1,"thread_id":"t","thread_position":01}`,
	`{"input":1,"failure_weights":{"a":-1,"b":-2}}`,
	`{"input":{},"expectd":{}}`,
	`{"Input":{"text":"case"}}`,
	`{"input":{},"input":{"a":1}}`,
	`{"input":{},"expected":{"must_include":["a"]},"expected":{"regex":"b"}}`,
	`{"input":{},"name":null}`,
	`{"input":null}`,
	`{"input":{},"context":null}`,
	`{"input":{},"expected":null}`,
	`{"input":{},"id":" spaced "}`,
	`{"input":{},"name":"caf\u00e9"}`,
	`{"input":{},"name":"café"}`,
	"{\"input\":{},\"name\":\"bad \xff\"}",
	"{\"input\":{\"t\":\"bad \xff\"}}",
	"{\"input\":{},\"name\":\"tab\there\"}",
	`{"input":{"a":1}}}`,
	`{"input":{"a":1}}]`,
	`{"input":{"a":1}} x`,
	`{"input":,1}`,
	`{"input":01}`,
	`{"input":{null:1}}`,
	`{"input":"\uZZZZ"}`,
	`{"input":[1 2]}`,
	`{"input":1e400}`,
	`{"input":{"a":1},"expected":{"output_schema":{"type":"nope"}}}`,
	`{"input":{},"holdout":tru}`,
	`{"input":{},"holdout":"true"}`,
	`{"input":{},"-":1}`,
	`{"input":{},"explicitID":true}`,
	`{"input":{},"Line":3}`,
	`[1,2,3]`,
	`{"input": {"text": "broken"`,
	`{"input":{},"taxonomy":{"source":{"type":"production"}}}`,
	`{"input":{},"metadata":{"approved_raw_at":"not a time"}}`,
	`{"input":{},"modalities":["text","text"]}`,
	// Found by fuzzing: goccy's stream decoder panics on these (the
	// reference crashes; DecodeCaseJSON rejects the line).
	`{"name":"` + strings.Repeat("\xc0", 509) + `","input":1}`,
	`{"input":{"` + strings.Repeat("\xc0", 509) + `":1}}`,
	`{"input":"\`, `{"input":"\u12`, `{"input":"a\`, `{"name":"a\`, `{"name":"\u0041","input":1}`,
	`{"input":{"deep":` + strings.Repeat("[", 1200) + strings.Repeat("]", 1200) + `}}`,
	// Long lines: goccy reads 511 bytes first, so typed strings and
	// free-form values straddle its buffer's end.
	`{"input":{"text":"` + strings.Repeat("x", 480) + `"},"name":"` + strings.Repeat("é", 40) + `"}`,
	`{"input":{"text":"` + strings.Repeat("x", 470) + `"},"name":"` + strings.Repeat(`a\"b`, 40) + `","graders":["` + strings.Repeat("g", 600) + `"]}`,
	`{"name":"` + strings.Repeat("n", 495) + `","input":{"text":"` + strings.Repeat(`\u00e9\ud83d\ude00`, 30) + `"},"thread_id":"t","thread_position":1234567}`,
}

func TestDecodeCaseJSONMatchesReference(t *testing.T) {
	for _, s := range plainCaseSeeds {
		checkDecodeAgainstRef(t, []byte(s))
	}
}

// The fast path does take ordinary lines.
func TestDecodePlainCaseTakesOrdinaryLines(t *testing.T) {
	for _, s := range plainCaseSeeds[:5] {
		if !decodePlainCase([]byte(s), &Case{}) {
			t.Errorf("plain decode refused %s", s)
		}
	}
}

// FuzzDecodeCaseJSONPlain compares DecodeCaseJSON, with its plain-JSON fast
// path, with the strict decode it skips.
func FuzzDecodeCaseJSONPlain(f *testing.F) {
	for _, s := range plainCaseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		// Compiled output schemas are cached for good; millions of
		// fuzzed ones would fill the memory.
		schemaCache.Clear()
		checkDecodeAgainstRef(t, line)
	})
}

// FuzzDecodeCaseJSONFields builds lines around fuzzed field values, most of
// them plain JSON, to exercise the plain path, which random lines seldom
// reach.
func FuzzDecodeCaseJSONFields(f *testing.F) {
	f.Add("refund", `{"text":"hi","n":[1,2.5,-3e2,true,null]}`, "tag", int64(1), true, " ")
	f.Add(`a\"b\\c\/\n`, `"\u00e9\ud800"`, "t\tx", int64(-12345), false, "\n\t")
	f.Add("café", `[{"b":1,"a":2,"b":3}]`, "\xff", int64(0), true, "")
	f.Fuzz(func(t *testing.T, name, input, tag string, n int64, holdout bool, space string) {
		line := fmt.Sprintf(`{"name":"%s",%s"input":%s,"thread_id":"t","thread_position":%d,"holdout":%t,"metadata":{"tags":["%s"]},"failure_weights":{"%s":%d}}`,
			name, space, input, n, holdout, tag, tag, n)
		schemaCache.Clear()
		checkDecodeAgainstRef(t, []byte(line))
	})
}

// Every spec in the project (examples, the project's own evals, test data)
// keeps the ID goccy's encoding gave it, now that it is hashed from
// encoding/json's (canonical.MarshalOnce).
func TestExperimentIDsUnchangedByTheEncoder(t *testing.T) {
	var specs []string
	filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filepath.Base(filepath.Dir(p)) == "experiments" && strings.HasSuffix(p, ".yaml") {
			specs = append(specs, p)
		}
		return nil
	})
	loaded := 0
	for _, p := range specs {
		ls, err := LoadExperiment(p, LoadOptions{SpecOnly: true})
		if err != nil {
			continue // test data of bad specs
		}
		loaded++
		hashed := ls.Spec
		hashed.Experiment.Parameters = nil
		if want, _ := HashID("exp", hashed); ls.ID != want {
			t.Errorf("%s: experiment ID %s, goccy's encoding gives %s", p, ls.ID, want)
		}
	}
	if loaded < 5 {
		t.Fatalf("only %d of %d specs loaded: the walk found too few to check", loaded, len(specs))
	}
	t.Logf("%d specs checked", loaded)
}
