package repo

import (
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/goccy/go-json"
)

func TestResponseCheckNamesTheField(t *testing.T) {
	for _, tc := range []struct {
		name string
		resp Response
		want string // "" means accepted
	}{
		{"plain", Response{Output: "héllo", StructuredOutput: json.RawMessage(`{"a": [1, 2]}`)}, ""},
		{"structured output not JSON", Response{Output: "x", StructuredOutput: json.RawMessage(`{""}`)}, `"structured_output" is not valid JSON`},
		{"tool arguments not JSON", Response{ToolCalls: []ToolCall{{Name: "a", Arguments: json.RawMessage(`{"a"}`)}}}, `"tool_calls[0].arguments" is not valid JSON`},
		{"tool result not JSON", Response{ToolCalls: []ToolCall{{Name: "a"}, {Name: "b", Result: json.RawMessage(`[1,]`)}}}, `"tool_calls[1].result"`},
		{"span attributes not JSON", Response{Spans: []Span{{Kind: "llm_call", Attributes: json.RawMessage(`{1:2}`)}}}, `"spans[0].attributes"`},
		{"output not UTF-8", Response{Output: "ok \xff\xfe"}, `"output" is not valid UTF-8 (byte 3 is 0xff)`},
		{"error not UTF-8", Response{Error: "\xc3"}, `"error" is not valid UTF-8`},
		{"raw JSON string not UTF-8", Response{StructuredOutput: json.RawMessage("{\"a\":\"\xff\"}")}, `"structured_output" is not valid UTF-8`},
		{"tool name not UTF-8", Response{ToolCalls: []ToolCall{{Name: "\x80"}}}, `"tool_calls[0].name" is not valid UTF-8`},
		{"cost not a number", Response{Output: "x", CostUSD: math.NaN()}, `"cost_usd" is NaN`},
		{"duration infinite", Response{Spans: []Span{{Kind: "k", DurationMS: math.Inf(1)}}}, `"spans[0].duration_ms" is +Inf`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.resp.Check()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %s", err, tc.want)
			}
		})
	}
}

// What Check accepts, the results writer writes, and what it writes is
// UTF-8: the property the run depends on, over arbitrary answers.
func FuzzResponseCheckMatchesWriter(f *testing.F) {
	f.Add("out", []byte(`{"a":1}`), []byte(`{"q":"x"}`), "tool")
	f.Add("\xff", []byte(`{""}`), []byte(`[1,]`), "\x80")
	f.Add("", []byte("{\"a\":\"\xff\"}"), []byte(` { "a" : [ 1 , 2 ] } `), "t")
	f.Fuzz(func(t *testing.T, output string, structured, args []byte, tool string) {
		r := Result{Trace: Trace{Output: output, StructuredOutput: structured,
			ToolCalls: []ToolCall{{Name: tool, Arguments: args}}}}
		resp := Response{Output: output, StructuredOutput: structured, ToolCalls: r.ToolCalls}
		if resp.Check() != nil {
			return
		}
		line, err := r.AppendJSON(nil)
		if err != nil {
			t.Fatalf("Check accepted what the writer refuses: %v", err)
		}
		if !utf8.Valid(line) {
			t.Fatalf("writer wrote invalid UTF-8: %q", line)
		}
	})
}
