package repo

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-json"
)

// cases.jsonl is committed: its hand-written lines must stay the bytes
// goccy wrote, or every rerun would show as a diff.
func TestEncodeResultsCasesMatchGoccy(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	words := []string{"", "plain", `quo"te`, "back\\slash", "tab\tnew\nline", "<html>&", "naïve ☃", "\u2028", "bad\xffutf8", "\x01ctl"}
	pick := func() string { return words[rng.IntN(len(words))] }
	floats := []float64{0, 1, 0.5, 0.333, 1.0 / 3, 1e-7, 123456.789, 2}
	var cases []CaseVerdict
	for i := range 500 {
		v := CaseVerdict{
			CaseID: "case_" + pick() + string(rune('a'+i%26)), Name: pick(), Label: Label(pick()),
			Score: floats[rng.IntN(len(floats))], PassRate: floats[rng.IntN(len(floats))],
			Repetitions: rng.IntN(2000), Reason: pick(),
		}
		if rng.IntN(2) == 1 {
			v.Definition = "def_" + pick()
		}
		switch rng.IntN(3) {
		case 1:
			v.FailureModes = []string{}
		case 2:
			v.FailureModes = []string{pick(), pick()}
		}
		cases = append(cases, v)
	}
	_, got, err := EncodeResults(&ResultsSummary{}, cases)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	ordered := append([]CaseVerdict(nil), cases...)
	sortVerdicts(ordered)
	for i := range ordered {
		b, err := json.MarshalWithOption(&ordered[i], json.DisableHTMLEscape())
		if err != nil {
			t.Fatal(err)
		}
		want.Write(b)
		want.WriteByte('\n')
	}
	if !bytes.Equal(got, want.Bytes()) {
		gl, wl := bytes.Split(got, []byte("\n")), bytes.Split(want.Bytes(), []byte("\n"))
		for i := range min(len(gl), len(wl)) {
			if !bytes.Equal(gl[i], wl[i]) {
				t.Fatalf("line %d:\n got %s\nwant %s", i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("got %d lines, want %d", len(gl), len(wl))
	}
}

func TestReadCaseVerdicts(t *testing.T) {
	in := `{"case_id":"case_b","label":"fail","reason":"r","definition":"def_0123456789abcdef"}` + "\n\n" +
		`{"case_id":"case_a","label":"pass","score":1}` + "\n" +
		"not json\n" +
		`{"label":"pass"}` + "\n" +
		`{"case_id":"case_c","label":"pass"}`
	vs, err := ReadCaseVerdicts(strings.NewReader(in), "evals/results/x/cases.jsonl")
	var ids []string
	for _, v := range vs {
		ids = append(ids, v.CaseID)
	}
	if !slices.Equal(ids, []string{"case_a", "case_b", "case_c"}) || vs[1].Reason != "r" || vs[1].Definition != "def_0123456789abcdef" || vs[0].Definition != "" {
		t.Errorf("verdicts = %+v", vs)
	}
	var probs Problems
	if !errors.As(err, &probs) || len(probs) != 2 ||
		probs[0].Error() != "evals/results/x/cases.jsonl:4: line 4 is not a case verdict" || probs[1].Line != 5 {
		t.Errorf("problems = %v", err)
	}
	if vs, err := ReadCaseVerdicts(strings.NewReader(""), "empty"); err != nil || len(vs) != 0 {
		t.Errorf("empty file = %v, %v", vs, err)
	}
}

// FuzzReadCaseVerdicts: no cases.jsonl makes the reader panic; every
// verdict it gives has a case ID, in order, and every problem a line.
func FuzzReadCaseVerdicts(f *testing.F) {
	for _, s := range []string{
		`{"case_id":"case_a","label":"pass","score":1,"pass_rate":1,"repetitions":1}` + "\n",
		`{"case_id":"b"}` + "\n" + `{"case_id":"a","failure_modes":["x"]}`,
		"\n\n  \n",
		`{"case_id":""}`,
		`{"case_id":1}`,
		"[]\n{}\nnull\n",
		`{"case_id":"a","score":"high"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		vs, err := ReadCaseVerdicts(bytes.NewReader(data), "fuzz.jsonl")
		for i, v := range vs {
			if v.CaseID == "" || i > 0 && vs[i-1].CaseID > v.CaseID {
				t.Fatalf("verdict %d: %+v", i, v)
			}
		}
		var probs Problems
		if err != nil && (!errors.As(err, &probs) || len(probs) == 0) {
			t.Fatalf("not problems: %v", err)
		}
		for _, p := range probs {
			if p.File != "fuzz.jsonl" || p.Line < 1 {
				t.Fatalf("problem without a line: %v", p)
			}
		}
	})
}

// A case's definition ignores its name and explicit id and nothing else:
// a rename keeps it, an edit under a kept id changes it.
func TestCaseDefinition(t *testing.T) {
	def := func(line string) string {
		t.Helper()
		c, probs := DecodeCaseJSON("d.jsonl", 1, []byte(line))
		if probs != nil {
			t.Fatal(probs)
		}
		return CaseDefinition(c)
	}
	base := def(`{"name":"a","input":{"text":"hi"},"expected":{"must_include":["x"]}}`)
	if !strings.HasPrefix(base, "def_") || len(base) != len("def_")+16 {
		t.Errorf("definition = %q", base)
	}
	for _, same := range []string{
		`{"name":"b","input":{"text":"hi"},"expected":{"must_include":["x"]}}`,
		`{"id":"refund-1","input":{"text":"hi"},"expected":{"must_include":["x"]}}`,
		`{ "expected": {"must_include": ["x"]}, "input": {"text": "hi"} }`,
	} {
		if got := def(same); got != base {
			t.Errorf("%s: definition %s, want %s", same, got, base)
		}
	}
	for _, other := range []string{
		`{"id":"refund-1","input":{"text":"hi"},"expected":{"must_include":["y"]}}`,
		`{"name":"a","input":{"text":"hi"},"expected":{"must_include":["x"]},"graders":["rules"]}`,
		`{"name":"a","input":{"text":"hi"},"context":{"k":1},"expected":{"must_include":["x"]}}`,
	} {
		if def(other) == base {
			t.Errorf("%s: same definition as the original", other)
		}
	}
}
