package graders

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/selfevals/selfevals/repo"
)

func TestDeterministicGrade(t *testing.T) {
	schema := json.RawMessage(`{"type":"object","required":["total"],"properties":{"total":{"type":"number"},"items":{"type":"array","maxItems":2}}}`)
	tests := []struct {
		name          string
		caseSensitive bool
		expected      *repo.Expected
		trace         repo.Trace
		label         repo.Label
		modes         []string
		reason        string // exact when it has no "…" prefix
		reasonHas     string
	}{
		{
			name:   "no expectations pass",
			trace:  repo.Trace{Output: "anything"},
			label:  repo.Pass,
			reason: passReason,
		},
		{
			name:     "must_include ignores case by default",
			expected: &repo.Expected{MustInclude: []string{"Refund", "order 42"}},
			trace:    repo.Trace{Output: "Your REFUND for ORDER 42 is on its way."},
			label:    repo.Pass,
			reason:   passReason,
		},
		{
			name:     "must_include missing",
			expected: &repo.Expected{MustInclude: []string{"refund", "apology"}},
			trace:    repo.Trace{Output: "Your refund is on its way."},
			label:    repo.Fail,
			modes:    []string{ModeMissingSubstring},
			reason:   `missing_required_substring: "apology" not found`,
		},
		{
			name:          "case_sensitive must_include",
			caseSensitive: true,
			expected:      &repo.Expected{MustInclude: []string{"Refund"}},
			trace:         repo.Trace{Output: "your refund"},
			label:         repo.Fail,
			modes:         []string{ModeMissingSubstring},
			reason:        `missing_required_substring: "Refund" not found`,
		},
		{
			name:          "case_sensitive must_not_include lets other case through",
			caseSensitive: true,
			expected:      &repo.Expected{MustNotInclude: []string{"SSN"}},
			trace:         repo.Trace{Output: "no ssn here"},
			label:         repo.Pass,
			reason:        passReason,
		},
		{
			name:     "must_not_include ignores case",
			expected: &repo.Expected{MustNotInclude: []string{"SSN"}},
			trace:    repo.Trace{Output: "your ssn is 123"},
			label:    repo.Fail,
			modes:    []string{ModeForbiddenSubstring},
			reason:   `forbidden_substring: "SSN" found`,
		},
		{
			name:     "unicode case folding",
			expected: &repo.Expected{MustInclude: []string{"ÉTÉ"}},
			trace:    repo.Trace{Output: "un été chaud"},
			label:    repo.Pass,
			reason:   passReason,
		},
		{
			name:     "text from structured content",
			expected: &repo.Expected{MustInclude: []string{"refund"}},
			trace:    repo.Trace{StructuredOutput: json.RawMessage(`{"content":"Refund issued"}`)},
			label:    repo.Pass,
			reason:   passReason,
		},
		{
			name:     "structured content must be a string",
			expected: &repo.Expected{MustInclude: []string{"refund"}},
			trace:    repo.Trace{StructuredOutput: json.RawMessage(`{"content":["refund"]}`)},
			label:    repo.Fail,
			modes:    []string{ModeMissingSubstring},
		},
		{
			name:     "required tool from tool calls",
			expected: &repo.Expected{RequiredTools: []string{"lookup_order"}},
			trace:    repo.Trace{Output: "ok", ToolCalls: []repo.ToolCall{{Name: "lookup_order"}}},
			label:    repo.Pass,
			reason:   passReason,
		},
		{
			name:     "required tool from spans",
			expected: &repo.Expected{RequiredTools: []string{"lookup_order"}},
			trace:    repo.Trace{Output: "ok", Spans: []repo.Span{{Kind: "llm_call", Name: "gpt"}, {Kind: "tool_call", Name: "lookup_order"}}},
			label:    repo.Pass,
			reason:   passReason,
		},
		{
			name:     "spans of other kinds are not tools",
			expected: &repo.Expected{RequiredTools: []string{"lookup_order"}},
			trace:    repo.Trace{Output: "ok", Spans: []repo.Span{{Kind: "llm_call", Name: "lookup_order"}}},
			label:    repo.Fail,
			modes:    []string{ModeMissingTool},
			reason:   `missing_required_tool: "lookup_order" not invoked`,
		},
		{
			name:     "forbidden tool invoked",
			expected: &repo.Expected{ForbiddenTools: []string{"delete_account"}},
			trace:    repo.Trace{Output: "done", Spans: []repo.Span{{Kind: "tool_call", Name: "delete_account"}}},
			label:    repo.Fail,
			modes:    []string{ModeForbiddenTool},
			reason:   `forbidden_tool_invoked: "delete_account" invoked`,
		},
		{
			name:     "regex matches anywhere",
			expected: &repo.Expected{Regex: `order #\d+`},
			trace:    repo.Trace{Output: "I found order #1234 for you."},
			label:    repo.Pass,
			reason:   passReason,
		},
		{
			name:     "regex mismatch",
			expected: &repo.Expected{Regex: `^\d{3}-\d{4}$`},
			trace:    repo.Trace{Output: "call 555-12345"},
			label:    repo.Fail,
			modes:    []string{ModeRegexMismatch},
			reason:   `regex_mismatch: no match for /^\d{3}-\d{4}$/`,
		},
		{
			name:     "regex reads the original case",
			expected: &repo.Expected{Regex: `Total`},
			trace:    repo.Trace{Output: "total: 3"},
			label:    repo.Fail,
			modes:    []string{ModeRegexMismatch},
		},
		{
			name:     "regex opts into case-insensitivity",
			expected: &repo.Expected{Regex: `(?i)Total`},
			trace:    repo.Trace{Output: "total: 3"},
			label:    repo.Pass,
			reason:   passReason,
		},
		{
			name:     "invalid regex is a case error",
			expected: &repo.Expected{Regex: `(unclosed`},
			trace:    repo.Trace{Output: "x"},
			label:    repo.Error,
			reason:   "case expected.regex is invalid: missing closing ): `(unclosed`",
		},
		{
			name:     "structured output equal regardless of key order and number form",
			expected: &repo.Expected{StructuredOutput: json.RawMessage(`{"total": 42, "items": [1, 2.5, {"a": null}], "ok": true}`)},
			trace:    repo.Trace{StructuredOutput: json.RawMessage(`{"ok":true,"items":[1.0,25e-1,{"a":null}],"total":42.0}`)},
			label:    repo.Pass,
			reason:   passReason,
		},
		{
			name:     "structured output mismatch lists the differing paths",
			expected: &repo.Expected{StructuredOutput: json.RawMessage(`{"total": 42, "items": ["a", "b", "c"], "currency": "EUR"}`)},
			trace:    repo.Trace{StructuredOutput: json.RawMessage(`{"total": 41, "items": ["a", "b"], "currency": "EUR", "note": "x"}`)},
			label:    repo.Fail,
			modes:    []string{ModeStructuredMismatch},
			reason:   `structured_output_mismatch: $.items[2]: missing; $.note: unexpected "x"; $.total: expected 42, got 41`,
		},
		{
			name:     "structured output type mismatch",
			expected: &repo.Expected{StructuredOutput: json.RawMessage(`{"total": 42}`)},
			trace:    repo.Trace{StructuredOutput: json.RawMessage(`{"total": "42"}`)},
			label:    repo.Fail,
			modes:    []string{ModeStructuredMismatch},
			reason:   `structured_output_mismatch: $.total: expected 42, got "42"`,
		},
		{
			name:     "structured output read from JSON output text",
			expected: &repo.Expected{StructuredOutput: json.RawMessage(`{"total": 42}`)},
			trace:    repo.Trace{Output: ` {"total": 42} `},
			label:    repo.Pass,
			reason:   passReason,
		},
		{
			name:     "structured output missing",
			expected: &repo.Expected{StructuredOutput: json.RawMessage(`{"total": 42}`)},
			trace:    repo.Trace{},
			label:    repo.Fail,
			modes:    []string{ModeStructuredMismatch},
			reason:   `structured_output_mismatch: expected structured output, got none`,
		},
		{
			name:      "structured output from non-JSON text",
			expected:  &repo.Expected{StructuredOutput: json.RawMessage(`{"total": 42}`)},
			trace:     repo.Trace{Output: "the total is 42"},
			label:     repo.Fail,
			modes:     []string{ModeStructuredMismatch},
			reasonHas: "structured_output_mismatch: output is not JSON: ",
		},
		{
			name:     "output schema satisfied",
			expected: &repo.Expected{OutputSchema: schema},
			trace:    repo.Trace{StructuredOutput: json.RawMessage(`{"total": 3, "items": [1]}`)},
			label:    repo.Pass,
			reason:   passReason,
		},
		{
			name:     "output schema satisfied by output text",
			expected: &repo.Expected{OutputSchema: schema},
			trace:    repo.Trace{Output: `{"total": 3}`},
			label:    repo.Pass,
			reason:   passReason,
		},
		{
			name:     "output schema violated",
			expected: &repo.Expected{OutputSchema: schema},
			trace:    repo.Trace{StructuredOutput: json.RawMessage(`{"total": "3", "items": [1, 2, 3]}`)},
			label:    repo.Fail,
			modes:    []string{ModeSchemaViolation},
			reason:   `schema_violation: at '/items': maxItems: got 3, want 2; at '/total': got string, want number`,
		},
		{
			name:      "output schema with non-JSON output",
			expected:  &repo.Expected{OutputSchema: schema},
			trace:     repo.Trace{Output: "total: 3"},
			label:     repo.Fail,
			modes:     []string{ModeSchemaViolation},
			reasonHas: "schema_violation: output is not JSON: ",
		},
		{
			name:      "invalid schema is a case error",
			expected:  &repo.Expected{OutputSchema: json.RawMessage(`{"type": "objekt"}`)},
			trace:     repo.Trace{Output: "{}"},
			label:     repo.Error,
			reasonHas: "case expected.output_schema is invalid: ",
		},
		{
			name:      "schemas may not reach outside themselves",
			expected:  &repo.Expected{OutputSchema: json.RawMessage(`{"$ref": "file:///etc/passwd"}`)},
			trace:     repo.Trace{Output: "{}"},
			label:     repo.Error,
			reasonHas: "output schemas must be self-contained",
		},
		{
			name:     "agent error is not graded",
			expected: &repo.Expected{MustInclude: []string{"refund"}},
			trace:    repo.Trace{Error: "no answer within 30s", ErrorKind: repo.ErrTimeout},
			label:    repo.Error,
			modes:    []string{ModeAgentError},
			reason:   "agent call failed (timeout): no answer within 30s",
		},
		{
			name:     "combined violations, reason in rule order, modes sorted",
			expected: &repo.Expected{MustInclude: []string{"refund", "sorry"}, ForbiddenTools: []string{"delete_account"}, Regex: `#\d+`},
			trace:    repo.Trace{Output: "done", ToolCalls: []repo.ToolCall{{Name: "delete_account"}}},
			label:    repo.Fail,
			modes:    []string{ModeForbiddenTool, ModeMissingSubstring, ModeRegexMismatch},
			reason: `missing_required_substring: "refund" not found; missing_required_substring: "sorry" not found; ` +
				`forbidden_tool_invoked: "delete_account" invoked; regex_mismatch: no match for /#\d+/`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewDeterministic(repo.GraderSpec{Type: "deterministic", CaseSensitive: tt.caseSensitive})
			got := g.Grade(context.Background(), &repo.Case{Expected: tt.expected}, &tt.trace)
			if got.Grader != "deterministic" {
				t.Errorf("grader = %q", got.Grader)
			}
			if got.Label != tt.label {
				t.Errorf("label = %s, want %s (reason %q)", got.Label, tt.label, got.Reason)
			}
			if diff := cmp.Diff(tt.modes, got.FailureModes); diff != "" {
				t.Errorf("failure modes (-want +got):\n%s", diff)
			}
			if tt.reason != "" && got.Reason != tt.reason {
				t.Errorf("reason:\n got %s\nwant %s", got.Reason, tt.reason)
			}
			if tt.reasonHas != "" && !strings.Contains(got.Reason, tt.reasonHas) {
				t.Errorf("reason %q does not contain %q", got.Reason, tt.reasonHas)
			}
			switch tt.label {
			case repo.Pass:
				if got.Score == nil || *got.Score != 1 {
					t.Errorf("pass score = %v, want 1", got.Score)
				}
			case repo.Fail:
				if got.Score == nil || *got.Score != 0 {
					t.Errorf("fail score = %v, want 0", got.Score)
				}
			}
		})
	}
}

func TestDeterministicToolsInvokedDetail(t *testing.T) {
	tr := &repo.Trace{
		Output:    "ok",
		ToolCalls: []repo.ToolCall{{Name: "search"}, {Name: "lookup"}, {Name: "search"}},
		Spans:     []repo.Span{{Kind: "tool_call", Name: "lookup"}, {Kind: "tool_call", Name: "refund"}, {Kind: "llm_call", Name: "gpt"}},
	}
	got := NewDeterministic(repo.GraderSpec{}).Grade(context.Background(), &repo.Case{}, tr)
	if diff := cmp.Diff(map[string]any{"tools_invoked": []string{"search", "lookup", "refund"}}, got.Details); diff != "" {
		t.Errorf("details (-want +got):\n%s", diff)
	}
	// No tools is an empty list, not null, in results files.
	got = NewDeterministic(repo.GraderSpec{}).Grade(context.Background(), &repo.Case{}, &repo.Trace{Output: "ok"})
	b, _ := json.Marshal(got.Details)
	if string(b) != `{"tools_invoked":[]}` {
		t.Errorf("details = %s", b)
	}
}

func TestDeterministicName(t *testing.T) {
	if n := NewDeterministic(repo.GraderSpec{Type: "deterministic"}).Name(); n != "deterministic" {
		t.Errorf("default name %q", n)
	}
	if n := NewDeterministic(repo.GraderSpec{Type: "deterministic", Name: "strict"}).Name(); n != "strict" {
		t.Errorf("name %q", n)
	}
}

// The grader is shared by every executor slot.
func TestDeterministicConcurrent(t *testing.T) {
	g := NewDeterministic(repo.GraderSpec{})
	c := &repo.Case{Expected: &repo.Expected{
		MustInclude:  []string{"refund"},
		Regex:        `#\d+`,
		OutputSchema: json.RawMessage(`{"type":"object"}`),
	}}
	done := make(chan repo.Label)
	for i := range 8 {
		go func() {
			out := `{"msg": "refund #1"}`
			if i%2 == 1 {
				out = "nothing"
			}
			done <- g.Grade(context.Background(), c, &repo.Trace{Output: out}).Label
		}()
	}
	for range 8 {
		<-done
	}
}

func TestGradeAll(t *testing.T) {
	half := 0.5
	c := &repo.Case{Expected: &repo.Expected{MustInclude: []string{"refund"}}}
	tests := []struct {
		name    string
		graders []Grader
		trace   repo.Trace
		label   repo.Label
		score   float64
	}{
		{"none is skipped", nil, repo.Trace{Output: "refund"}, repo.Skipped, 0},
		{"one pass", []Grader{NewDeterministic(repo.GraderSpec{})}, repo.Trace{Output: "refund"}, repo.Pass, 1},
		{
			"worst of, mean of scores",
			[]Grader{NewDeterministic(repo.GraderSpec{}), fixed{"judge", repo.Partial, &half}},
			repo.Trace{Output: "refund"}, repo.Partial, 0.75,
		},
		{
			"fail beats partial",
			[]Grader{NewDeterministic(repo.GraderSpec{}), fixed{"judge", repo.Partial, &half}},
			repo.Trace{Output: "nope"}, repo.Fail, 0.25,
		},
		{
			"agent error is error",
			[]Grader{NewDeterministic(repo.GraderSpec{}), fixed{"judge", repo.Pass, nil}},
			repo.Trace{Error: "boom", ErrorKind: repo.ErrExit}, repo.Error, 0.5,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			grades, label, score := GradeAll(context.Background(), tt.graders, c, &tt.trace)
			if len(grades) != len(tt.graders) {
				t.Fatalf("%d grades for %d graders", len(grades), len(tt.graders))
			}
			for i, g := range grades {
				if g.Grader != tt.graders[i].Name() {
					t.Errorf("grade %d from %q, want %q", i, g.Grader, tt.graders[i].Name())
				}
			}
			if label != tt.label || score != tt.score {
				t.Errorf("got %s %v, want %s %v", label, score, tt.label, tt.score)
			}
		})
	}
}

// fixed is a grader with a set verdict, standing in for the LLM judge,
// which lives above this package. It leaves Grader empty so GradeAll's
// fill-in is exercised.
type fixed struct {
	name  string
	label repo.Label
	score *float64
}

func (f fixed) Name() string { return f.name }
func (f fixed) Grade(context.Context, *repo.Case, *repo.Trace) repo.Grade {
	return repo.Grade{Label: f.label, Score: f.score}
}

func TestLowerASCII(t *testing.T) {
	var all []byte
	for c := range 128 {
		all = append(all, byte(c))
	}
	inputs := []string{"", "A", "Hello, WORLD! @[`{", "ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz 0123456789", string(all), "1234567é", "ASCII then é", "é"}
	for _, s := range inputs {
		got, ok := lowerASCII(make([]byte, 3), s)
		isASCII := !strings.ContainsFunc(s, func(r rune) bool { return r >= 0x80 })
		if ok != isASCII {
			t.Errorf("lowerASCII(%q) ok = %v", s, ok)
			continue
		}
		if ok && string(got) != strings.ToLower(s) {
			t.Errorf("lowerASCII(%q) = %q, want %q", s, got, strings.ToLower(s))
		}
	}
}

func FuzzLowerASCII(f *testing.F) {
	f.Add("Hello, WORLD! @[`{")
	f.Add("mixed ÀSCII")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := lowerASCII(nil, s)
		if ok && string(got) != strings.ToLower(s) {
			t.Fatalf("lowerASCII(%q) = %q, want %q", s, got, strings.ToLower(s))
		}
		if !ok && !strings.ContainsFunc(s, func(r rune) bool { return r >= 0x80 }) && utf8.ValidString(s) {
			t.Fatalf("lowerASCII(%q) refused ASCII", s)
		}
	})
}
