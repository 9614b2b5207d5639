package graders

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/selfevals/selfevals/repo"
)

func TestDiffJSON(t *testing.T) {
	tests := []struct {
		name, expected, actual string
		want                   []string
	}{
		{"equal scalars", `1`, `1.0`, nil},
		{"exponent forms", `{"x": 1e2}`, `{"x": 100}`, nil},
		{"large integers compare exactly", `9007199254740993`, `9007199254740992`, []string{"$: expected 9007199254740993, got 9007199254740992"}},
		{"key order", `{"a":1,"b":[true,null]}`, `{"b":[true,null],"a":1}`, nil},
		{"root type", `{"a":1}`, `[1]`, []string{`$: expected {"a":1}, got [1]`}},
		{"nested path", `{"order":{"lines":[{"sku":"A","qty":2}]}}`, `{"order":{"lines":[{"sku":"A","qty":3}]}}`, []string{"$.order.lines[0].qty: expected 2, got 3"}},
		{"odd keys are quoted", `{"unit price":1,"1st":2}`, `{"unit price":2}`, []string{`$["1st"]: missing`, `$["unit price"]: expected 1, got 2`}},
		{"extra element", `[1]`, `[1,"<b>"]`, []string{`$[1]: unexpected "<b>"`}},
		{"null vs missing", `{"a":null}`, `{}`, []string{"$.a: missing"}},
		{"null vs false", `{"a":null}`, `{"a":false}`, []string{"$.a: expected null, got false"}},
		{
			"many differences are capped",
			`[1,2,3,4,5,6,7,8]`, `[0,0,0,0,0,0,0,0]`,
			[]string{"$[0]: expected 1, got 0", "$[1]: expected 2, got 0", "$[2]: expected 3, got 0", "$[3]: expected 4, got 0", "$[4]: expected 5, got 0", "… and 3 more"},
		},
		{
			"long values are shortened",
			`"short"`, `"` + strings.Repeat("é", 100) + `"`,
			[]string{`$: expected "short", got "` + strings.Repeat("é", 58) + `…`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp, err := decodeJSON([]byte(tt.expected))
			if err != nil {
				t.Fatal(err)
			}
			act, err := decodeJSON([]byte(tt.actual))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, diffJSON(exp, act)); diff != "" {
				t.Errorf("diff (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeJSONRejectsTrailingData(t *testing.T) {
	for _, in := range []string{`{"a":1} {"b":2}`, `1 2`, `{"a":1}]`, ``, `{`} {
		if _, err := decodeJSON([]byte(in)); err == nil {
			t.Errorf("decodeJSON(%q) accepted", in)
		}
	}
	if _, err := decodeJSON([]byte(" {\"a\":1}\n")); err != nil {
		t.Errorf("surrounding whitespace rejected: %v", err)
	}
}

// FuzzStructuredOutput feeds arbitrary JSON (and non-JSON) to the
// comparison as both the expected value and the agent's answer.
func FuzzStructuredOutput(f *testing.F) {
	seeds := [][2]string{
		{`{"total":42,"items":[1,2,3]}`, `{"items":[1,2],"total":41}`},
		{`1`, `1.0`},
		{`[{"a":null}]`, `[{"a":[]}]`},
		{`"x"`, `not json`},
		{`1e400`, `2e400`},
		{`{"\u00e9":-0}`, `{"é":0}`},
		{`[]`, `{}`},
		{`{"content":"hi"}`, ``},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	g := NewDeterministic(repo.GraderSpec{})
	f.Fuzz(func(t *testing.T, expected, actual string) {
		exp, err := decodeJSON([]byte(expected))
		if err != nil {
			return
		}
		if d := diffJSON(exp, exp); len(d) != 0 {
			t.Fatalf("value differs from itself: %v", d)
		}
		if act, err := decodeJSON([]byte(actual)); err == nil {
			ab, ba := diffJSON(exp, act), diffJSON(act, exp)
			if (len(ab) == 0) != (len(ba) == 0) {
				t.Fatalf("equality is not symmetric: %v vs %v", ab, ba)
			}
			if len(ab) > maxDiffs+1 {
				t.Fatalf("%d differences listed", len(ab))
			}
		}
		c := &repo.Case{Expected: &repo.Expected{StructuredOutput: json.RawMessage(expected)}}
		for _, tr := range []repo.Trace{{StructuredOutput: json.RawMessage(actual)}, {Output: actual}} {
			gr := g.Grade(context.Background(), c, &tr)
			if gr.Label != repo.Pass && gr.Label != repo.Fail {
				t.Fatalf("label %s for valid expected JSON: %s", gr.Label, gr.Reason)
			}
		}
	})
}
